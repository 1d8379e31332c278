/**
 * Errors grouped by who is at fault, as stem does:
 * - ProtocolError: tor (or whatever answered) sent bytes that are not the control protocol.
 * - ReplyError: tor understood and refused; carries the status code, message and raw reply.
 * - ConnectionError: the transport failed (closed, timed out, could not connect).
 * - AuthenticationError: we could not prove who we are; names the method tried and what to do.
 * - UsageError: the caller asked for something we refuse to encode (e.g. a CR in a keyword).
 */
import type { Reply } from './protocol/reply.js';
import { secretRedactor } from './redact.js';

export class TorError extends Error {
  override name = 'TorError';
}

export class ProtocolError extends TorError {
  override name = 'ProtocolError';
  constructor(
    message: string,
    readonly excerpt?: string,
    options?: ErrorOptions,
  ) {
    super(excerpt === undefined ? message : `${message}: ${JSON.stringify(excerpt.slice(0, 200))}`, options);
  }
}

export interface ReplyErrorOptions extends ErrorOptions {
  /**
   * Secret values the command carried (revealedSecrets(command)). Tor quotes refused values (`513 … Nickname
   * 'x' …`), so these are scrubbed from the message and from the reply kept on the error.
   */
  secrets?: readonly string[];
}

export class ReplyError extends TorError {
  override name = 'ReplyError';
  readonly code: number;
  readonly torMessage: string;
  /** Tor's reply, with the command's secrets scrubbed. */
  readonly reply: Reply;
  constructor(
    readonly command: string,
    reply: Reply,
    options: ReplyErrorOptions = {},
  ) {
    const { secrets = [], ...errorOptions } = options;
    const scrub = secretRedactor(secrets);
    const lines = reply.lines.map((l) => (l.data === undefined ? { ...l, text: scrub(l.text) } : { ...l, text: scrub(l.text), data: scrub(l.data) }));
    const torMessage = lines.map((l) => l.text).join('; ');
    super(`${command}: tor replied ${reply.code} ${torMessage}`, errorOptions);
    this.code = reply.code;
    this.torMessage = torMessage;
    this.reply = { code: reply.code, lines };
  }
}

export class ConnectionError extends TorError {
  override name = 'ConnectionError';
}

export class ConnectionClosedError extends ConnectionError {
  override name = 'ConnectionClosedError';
}

export class TimeoutError extends ConnectionError {
  override name = 'TimeoutError';
}

export class AuthenticationError extends TorError {
  override name = 'AuthenticationError';
  constructor(
    readonly method: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(method ? `authentication (${method}) failed: ${message}` : `authentication failed: ${message}`, options);
  }
}

export class UsageError extends TorError {
  override name = 'UsageError';
}

/**
 * A value refused before sending because no tor option can hold it: a CR or LF (tor options are single
 * lines, and tor echoes a refused value raw in its error, splitting its own reply line). Names the option,
 * never the value, which may be a secret.
 */
export class OptionValueError extends UsageError {
  override name = 'OptionValueError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

export class LaunchError extends TorError {
  override name = 'LaunchError';
  constructor(
    message: string,
    readonly log: string[] = [],
    options?: ErrorOptions,
  ) {
    super(log.length ? `${message}\n${log.slice(-10).join('\n')}` : message, options);
  }
}
