import { inspect } from 'node:util';
import { OptionValueError, UsageError } from '../errors.js';
import { Secret, type MaybeSecret } from '../secret.js';
import { quoteQString, quoteString } from './quoting.js';

/**
 * One encoded command: `wire` is what goes on the socket (secrets revealed, CRLF-terminated);
 * `display` is the same with every secret replaced by `<redacted>`, for logs, plans and errors.
 */
export interface Command {
  readonly keyword: string;
  readonly wire: string;
  readonly display: string;
}

/**
 * What the builders return. `wire` is an accessor over a private field, so spreading, JSON and inspect see
 * only `keyword` and `display`: logging a command never prints what its secrets revealed.
 */
class EncodedCommand implements Command {
  readonly #wire: string;

  constructor(
    readonly keyword: string,
    wire: string,
    readonly display: string,
  ) {
    this.#wire = wire;
  }

  get wire(): string {
    return this.#wire;
  }

  toJSON(): string {
    return this.display;
  }

  [inspect.custom](): string {
    return this.display;
  }
}

/** Revealed secret values per command, for scrubbing them from tor's refusals (tor quotes what it refuses). */
const revealed = new WeakMap<Command, readonly string[]>();

/** The secret values `command` carries on the wire, revealed; empty for a command without secrets. */
export function revealedSecrets(command: Command): readonly string[] {
  return revealed.get(command) ?? [];
}

/** A secret part: `encode` gives the wire text, `redacted` what logs and errors show in its place. */
type Part = string | { secret: Secret<string>; encode: (revealed: string) => string; redacted: string };

const KEYWORD = /^[A-Z][A-Z0-9_]*$/;
/** Config option names: tor's are letters, digits and `_` (`__LeaveStreamsUnattached`). */
const OPTION = /^[A-Za-z0-9_]+$/;

/** Printable ASCII without space or quote: nothing that would end the word where tor's parser splits. */
function isWord(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x22) return false;
  }
  return true;
}

export function assertWord(value: string, what: string): string {
  if (value.length === 0) throw new UsageError(`${what} is empty`);
  if (!isWord(value)) throw new UsageError(`${what} ${JSON.stringify(value)} contains a character not allowed there`);
  return value;
}

/** assertWord for a secret: the error names what was refused but never shows the value. */
export function assertSecretWord(value: string, what: string): string {
  if (!isWord(value)) throw new UsageError(`${what} is empty or contains a space, quote, control or non-ASCII character (value not shown)`);
  return value;
}

/** Checks a hex credential without ever putting it in the error message. */
function assertHex(value: string): string {
  if (!/^[0-9A-Fa-f]*$/.test(value)) throw new UsageError('AUTHENTICATE credential is not hexadecimal');
  return value;
}

export function assertOptionName(name: string): string {
  if (!OPTION.test(name)) throw new UsageError(`not a tor option name: ${JSON.stringify(name)}`);
  return name;
}

/** Build a single-line command from parts already encoded (or secrets with their encoder). */
export function buildCommand(keyword: string, parts: Part[]): Command {
  if (!KEYWORD.test(keyword)) throw new UsageError(`not a control command keyword: ${JSON.stringify(keyword)}`);
  let wire = keyword;
  let display = keyword;
  const secrets: string[] = [];
  for (const p of parts) {
    if (typeof p === 'string') {
      wire += ' ' + p;
      display += ' ' + p;
    } else {
      const value = p.secret.reveal();
      secrets.push(value);
      wire += ' ' + p.encode(value);
      display += ' ' + p.redacted;
    }
  }
  assertOneLine(wire, keyword);
  const command = new EncodedCommand(keyword, wire + '\r\n', display);
  if (secrets.length) revealed.set(command, secrets);
  return command;
}

/**
 * The last line of defence against command injection: whatever a builder produced, a single-line
 * command holds no CR, LF or NUL before its terminator.
 */
