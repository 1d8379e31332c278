import { authenticate, type AuthMethod, type AuthOptions } from './auth.js';
import type { ControlAddress } from './address.js';
import { ControlConnection, type ConnectionOptions, type SendOptions } from './connection.js';
import { TimeoutError, UsageError } from './errors.js';
import { parseEvent, type EventMap, type TorEvent } from './events.js';
import { assertSecretWord, assertWord, buildCommand, commands, keyList, type Command, type ConfValue, type Keys } from './protocol/encoder.js';
import type { Reply } from './protocol/reply.js';
import { parseAddOnion, parseGetConf, parseGetInfo, parseOnionClientAuthView, type AddOnionResult, type ClientAuthEntry, type ConfEntry, type ProtocolInfo } from './replies.js';
import { Secret, type MaybeSecret } from './secret.js';

export interface ConnectOptions extends ConnectionOptions, AuthOptions {
  /** `tcp:HOST:PORT`, `unix:PATH`, or a parsed address. */
  control: string | ControlAddress;
}

export type ConfInput = Array<readonly [string, ConfValue]> | Record<string, ConfValue | ConfValue[]>;

export type Signal = 'RELOAD' | 'HUP' | 'SHUTDOWN' | 'INT' | 'DUMP' | 'USR1' | 'DEBUG' | 'USR2' | 'HALT' | 'TERM' | 'NEWNYM' | 'CLEARDNSCACHE' | 'HEARTBEAT' | 'ACTIVE' | 'DORMANT';

export interface OnionPort {
  /** Virtual port clients connect to. */
  port: number;
  /** `HOST:PORT`, `PORT`, or `unix:PATH`; defaults to 127.0.0.1:<port>. */
  target?: string;
}

export interface AddOnionOptions {
  /** `ED25519-V3:<base64>` blob as a Secret, or ask tor for a new key. */
  key: Secret<string> | 'NEW:ED25519-V3' | 'NEW:BEST';
  ports: OnionPort[];
  /** DiscardPK, Detach, MaxStreamsCloseCircuit, V3Auth (added for you when clientAuthV3 is set), NonAnonymous. */
  flags?: string[];
  maxStreams?: number;
  /** Base32 x25519 public keys of authorized clients. */
  clientAuthV3?: string[];
}

export interface ClientAuthAddOptions {
  /** 56-character v3 address, without `.onion`. */
  address: string;
  /** Base64 x25519 private key. */
  privateKey: Secret<string>;
  clientName?: string;
  /** Store it in ClientOnionAuthDir so it survives a restart. */
  permanent?: boolean;
}

type AnyListener = (event: TorEvent) => void;

/**
 * A typed, authenticated controller for one tor. Every method is one control command (pipelined when
 * called without awaiting); failures are ReplyError with tor's status and message.
 */
export class TorClient {
  readonly connection: ControlConnection;
  readonly protocolInfo: ProtocolInfo;
  readonly authMethod: AuthMethod;
  #listeners = new Map<string, Set<AnyListener>>();
  #anyListeners = new Set<AnyListener>();
  #errorListeners = new Set<(err: Error) => void>();
  #subscribed = '';

