import type net from 'node:net';
import { formatControlAddress, openSocket, parseControlAddress, type ControlAddress } from './address.js';
import { ConnectionClosedError, ConnectionError, ProtocolError, ReplyError, TimeoutError } from './errors.js';
import { revealedSecrets, type Command } from './protocol/encoder.js';
import { ReplyReader, type ReaderLimits } from './protocol/reader.js';
import { formatReply, isAsync, isOk, type Reply } from './protocol/reply.js';

export interface ConnectionOptions {
  /** Default per-command timeout in ms (0 = none). A timed-out command rejects; its reply, if it ever
   * comes, is discarded so later replies still match their commands. */
  timeout?: number;
  /** How long to wait for the socket to connect, and (connect()) for each handshake reply, in ms (default 10 s). */
  connectTimeout?: number;
  limits?: Partial<ReaderLimits>;
  /**
   * Over TCP, acknowledge tor's half-written answers with a keyless GETINFO (NUDGE; default true). Turn it off
   * behind a control-port filter that drops a command it does not allow without answering it: every reply
   * after would then go to the wrong command. Off, a reply longer than ~4 KB over TCP can wait ~40 ms.
   */
  nudge?: boolean;
}

export interface SendOptions {
  timeout?: number;
}

interface Pending {
  command: Command;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
  done: boolean;
  /** Written by the connection itself to acknowledge tor's data (NUDGE); its reply is nobody's. */
  nudge?: true;
}

/**
 * Over TCP, what the connection writes when data from tor leaves a command waiting and nothing else is about
 * to be written. tor never sets TCP_NODELAY on a control connection and writes its output in ~4 KB pieces (its
 * buffer chunks): once one piece is out unacknowledged, Nagle holds the next until our kernel acknowledges the
 * first, which Linux delays up to ~40 ms on a connection that talks back and forth. Any segment we send carries
 * that acknowledgement, so one tiny command releases the rest at once. It covers every shape of the stall: a
 * reply longer than one piece, a burst of pipelined replies (100 ADD_ONIONs), a reply written just after an
 * event. GETINFO without keys changes nothing and every tor answers it `250 OK`. A Unix socket has no Nagle and
 * gets none. Measured on one tor (docs/performance.md): GETINFO onions/detached of 100 services (5.9 KB, two
 * writes) 44 → 0.2 ms; the verifying read of an apply of 100 services 52 → 10 ms. It replaces pacing the tail
 * of a pipeline (writing commands as replies came back), which fixed bursts but not long replies.
 */
const NUDGE: Command = { keyword: 'GETINFO', wire: 'GETINFO\r\n', display: 'GETINFO' };

/** Commands tor answers before authentication; anything else makes tor close the connection (514). */
const HANDSHAKE = new Set(['PROTOCOLINFO', 'AUTHCHALLENGE', 'AUTHENTICATE']);

export type EventListener = (event: Reply) => void;
export type CommandTap = (command: Command) => void;

/**
 * One control connection: a FIFO of commands, each owning its promise, written as soon as they are
 * issued (pipelined: tor answers strictly in order) and matched to replies in order. Events (6xx) go to
 * event listeners whenever they arrive, including between a command and its reply.
 *
 * Until AUTHENTICATE succeeds only the handshake commands reach the socket; others wait behind the gate and
 * are released in order once authenticated (or rejected if the connection closes first).
 */
export class ControlConnection {
  readonly address: ControlAddress;
  readonly #socket: net.Socket;
  readonly #reader: ReplyReader;
  readonly #defaultTimeout: number;
  #pending: Pending[] = [];
  #head = 0;
  #gated: Pending[] = [];
  #authenticated = false;
  #closed: Error | null = null;
  #closeWaiters: Array<() => void> = [];
  #eventListeners = new Set<EventListener>();
  #taps = new Set<CommandTap>();
  #closeListeners = new Set<(err: Error) => void>();
  #corked = false;
  #stats = { commands: 0, roundTrips: 0, nudges: 0 };
  /** Nudges written and not yet answered: inFlight counts only the caller's commands. */
  #nudgesInFlight = 0;
  /** Bumped by every write, so that a nudge is written only when nothing else was (#onData). */
  #writes = 0;
  /** Over TCP, unless turned off (ConnectionOptions.nudge). */
  readonly #nudging: boolean;

