/**
 * Streams on a chosen circuit. Tor attaches streams to circuits itself unless `__LeaveStreamsUnattached` is
 * set; then every new stream waits for a controller's ATTACHSTREAM. This module sets it only while one of
 * its connections is being set up, recognises its own stream by the SOCKS connection's source port (STREAM
 * NEW carries SOURCE_ADDR=127.0.0.1:<port>), attaches it, and hands every other stream back to tor
 * (`ATTACHSTREAM <id> 0`: tor picks) so other applications keep working meanwhile.
 *
 * A minimal stand-in: the attach-policy engine (issue #8) will own stream attachment and replace this.
 * Caveat from tor itself: `__LeaveStreamsUnattached` survives the controller; if this process dies while
 * it is set, new streams on that tor hang until it is reset (RESETCONF or SIGHUP).
 */
import type net from 'node:net';
import { UsageError } from '../errors.js';
import type { StreamEvent } from '../events.js';
import { StreamError } from '../state/errors.js';
import type { Circuit, Stream, TorState } from '../state/state.js';
import { socksConnect, type TorConnectOptions } from './connect.js';
import { parseSocksAddress, type SocksAddress } from './socks5.js';

const OPTION = '__LeaveStreamsUnattached';

export interface ConnectViaOptions extends TorConnectOptions {
  /** The tor's TCP SocksPort; by default the first of `GETINFO net/listeners/socks`. */
  socks?: string | SocksAddress;
}

export interface ViaConnection {
  socket: net.Socket;
  /** Tor's stream for this connection, as TorState follows it. */
  stream: Stream;
}

/**
 * A connection to `host:port` through tor whose stream is attached to `circuit` (which must be BUILT).
 * Resolves once tor reports the stream SUCCEEDED and the SOCKS handshake is done. If the exit refuses the
 * stream, tor would retry it elsewhere; here it is closed instead and the call rejects with a StreamError
 * carrying tor's reasons.
 */
export async function connectVia(state: TorState, circuit: Circuit, host: string, port: number, options: ConnectViaOptions = {}): Promise<ViaConnection> {
  if (circuit.status !== 'BUILT') throw new UsageError(`circuit ${circuit.id} is ${circuit.status}, not BUILT`);
  const proxy = options.socks === undefined ? await defaultSocks(state) : parseSocksAddress(options.socks);
  if ('path' in proxy) throw new UsageError('connectVia needs a TCP SocksPort: streams from a Unix socket carry no source port to match');
  const attacher = Attacher.for(state);
  await attacher.acquire();
  const claim = attacher.claim(circuit, `${host}:${port}`);
  const connecting = socksConnect(proxy, host, port, { ...options, onOpen: (localPort) => claim.bind(localPort) });
  try {
    const [connection, stream] = await Promise.all([connecting, claim.stream]);
    return { socket: connection.socket, stream };
  } catch (err) {
    claim.cancel();
    connecting.then((c) => c.socket.destroy(), () => {});
    throw err;
  } finally {
    await attacher.release();
  }
}

async function defaultSocks(state: TorState): Promise<SocksAddress> {
  const listeners = (await state.client.getInfo('net/listeners/socks')).split(' ').filter(Boolean);
  const tcp = listeners.map((l) => l.replace(/^"|"$/g, '')).find((l) => !l.startsWith('unix:'));
  if (!tcp) throw new UsageError('this tor has no TCP SocksPort (net/listeners/socks is empty)');
  return parseSocksAddress(tcp);
}

interface Claim {
  /** Resolves when tor reports the stream SUCCEEDED on the circuit. */
  stream: Promise<Stream>;
  /** The SOCKS connection's local port, known once it is open. */
  bind(localPort: number): void;
  cancel(): void;
}

interface Pending {
  circuit: Circuit;
  target: string;
  resolve: (s: Stream) => void;
  reject: (err: Error) => void;
}

const WAITING = new Set(['NEW', 'NEWRESOLVE', 'DETACHED']);

/** One per TorState: the option is tor-wide, so concurrent connectVia calls share it. */
class Attacher {
  static #all = new WeakMap<TorState, Attacher>();

