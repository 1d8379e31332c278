/**
 * Streams on a chosen circuit. Tor attaches streams itself unless `__LeaveStreamsUnattached` is set; then every
 * new stream waits for a controller. connectVia uses the shared StreamAttacher of the TorState (the same one
 * attach policies use) with a handler that recognises its own stream by the SOCKS connection's source port
 * (STREAM NEW carries SOURCE_ADDR=127.0.0.1:<port>) and puts it on the circuit; every other stream is decided
 * by the other handlers, or by tor. The attacher runs only while some connectVia is in progress, unless
 * something else holds it.
 *
 * Caveat from tor itself: `__LeaveStreamsUnattached` survives the controller; if this process dies while it
 * is set, new streams on that tor hang until it is reset (RESETCONF or SIGHUP).
 */
import type net from 'node:net';
import { StreamAttacher } from '../attacher.js';
import type { TorClient } from '../client.js';
import { UsageError } from '../errors.js';
import type { StreamEvent } from '../events.js';
import { StreamError } from '../state/errors.js';
import type { Circuit, Stream, TorState } from '../state/state.js';
import { socksConnect, type TorConnectOptions } from './connect.js';
import { SocksTimeoutError } from './errors.js';
import { parseSocksAddress, type SocksAddress } from './socks5.js';

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
  const listener = options.socks ?? (await tcpSocksListener(state.client));
  if (listener === undefined) throw new UsageError('this tor has no TCP SocksPort (net/listeners/socks is empty)');
  const proxy = parseSocksAddress(listener);
  if ('path' in proxy) throw new UsageError('connectVia needs a TCP SocksPort: streams from a Unix socket carry no source port to match');
  const attacher = StreamAttacher.for(state);
  await attacher.acquire();
  let via: ViaConnection | undefined;
  try {
    via = await claimedConnection(state, circuit, proxy, host, port, options);
    return via;
  } finally {
    // A failed reset leaves tor holding every new stream for a controller: that outranks this call's result.
    await attacher.release().catch((err: unknown) => {
      via?.socket.destroy();
      throw err;
    });
  }
}

/** The SOCKS connection, and its stream claimed for `circuit` (the attacher must be running). */
async function claimedConnection(state: TorState, circuit: Circuit, proxy: SocksAddress, host: string, port: number, options: ConnectViaOptions): Promise<ViaConnection> {
  const claim = claimFor(state, circuit, `${host}:${port}`, options.timeout ?? 120_000);
  const connecting = socksConnect(proxy, host, port, { ...options, onOpen: (localPort) => claim.bind(localPort) });
  try {
    const [socket, stream] = await Promise.all([connecting, claim.stream]);
    return { socket, stream };
  } catch (err) {
    connecting.then((socket) => socket.destroy(), () => {});
    throw err;
  } finally {
    claim.dispose();
  }
}

/** The first TCP SOCKS listener of a tor (`GETINFO net/listeners/socks`), or undefined. */
export async function tcpSocksListener(client: TorClient): Promise<string | undefined> {
  const listeners = (await client.getInfo('net/listeners/socks')).split(' ').filter(Boolean);
  return listeners.map((l) => l.replace(/^"|"$/g, '')).find((l) => !l.startsWith('unix:'));
}

interface Claim {
  /** Resolves when tor reports the stream SUCCEEDED on the circuit. */
  stream: Promise<Stream>;
  /** The SOCKS connection's local port, known once it is open. */
  bind(localPort: number): void;
  dispose(): void;
}

/**
 * A claim on the stream that will come from one local port: an attacher handler (highest priority) answers
 * with the circuit for that stream only, and a stream listener follows it to SUCCEEDED or a refusal, for at
 * most `timeout` ms.
 */
function claimFor(state: TorState, circuit: Circuit, target: string, timeout: number): Claim {
  let resolve!: (s: Stream) => void;
  let reject!: (err: Error) => void;
  const stream = new Promise<Stream>((res, rej) => ((resolve = res), (reject = rej)));
  stream.catch(() => {});
  let port: number | undefined;
  let id: string | undefined;
  const timer = setTimeout(() => reject(new SocksTimeoutError(`${target} on circuit ${circuit.id}: tor did not report the stream SUCCEEDED within ${timeout} ms`)), timeout);
  const offHandler = StreamAttacher.for(state).add((s, e) => {
    if (id !== undefined || port === undefined || e.status === 'DETACHED' || e.sourceAddr?.port !== port) return undefined;
    id = s.id;
    return circuit;
  }, Number.MAX_SAFE_INTEGER);
  const offStream = state.on('stream', (s: Stream, e: StreamEvent) => {
    if (e.id !== id) return;
    if (e.status === 'SUCCEEDED') {
      // The attach failed and tor put the stream where it liked (the attacher's fallback): not what was asked.
      if (e.circuitId === circuit.id) resolve(s);
      else reject(new StreamError(e.id, e.status, undefined, undefined, `stream ${e.id} to ${target} SUCCEEDED on circuit ${e.circuitId}, not on circuit ${circuit.id}`));
    } else if (e.status === 'DETACHED' || e.status === 'FAILED' || e.status === 'CLOSED') {
      const why = [e.reason && `REASON=${e.reason}`, e.remoteReason && `REMOTE_REASON=${e.remoteReason}`].filter(Boolean).join(' ');
      reject(new StreamError(e.id, e.status, e.reason, e.remoteReason, `stream ${e.id} to ${target} on circuit ${circuit.id} ${e.status}${why ? ` (${why})` : ''}`));
      // Tor would retry a detached stream elsewhere: not on the circuit asked for, so close it.
      if (e.status === 'DETACHED') s.close('MISC').catch(() => {});
    }
  });
  return {
    stream,
    bind: (localPort) => (port = localPort),
    dispose: () => {
      clearTimeout(timer);
      offHandler();
      offStream();
    },
  };
}
