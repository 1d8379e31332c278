import type net from 'node:net';
import { SocksClient } from 'socks';
import { UsageError } from '../errors.js';
import { SocksConnectionError, SocksProtocolError, SocksTimeoutError, socksReplyError, type SocksError } from './errors.js';
import { formatSocksAddress, isolationCredentials, openSocksSocket, parseSocksAddress, SOCKS5, type SocksAddress } from './socks5.js';

export interface TorConnectOptions {
  /**
   * Streams with different keys never share a circuit (sent as the SOCKS username; tor's IsolateSOCKSAuth,
   * on by default). Streams with the same key may.
   */
  isolation?: string;
  /** For the SOCKS handshake, in ms: until tor has connected to the target (default 120 s: onion services are slow). */
  timeout?: number;
}

/**
 * A TCP connection through tor to `host:port`. Names (onion addresses included) are sent to tor as names
 * and resolved at the exit or by the onion-service protocol, never locally. Fails with a typed SocksError:
 * a SocksReplyError subclass when tor refused (e.g. OnionDescriptorNotFoundError; the extended onion codes
 * need the SocksPort flag `ExtendedErrors`).
 */
export async function torConnect(socks: string | SocksAddress, host: string, port: number, options: TorConnectOptions = {}): Promise<net.Socket> {
  return socksConnect(parseSocksAddress(socks), host, port, options);
}

/**
 * The CONNECT itself, through the `socks` package. `onOpen` gets the local port of the connection to the
 * SOCKS port (tor reports it as the stream's SOURCE_ADDR) once it is up, before the request is written: an
 * attacher registers it there. The package reports a refused request only as text, and none at all for
 * tor's extended codes, so the reply code is read from a copy of the bytes tor sent.
 */
export async function socksConnect(proxy: SocksAddress, host: string, port: number, options: TorConnectOptions & { onOpen?: (localPort: number) => void } = {}): Promise<net.Socket> {
  if (!host.length || Buffer.byteLength(host) !== host.length) throw new UsageError(`host must be a non-empty ASCII name or address: ${JSON.stringify(host)}`);
  const timeout = options.timeout ?? 120_000;
  const credentials = isolationCredentials(options.isolation);
  const target = `${host}:${port}`;
  const socket = await openSocksSocket(proxy, timeout);
  const received: Buffer[] = [];
  const tap = (d: Buffer) => received.push(d);
  socket.prependListener('data', tap);
  try {
    options.onOpen?.(socket.localPort ?? 0);
    const established = await SocksClient.createConnection({
      command: 'connect',
      destination: { host, port },
      // Not used for connecting (existing_socket is), but the package validates it.
      proxy: { host: 'path' in proxy ? 'localhost' : proxy.host, port: 'path' in proxy ? 0 : proxy.port, type: 5, userId: credentials?.username, password: credentials?.password },
      existing_socket: socket,
      timeout,
    });
    return established.socket;
  } catch (err) {
    socket.destroy();
    throw classify(err as Error, Buffer.concat(received), credentials !== undefined, target, formatSocksAddress(proxy), timeout);
  } finally {
    socket.removeListener('data', tap);
  }
}

/** Map a `socks` package failure to our hierarchy, using the server's bytes where they say more. */
function classify(err: Error, bytes: Buffer, offeredAuth: boolean, target: string, proxy: string, timeout: number): SocksError {
  const code = replyCode(bytes, offeredAuth);
  if (code !== undefined && code !== 0) return socksReplyError(code, target);
  const via = `${target} via ${proxy}`;
  if (/timed out/i.test(err.message)) return new SocksTimeoutError(`${via}: no SOCKS reply within ${timeout} ms`, { cause: err });
  if (/closed/i.test(err.message) || /ECONNRESET|EPIPE/.test(err.message)) return new SocksConnectionError(`${via}: SOCKS server closed the connection mid-handshake`, { cause: err });
  return new SocksProtocolError(`${via}: ${err.message}`, { cause: err });
}

/**
 * The REP byte in a server transcript: method choice (2 bytes), the username/password status (2 bytes) when
 * that method was chosen, then the reply. Undefined when the transcript stops before it.
 */
export function replyCode(bytes: Buffer, offeredAuth: boolean): number | undefined {
  let i = 2;
  if (bytes.length < i) return undefined;
  if (offeredAuth && bytes[1] === SOCKS5.AUTH_USERPASS) i += 2;
  if (bytes.length < i + 2 || bytes[i] !== SOCKS5.VERSION) return undefined;
  return bytes[i + 1];
}