function assertOneLine(line: string, keyword: string): void {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) {
      throw new UsageError(`${keyword}: refusing to send a command containing CR, LF or NUL`);
    }
  }
}

/** A multi-line command (`+LOADCONF`, `+POSTDESCRIPTOR`): body dot-stuffed, ended by `.`. */
export function buildDataCommand(keyword: string, args: string[], body: string): Command {
  const head = buildCommand(keyword, args);
  if (body.includes('\0')) throw new UsageError(`${keyword}: body contains a NUL byte`);
  const lines = body.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const l of lines) if (l.includes('\r')) throw new UsageError(`${keyword}: body contains a bare CR`);
  const stuffed = lines.map((l) => (l.startsWith('.') ? '.' + l : l));
  const wire = '+' + head.wire + stuffed.map((l) => l + '\r\n').join('') + '.\r\n';
  return new EncodedCommand(keyword, wire, '+' + head.display + ` <${lines.length} lines>`);
}

export type ConfValue = MaybeSecret | null;

/**
 * `Key="value"` (or bare `Key`, which SETCONF reads as "set to empty/0"). Values are always quoted. A line
 * break could be quoted, but no tor option takes one and tor would echo it raw in its refusal.
 */
function confPart(key: string, value: ConfValue): Part {
  assertOptionName(key);
  if (value === null) return key;
  if (typeof value === 'string') return `${key}=${confValue(key, value)}`;
  return { secret: value, encode: (v) => `${key}=${confValue(key, v)}`, redacted: `${key}=<redacted>` };
}

function confValue(key: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new OptionValueError(key, 'the value contains a line break (CR or LF), which no tor option takes; not sent');
  return quoteString(value, key);
}

/** One key or several: everything that takes keys (or event names) takes either form. */
export type Keys = string | readonly string[];

export function keyList(keys: Keys): readonly string[] {
  return typeof keys === 'string' ? [keys] : keys;
}

export const commands = {
  protocolInfo: (): Command => buildCommand('PROTOCOLINFO', ['1']),
  authChallenge: (clientNonceHex: string): Command =>
    buildCommand('AUTHCHALLENGE', ['SAFECOOKIE', assertWord(clientNonceHex, 'nonce')]),
  /** The secret is either a hex string (cookie/hmac) or a password to quote. */
  authenticate: (secret?: Secret<string>, form: 'hex' | 'password' = 'hex'): Command =>
    buildCommand(
      'AUTHENTICATE',
      secret === undefined
        ? []
        : [{ secret, encode: (v) => (form === 'hex' ? assertHex(v) : quoteQString(v, 'password')), redacted: '<redacted>' }],
    ),
  getInfo: (keys: Keys): Command => buildCommand('GETINFO', keyList(keys).map((k) => assertWord(k, 'GETINFO key'))),
  getConf: (keys: Keys): Command => buildCommand('GETCONF', keyList(keys).map(assertOptionName)),
  setConf: (entries: Array<readonly [string, ConfValue]>): Command => buildCommand('SETCONF', entries.map(([k, v]) => confPart(k, v))),
  resetConf: (entries: Array<readonly [string, ConfValue]>): Command =>
    buildCommand('RESETCONF', entries.map(([k, v]) => confPart(k, v))),
  saveConf: (force = false): Command => buildCommand('SAVECONF', force ? ['FORCE'] : []),
  signal: (name: string): Command => buildCommand('SIGNAL', [assertWord(name, 'signal')]),
  setEvents: (names: Keys): Command => buildCommand('SETEVENTS', keyList(names).map((n) => assertWord(n, 'event name'))),
  takeOwnership: (): Command => buildCommand('TAKEOWNERSHIP', []),
  dropOwnership: (): Command => buildCommand('DROPOWNERSHIP', []),
  loadConf: (torrc: string): Command => buildDataCommand('LOADCONF', [], torrc),
  quit: (): Command => buildCommand('QUIT', []),
};