  constructor(connection: ControlConnection, protocolInfo: ProtocolInfo, authMethod: AuthMethod) {
    this.connection = connection;
    this.protocolInfo = protocolInfo;
    this.authMethod = authMethod;
    connection.onEvent((reply) => this.#dispatch(reply));
  }

  /** Tor's version as PROTOCOLINFO reported it, e.g. `0.4.9.11`. */
  get version(): string {
    return this.protocolInfo.torVersion;
  }

  /** Escape hatch for commands without a typed method; build them with `buildCommand` (never by hand). */
  request(command: Command, options?: SendOptions): Promise<Reply> {
    return this.connection.request(command, options);
  }

  /** GETINFO for one key → its value; for many keys → a record. */
  getInfo(key: string): Promise<string>;
  getInfo(keys: readonly string[]): Promise<Record<string, string>>;
  async getInfo(keys: Keys): Promise<string | Record<string, string>> {
    const values = parseGetInfo(await this.request(commands.getInfo(keyList(keys))));
    if (typeof keys === 'string') return values.get(keys) ?? '';
    return Object.fromEntries(values);
  }

  /** GETCONF as tor answers it: one entry per line, in order, tor's canonical key case, null when unset. */
  async getConfEntries(keys: Keys): Promise<ConfEntry[]> {
    return parseGetConf(await this.request(commands.getConf(keyList(keys))));
  }

  /**
   * GETCONF grouped by tor's canonical option name (`getConf('socksport')` answers under `SocksPort`), one
   * key or several; an unset option maps to [].
   */
  async getConf(keys: Keys): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const [k, v] of await this.getConfEntries(keys)) {
      let list = out.get(k);
      if (!list) out.set(k, (list = []));
      if (v !== null) list.push(v);
    }
    return out;
  }

  /**
   * One SETCONF for everything given: tor applies it all or nothing. A list value becomes repeated
   * `Key=…` lines in order (LineList options); null sets the option empty (use resetConf for the default).
   */
  async setConf(input: ConfInput): Promise<void> {
    await this.request(commands.setConf(confEntries(input)));
  }

  /** RESETCONF: back to tor's defaults (a name or names), or reset-then-set (entries). */
  async resetConf(input: Keys | ConfInput): Promise<void> {
    const entries = isKeys(input) ? keyList(input).map((k) => [k, null] as const) : confEntries(input);
    await this.request(commands.resetConf(entries));
  }

  async saveConf(options: { force?: boolean } = {}): Promise<void> {
    await this.request(commands.saveConf(options.force));
  }

  async signal(name: Signal): Promise<void> {
    await this.request(commands.signal(name));
  }

  async takeOwnership(): Promise<void> {
    await this.request(commands.takeOwnership());
  }

  async dropOwnership(): Promise<void> {
    await this.request(commands.dropOwnership());
  }

  /** ADD_ONION. The key blob is a Secret and never appears in errors or logs. */
  async addOnion(options: AddOnionOptions): Promise<AddOnionResult> {
    return parseAddOnion(await this.request(addOnionCommand(options)));
  }

  async delOnion(serviceId: string): Promise<void> {
    await this.request(delOnionCommand(serviceId));
  }

  async onionClientAuthAdd(o: ClientAuthAddOptions): Promise<void> {
    await this.request(clientAuthAddCommand(o));
  }

  async onionClientAuthRemove(address: string): Promise<void> {
    await this.request(clientAuthRemoveCommand(address));
  }

  async onionClientAuthView(address?: string): Promise<ClientAuthEntry[]> {
    const args = address === undefined ? [] : [assertWord(address, 'onion address')];
    return parseOnionClientAuthView(await this.request(buildCommand('ONION_CLIENT_AUTH_VIEW', args)));
  }

  /**
   * Subscribe to an event type. SETEVENTS is re-issued with the union of all subscribed types; resolves
   * once tor has accepted it. Returns an async unsubscribe.
   */
  async on<K extends keyof EventMap & string>(name: K, listener: (event: EventMap[K]) => void): Promise<() => Promise<void>>;
  async on(name: string, listener: AnyListener): Promise<() => Promise<void>>;
  async on(name: string, listener: AnyListener): Promise<() => Promise<void>> {
    assertWord(name, 'event name');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    try {
      await this.#syncEvents();
    } catch (err) {
      this.#remove(name, listener);
      throw err;
    }
    return async () => {
      if (this.#remove(name, listener) && !this.connection.isClosed) await this.#syncEvents();
    };
  }

  /** Every event tor sends on this connection, typed or not, without changing the subscription. */
  onAny(listener: AnyListener): () => void {
    this.#anyListeners.add(listener);
    return () => this.#anyListeners.delete(listener);
  }

  /**
   * Resolve with the first `name` event matching `predicate`; rejects with TimeoutError after `timeout` ms,
   * with the predicate's error if it throws, or when the connection closes. Unsubscribes in every case.
   */
  async waitFor<K extends keyof EventMap & string>(name: K, predicate: (e: EventMap[K]) => boolean = () => true, timeout = 30_000): Promise<EventMap[K]> {
    let resolve!: (e: EventMap[K]) => void;
    let reject!: (err: Error) => void;
    const matched = new Promise<EventMap[K]>((res, rej) => ((resolve = res), (reject = rej)));
    const timer = setTimeout(() => reject(new TimeoutError(`no matching ${name} event within ${timeout} ms`)), timeout);
    const offClose = this.connection.onClose(reject);
    let off: (() => Promise<void>) | undefined;
    const subscribed = this.on(name, (e) => {
      try {
        if (predicate(e)) resolve(e);
      } catch (err) {
        reject(err as Error);
      }
    }).then((u) => (off = u));
    try {
      return await Promise.race([subscribed.then(() => matched), matched]);
    } finally {
      clearTimeout(timer);
      offClose();
      // Timed out or closed before SETEVENTS was answered: unsubscribe once it is, rather than wait for it here.
      if (off) await off().catch(() => {});
      else void subscribed.then((u) => u()).catch(() => {});
    }
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  #remove(name: string, listener: AnyListener): boolean {
    const set = this.#listeners.get(name);
    if (!set?.delete(listener)) return false;
    if (!set.size) this.#listeners.delete(name);
    return true;
  }

  async #syncEvents(): Promise<void> {
    const names = [...this.#listeners.keys()].sort();
    const key = names.join(' ');
    if (key === this.#subscribed) return;
    this.#subscribed = key;
    await this.request(commands.setEvents(names));
  }

  /** Events tor sent that could not be parsed (they are not delivered to typed listeners). */
  onEventError(listener: (err: Error) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  #dispatch(reply: Reply): void {
    let event: TorEvent;
    try {
      event = parseEvent(reply);
    } catch (err) {
      // One malformed event must not take down a long-running controller.
      if (this.#errorListeners.size) for (const l of [...this.#errorListeners]) deliver(l, err as Error);
      else process.emitWarning(err as Error);
      return;
    }
    for (const l of [...this.#anyListeners]) deliver(l, event);
    const set = this.#listeners.get(event.type);
    if (set) for (const l of [...set]) deliver(l, event);
  }
}

/** One listener's bug must not keep the event from the others; it surfaces like any uncaught error. */
function deliver<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

// An empty array is keys too: RESETCONF with nothing to reset, as before.
function isKeys(input: Keys | ConfInput): input is Keys {
  return typeof input === 'string' || (Array.isArray(input) && input.every((x) => typeof x === 'string'));
}

function confEntries(input: ConfInput): Array<readonly [string, ConfValue]> {
  if (Array.isArray(input)) return input;
  const out: Array<readonly [string, ConfValue]> = [];
  for (const [k, v] of Object.entries(input)) {
    if (Array.isArray(v)) {
      if (!v.length) out.push([k, null]);
      for (const item of v) out.push([k, item]);
    } else out.push([k, v]);
  }
  return out;
}

export function addOnionCommand(o: AddOnionOptions): Command {
  if (!o.ports.length) throw new UsageError('ADD_ONION needs at least one port');
  const parts: Parameters<typeof buildCommand>[1] = [];
  if (typeof o.key === 'string') parts.push(assertWord(o.key, 'onion key'));
  else parts.push({ secret: o.key, encode: (k) => assertSecretWord(k, 'onion key'), redacted: 'ED25519-V3:<redacted>' });
  const flags = new Set(o.flags ?? []);
  if (o.clientAuthV3?.length) flags.add('V3Auth');
  if (flags.size) parts.push(`Flags=${[...flags].map((f) => assertWord(f, 'flag')).join(',')}`);
  if (o.maxStreams !== undefined) parts.push(`MaxStreams=${integer(o.maxStreams, 'maxStreams', 0, 65535)}`);
  for (const p of o.ports) {
    const port = integer(p.port, 'port', 1, 65535);
    parts.push(p.target === undefined ? `Port=${port}` : `Port=${port},${assertWord(p.target, 'port target')}`);
  }
  for (const k of o.clientAuthV3 ?? []) parts.push(`ClientAuthV3=${assertWord(k, 'client public key')}`);
  return buildCommand('ADD_ONION', parts);
}

export function delOnionCommand(serviceId: string): Command {
  return buildCommand('DEL_ONION', [assertWord(serviceId, 'service id')]);
}

export function clientAuthAddCommand(o: ClientAuthAddOptions): Command {
  const parts: Parameters<typeof buildCommand>[1] = [
    assertWord(o.address, 'onion address'),
    { secret: o.privateKey, encode: (k: string) => `x25519:${assertSecretWord(k, 'client-auth private key')}`, redacted: 'x25519:<redacted>' },
  ];
  if (o.clientName !== undefined) parts.push(`ClientName=${assertWord(o.clientName, 'client name')}`);
  if (o.permanent) parts.push('Flags=Permanent');
  return buildCommand('ONION_CLIENT_AUTH_ADD', parts);
}

export function clientAuthRemoveCommand(address: string): Command {
  return buildCommand('ONION_CLIENT_AUTH_REMOVE', [assertWord(address, 'onion address')]);
}

function integer(n: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${what} must be an integer from ${min} to ${max}, got ${n}`);
  return n;
}

/**
 * Connect and authenticate. The connection is closed again if authentication fails.
 * `connect('unix:/run/tor/control')` is `connect({ control: 'unix:/run/tor/control' })`; further options
 * go in the second argument.
 */
export async function connect(control: string | ControlAddress, options?: Omit<ConnectOptions, 'control'>): Promise<TorClient>;
export async function connect(options: ConnectOptions): Promise<TorClient>;
export async function connect(target: ConnectOptions | string | ControlAddress, more: Omit<ConnectOptions, 'control'> = {}): Promise<TorClient> {
  const options: ConnectOptions = typeof target === 'string' || isControlAddress(target) ? { ...more, control: target } : target;
  const conn = await ControlConnection.connect(options.control, options);
  try {
    // The per-command timeout bounds the handshake too, unless a handshake timeout of its own is given.
    const handshake = options.connectTimeout ?? (options.timeout ? options.timeout : undefined);
    const { info, method } = await authenticate(conn, handshake === undefined ? options : { ...options, connectTimeout: handshake });
    return new TorClient(conn, info, method);
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

function isControlAddress(x: ConnectOptions | ControlAddress): x is ControlAddress {
  return !('control' in x);
}

export type { Keys, MaybeSecret };