  private constructor(address: ControlAddress, socket: net.Socket, options: ConnectionOptions) {
    this.address = address;
    this.#socket = socket;
    this.#reader = new ReplyReader(options.limits);
    this.#defaultTimeout = options.timeout ?? 0;
    this.#nudging = address.type === 'tcp' && options.nudge !== false;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(new ConnectionError(`control connection to ${formatControlAddress(address)}: ${err.message}`, { cause: err })));
    socket.on('close', () => {
      this.#fail(new ConnectionClosedError(`control connection to ${formatControlAddress(address)} closed`));
      for (const w of this.#closeWaiters.splice(0)) w();
    });
  }

  static async connect(address: ControlAddress | string, options: ConnectionOptions = {}): Promise<ControlConnection> {
    const addr = typeof address === 'string' ? parseControlAddress(address) : address;
    const where = formatControlAddress(addr);
    const socket = await openSocket(addr, options.connectTimeout ?? 10_000, {
      timeout: (ms) => new TimeoutError(`connecting to tor's control port at ${where}: no answer after ${ms} ms`),
      failed: (err) => new ConnectionError(`cannot connect to tor's control port at ${where}: ${hint(err)}`, { cause: err }),
    });
    return new ControlConnection(addr, socket, options);
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  get isClosed(): boolean {
    return this.#closed !== null;
  }

  /** The caller's commands written and not yet answered (nudges are not counted). */
  get inFlight(): number {
    return this.#pending.length - this.#head - this.#nudgesInFlight;
  }

  /** Send a command; resolves with tor's reply whatever its status code. */
  send(command: Command, options: SendOptions = {}): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.#closed) {
        reject(new ConnectionClosedError(`${command.display}: control connection already closed`, { cause: this.#closed }));
        return;
      }
      const p: Pending = { command, resolve, reject, done: false };
      const timeout = options.timeout ?? this.#defaultTimeout;
      if (timeout > 0) {
        p.timer = setTimeout(() => {
          if (p.done) return;
          p.done = true;
          reject(new TimeoutError(`${command.display}: no reply from tor within ${timeout} ms`));
        }, timeout);
      }
      if (!this.#authenticated && !HANDSHAKE.has(command.keyword)) this.#gated.push(p);
      else this.#write(p);
    });
  }

  /** Send a command; resolves with the reply when tor accepts (2xx), rejects with ReplyError otherwise. */
  async request(command: Command, options?: SendOptions): Promise<Reply> {
    const reply = await this.send(command, options);
    if (!isOk(reply)) throw new ReplyError(command.display, reply, { secrets: revealedSecrets(command) });
    return reply;
  }

  onEvent(listener: EventListener): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Observe every command as it is written (redacted `display` form is safe to log). */
  onCommand(tap: CommandTap): () => void {
    this.#taps.add(tap);
    return () => this.#taps.delete(tap);
  }

  onClose(listener: (err: Error) => void): () => void {
    if (this.#closed) {
      const err = this.#closed;
      queueMicrotask(() => listener(err));
    } else this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Close the socket. Everything still pending rejects with ConnectionClosedError. */
  close(): Promise<void> {
    if (this.#socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closeWaiters.push(resolve);
      this.#socket.end();
      // A peer that never answers the FIN must not keep us waiting.
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  /** Tear down at once, rejecting everything pending with `err`. */
  destroy(err?: Error): void {
    this.#fail(err ?? new ConnectionClosedError(`control connection to ${formatControlAddress(this.address)} destroyed`));
  }

  /**
   * Commands written, and round trips: a command written while nothing was in flight starts one; commands
   * pipelined behind it share it. After authentication, a no-op plan should cost a single round trip.
   * `nudges` are the connection's own acknowledging commands (TCP only, NUDGE), counted in neither.
   */
  get stats(): Readonly<{ commands: number; roundTrips: number; nudges: number }> {
    return { ...this.#stats };
  }

  #write(p: Pending): void {
    this.#writes++;
    if (p.nudge) {
      this.#stats.nudges++;
      this.#nudgesInFlight++;
    } else {
      this.#stats.commands++;
      if (this.inFlight === 0) this.#stats.roundTrips++;
    }
    // Batch every command issued in the same tick into one write: real pipelining, few syscalls.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(p.command.wire);
    this.#pending.push(p);
    // A nudge is transport, like a TCP acknowledgement: observers see the commands the caller sent.
    if (p.nudge) return;
    for (const tap of this.#taps) {
      try {
        tap(p.command);
      } catch (err) {
        // The command is on the wire and owns the next reply whatever an observer does; surface its bug
        // like any uncaught error.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #onData(chunk: Buffer): void {
    let replies: Reply[];
    try {
      replies = this.#reader.push(chunk);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    for (const reply of replies) {
      if (isAsync(reply)) {
        for (const l of this.#eventListeners) {
          try {
            l(reply);
          } catch (err) {
            // A listener's bug must not desynchronise the reply stream; surface it like any uncaught error.
            queueMicrotask(() => {
              throw err;
            });
          }
        }
        continue;
      }
      const p = this.#pending[this.#head];
      if (!p) {
        this.#fail(new ProtocolError('tor sent a reply with no command waiting for it', formatReply(reply)));
        return;
      }
      this.#pending[this.#head++] = undefined as unknown as Pending;
      if (p.nudge) this.#nudgesInFlight--;
      if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
        this.#pending = this.#pending.slice(this.#head);
        this.#head = 0;
      }
      if (p.timer) clearTimeout(p.timer);
      if (p.command.keyword === 'AUTHENTICATE' && isOk(reply)) this.#openGate();
      if (!p.done) {
        p.done = true;
        p.resolve(reply);
      }
    }
    if (this.#nudging && this.#authenticated && this.inFlight > 0) {
      // Checked once the replies' callers have run: a command they write carries the acknowledgement itself.
      const writes = this.#writes;
      setImmediate(() => {
        if (this.#writes === writes && this.inFlight > 0 && !this.#closed) this.#write({ command: NUDGE, resolve: ignore, reject: ignore, done: false, nudge: true });
      });
    }
  }

  #openGate(): void {
    this.#authenticated = true;
    const gated = this.#gated;
    this.#gated = [];
    for (const p of gated) if (!p.done) this.#write(p);
  }

  #fail(err: Error): void {
    if (!this.#closed) {
      this.#closed = err;
      const truncated = this.#reader.midReply ? ' (in the middle of a reply)' : '';
      const all = [...this.#pending.slice(this.#head), ...this.#gated];
      this.#pending = [];
      this.#head = 0;
      this.#nudgesInFlight = 0;
      this.#gated = [];
      for (const p of all) {
        if (p.timer) clearTimeout(p.timer);
        if (p.done) continue;
        p.done = true;
        // A protocol error is the reason itself; any transport end (FIN, reset, destroy) is "closed".
        const e =
          err instanceof ProtocolError
            ? err
            : new ConnectionClosedError(`${p.command.display}: control connection closed before tor replied${truncated}${err instanceof ConnectionClosedError ? '' : ` (${err.message})`}`, { cause: err });
        p.reject(e);
      }
      for (const l of this.#closeListeners) l(err);
      this.#closeListeners.clear();
    }
    if (!this.#socket.destroyed) this.#socket.destroy();
  }
}

function ignore(): void {}

function hint(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is tor running with ControlPort or ControlSocket set?)';
    case 'ENOENT':
      return 'no such socket (is tor running with ControlSocket set to this path?)';
    case 'EACCES':
      return 'permission denied (add this user to the group that owns the socket, e.g. debian-tor)';
    default:
      return err.message;
  }
}