  static for(state: TorState): Attacher {
    let a = Attacher.#all.get(state);
    if (!a) Attacher.#all.set(state, (a = new Attacher(state)));
    return a;
  }

  readonly #state: TorState;
  #users = 0;
  /** Settles when the option is set (or failed to be); later users wait on it too. */
  #ready: Promise<void> = Promise.resolve();
  #previous: string | null = null;
  #off: (() => void) | undefined;
  /** Claims by source port, until their stream appears; then by stream id until it succeeds or fails. */
  #byPort = new Map<number, Pending>();
  #byStream = new Map<string, Pending>();

  private constructor(state: TorState) {
    this.#state = state;
  }

  async acquire(): Promise<void> {
    if (this.#users++ === 0) this.#ready = this.#enable();
    try {
      await this.#ready;
    } catch (err) {
      this.#users--;
      throw err;
    }
  }

  async release(): Promise<void> {
    if (--this.#users > 0) return;
    this.#off?.();
    this.#off = undefined;
    const client = this.#state.client;
    if (!client.connection.isClosed) await client.setConf({ [OPTION]: this.#previous ?? '0' });
  }

  claim(circuit: Circuit, target: string): Claim {
    let pending!: Pending;
    const stream = new Promise<Stream>((resolve, reject) => (pending = { circuit, target, resolve, reject }));
    stream.catch(() => {});
    let port: number | undefined;
    return {
      stream,
      bind: (localPort) => this.#byPort.set((port = localPort), pending),
      cancel: () => {
        if (port !== undefined && this.#byPort.get(port) === pending) this.#byPort.delete(port);
        for (const [id, p] of this.#byStream) if (p === pending) this.#byStream.delete(id);
      },
    };
  }

  async #enable(): Promise<void> {
    const client = this.#state.client;
    const current = (await client.getConf([OPTION])).get(OPTION)?.[0] ?? '0';
    this.#previous = current;
    // Another controller already attaches streams: leave its streams to it.
    const handBack = current !== '1';
    this.#off = this.#state.on('stream', (stream, event) => this.#onStream(stream, event, handBack));
    await client.setConf({ [OPTION]: '1' });
  }

  #onStream(stream: Stream, event: StreamEvent, handBack: boolean): void {
    const mine = this.#byStream.get(event.id);
    if (mine) return this.#follow(mine, stream, event);
    if (!WAITING.has(event.status) || (event.status !== 'DETACHED' && event.circuitId !== '0')) return;
    const port = event.status === 'DETACHED' ? undefined : event.sourceAddr?.port;
    const claim = port === undefined ? undefined : this.#byPort.get(port);
    if (!claim) {
      // Not ours: let tor pick a circuit as it would without us. A stream that was not waiting for a
      // controller answers 555; nothing to do then.
      if (handBack) stream.attach('0').catch(() => {});
      return;
    }
    this.#byPort.delete(port!);
    this.#byStream.set(event.id, claim);
    stream.attach(claim.circuit).catch((err: Error) => {
      this.#byStream.delete(event.id);
      claim.reject(err);
      stream.close('MISC').catch(() => {});
    });
  }

  /** Our stream after ATTACHSTREAM: SUCCEEDED, or refused (tor detaches it to retry: we close it instead). */
  #follow(claim: Pending, stream: Stream, event: StreamEvent): void {
    if (event.status === 'SUCCEEDED') {
      this.#byStream.delete(event.id);
      claim.resolve(stream);
    } else if (event.status === 'DETACHED' || event.status === 'FAILED' || event.status === 'CLOSED') {
      this.#byStream.delete(event.id);
      const why = [event.reason && `REASON=${event.reason}`, event.remoteReason && `REMOTE_REASON=${event.remoteReason}`].filter(Boolean).join(' ');
      claim.reject(new StreamError(event.id, event.status, event.reason, event.remoteReason, `stream ${event.id} to ${claim.target} on circuit ${claim.circuit.id} ${event.status}${why ? ` (${why})` : ''}`));
      if (event.status === 'DETACHED') stream.close('MISC').catch(() => {});
    }
  }
}
