/**
 * A small SOCKS5 client (RFC 1928, RFC 1929 username/password) for the requests the `socks` package cannot
 * send: tor's RESOLVE (0xF0) and RESOLVE_PTR (0xF1) (torspec socks-extensions §2). Also where SOCKS
 * addresses are parsed and the proxy connection is opened, for every module here.
 *
 * ```
 * → 05 01 02                         greeting: one method, username/password (00 without isolation)
 * ← 05 02
 * → 01 <ulen> <user> <plen> <pass>   the isolation key
 * ← 01 00
 * → 05 F0 00 03 <len> <name> 00 00   RESOLVE name (port unused)
 * ← 05 00 00 01 <4 bytes> 00 00      the address; RESOLVE_PTR answers with ATYP 03 and the name
 * ← 05 04 00 00 00 00 00 00 00 00    failure: tor sends REP with ATYP 0 and zeroes
 * ```
 */
import net from 'node:net';
import { formatHostPort, openSocket, parseEndpoint } from '../address.js';
import { UsageError } from '../errors.js';
import { SocksConnectionError, SocksProtocolError, SocksTimeoutError, socksReplyError } from './errors.js';

/** A tor SocksPort: TCP, or a Unix socket (`SocksPort unix:/path`). */
export type SocksAddress = { host: string; port: number } | { path: string };

export const SOCKS5 = {
  VERSION: 0x05,
  AUTH_NONE: 0x00,
  AUTH_USERPASS: 0x02,
  AUTH_NO_ACCEPTABLE: 0xff,
  USERPASS_VERSION: 0x01,
  CONNECT: 0x01,
  RESOLVE: 0xf0,
  RESOLVE_PTR: 0xf1,
  ATYP_IPV4: 0x01,
  ATYP_DOMAIN: 0x03,
  ATYP_IPV6: 0x04,
} as const;

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Tor isolates streams by SOCKS username and password (IsolateSOCKSAuth, on by default): streams sent with
 * different keys never share a circuit. The key goes in the username; the password is fixed.
 */
export function isolationCredentials(key: string | undefined): Credentials | undefined {
  if (key === undefined) return undefined;
  if (key === '' || Buffer.byteLength(key) > 255) throw new UsageError('isolation key must be 1–255 bytes');
  return { username: key, password: 'tor-reconcile' };
}

/** `host:port`, `[v6]:port`, a bare port (127.0.0.1), `unix:/path` or `/path`. */
export function parseSocksAddress(input: string | SocksAddress): SocksAddress {
  if (typeof input !== 'string') return input;
  const a = parseEndpoint(input, 'SOCKS address');
  return a.type === 'unix' ? { path: a.path } : { host: a.host, port: a.port };
}

export function formatSocksAddress(a: SocksAddress): string {
  return 'path' in a ? `unix:${a.path}` : formatHostPort(a.host, a.port);
}

/** Connect to the SOCKS port itself. */
export function openSocksSocket(proxy: SocksAddress, timeout: number): Promise<net.Socket> {
  const where = formatSocksAddress(proxy);
  return openSocket(proxy, timeout, {
    timeout: (ms) => new SocksTimeoutError(`SOCKS port ${where}: no connection within ${ms} ms`),
    failed: (err) => new SocksConnectionError(`cannot connect to tor's SOCKS port ${where}: ${err.message}`, { cause: err }),
  });
}

export function encodeGreeting(credentials: Credentials | undefined): Buffer {
  return Buffer.from([SOCKS5.VERSION, 1, credentials ? SOCKS5.AUTH_USERPASS : SOCKS5.AUTH_NONE]);
}

export function encodeUserPass({ username, password }: Credentials): Buffer {
  const u = Buffer.from(username, 'utf8');
  const p = Buffer.from(password, 'utf8');
  if (u.length > 255 || p.length > 255) throw new UsageError('SOCKS username and password must be at most 255 bytes');
  return Buffer.concat([Buffer.from([SOCKS5.USERPASS_VERSION, u.length]), u, Buffer.from([p.length]), p]);
}

/** A request: IPv4 and IPv6 literals as addresses, anything else as a name for tor to resolve remotely. */
export function encodeRequest(command: number, host: string, port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port must be 0–65535, got ${port}`);
  const tail = Buffer.from([port >> 8, port & 0xff]);
  const head = [SOCKS5.VERSION, command, 0x00];
  if (net.isIPv4(host)) return Buffer.concat([Buffer.from([...head, SOCKS5.ATYP_IPV4, ...host.split('.').map(Number)]), tail]);
  if (net.isIPv6(host)) return Buffer.concat([Buffer.from([...head, SOCKS5.ATYP_IPV6]), ipv6Bytes(host), tail]);
  const name = Buffer.from(host, 'utf8');
  if (name.length === 0 || name.length > 255) throw new UsageError(`host name must be 1–255 bytes: ${JSON.stringify(host)}`);
  for (const b of name) if (b <= 0x20 || b === 0x7f) throw new UsageError(`host name contains a control character or space: ${JSON.stringify(host)}`);
  return Buffer.concat([Buffer.from([...head, SOCKS5.ATYP_DOMAIN, name.length]), name, tail]);
}

export interface Socks5Reply {
  /** REP: 0 on success, else the failure code. */
  code: number;
  /** BND.ADDR: an IP address, or a name (ATYP 3); undefined on failure. */
  address?: string;
  port: number;
}

/**
 * Parse a reply from the start of `buf`: undefined while more bytes are needed. A failure is complete after
 * its first four bytes, whatever follows (tor pads them with zeroes, ATYP 0).
 */
export function parseReply(buf: Buffer): { reply: Socks5Reply; length: number } | undefined {
  if (buf.length < 4) return undefined;
  if (buf[0] !== SOCKS5.VERSION) throw new SocksProtocolError(`SOCKS reply with version ${buf[0]}, expected 5`);
  const code = buf[1]!;
  if (code !== 0) return { reply: { code, port: 0 }, length: Math.min(buf.length, 10) };
  const atyp = buf[3];
  let addrEnd: number;
  let address: string;
  if (atyp === SOCKS5.ATYP_IPV4) {
    addrEnd = 8;
    if (buf.length < addrEnd + 2) return undefined;
    address = [...buf.subarray(4, 8)].join('.');
  } else if (atyp === SOCKS5.ATYP_IPV6) {
    addrEnd = 20;
    if (buf.length < addrEnd + 2) return undefined;
    address = formatIpv6(buf.subarray(4, 20));
  } else if (atyp === SOCKS5.ATYP_DOMAIN) {
    if (buf.length < 5) return undefined;
    addrEnd = 5 + buf[4]!;
    if (buf.length < addrEnd + 2) return undefined;
    address = buf.subarray(5, addrEnd).toString('utf8');
  } else throw new SocksProtocolError(`SOCKS reply with unknown address type ${atyp}`);
  return { reply: { code, address, port: buf.readUInt16BE(addrEnd) }, length: addrEnd + 2 };
}

export interface Socks5RequestOptions {
  credentials?: Credentials;
  /** For the whole exchange, connecting included, in ms. */
  timeout?: number;
}

/**
 * One SOCKS5 request on a fresh connection, for commands whose answer is the reply itself (RESOLVE,
 * RESOLVE_PTR). Rejects with the typed SocksReplyError for a non-zero reply. The connection is closed.
 */
export async function socks5Request(proxy: SocksAddress, command: number, host: string, port: number, options: Socks5RequestOptions = {}): Promise<Socks5Reply> {
  const timeout = options.timeout ?? 60_000;
  const request = encodeRequest(command, host, port);
  const target = `${commandName(command)} ${host}`;
  const started = Date.now();
  const socket = await openSocksSocket(proxy, timeout);
  const incoming = new Incoming(socket, Math.max(1, timeout - (Date.now() - started)), `${target} via ${formatSocksAddress(proxy)}`);
  try {
    const { credentials } = options;
    socket.write(encodeGreeting(credentials));
    const method = await incoming.take((b) => (b.length >= 2 ? { value: b, length: 2 } : undefined));
    if (method[0] !== SOCKS5.VERSION) throw new SocksProtocolError(`not a SOCKS5 server (greeting answered with version ${method[0]})`);
    if (method[1] === SOCKS5.AUTH_USERPASS && credentials) {
      socket.write(encodeUserPass(credentials));
      const status = await incoming.take((b) => (b.length >= 2 ? { value: b, length: 2 } : undefined));
      if (status[1] !== 0) throw new SocksProtocolError(`SOCKS server refused the username/password (status ${status[1]})`);
    } else if (method[1] !== SOCKS5.AUTH_NONE) {
      throw new SocksProtocolError(method[1] === SOCKS5.AUTH_NO_ACCEPTABLE ? 'SOCKS server accepts none of the offered authentication methods' : `SOCKS server chose authentication method ${method[1]}, which was not offered`);
    }
    socket.write(request);
    const { reply } = await incoming.take((b) => {
      const r = parseReply(b);
      return r && { value: r, length: r.length };
    });
    if (reply.code !== 0) throw socksReplyError(reply.code, target);
    return reply;
  } finally {
    incoming.done();
    socket.destroy();
  }
}

function commandName(command: number): string {
  return command === SOCKS5.RESOLVE ? 'RESOLVE' : command === SOCKS5.RESOLVE_PTR ? 'RESOLVE_PTR' : command === SOCKS5.CONNECT ? 'CONNECT' : `command 0x${command.toString(16)}`;
}

/** Bytes from the server, handed out in whole protocol messages; one deadline for the exchange. */
class Incoming {
  #buf: Buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #socket: net.Socket;
  readonly #onData = (d: Buffer) => {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    this.#wake?.();
  };
  readonly #onEnd = () => this.#fail(new SocksConnectionError(`${this.what}: SOCKS server closed the connection mid-handshake`));
  readonly #onError = (err: Error) => this.#fail(new SocksConnectionError(`${this.what}: ${err.message}`, { cause: err }));

  constructor(
    socket: net.Socket,
    timeout: number,
    readonly what: string,
  ) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    this.#timer = setTimeout(() => this.#fail(new SocksTimeoutError(`${what}: no SOCKS reply within ${timeout} ms`)), timeout);
  }

  async take<T>(parse: (buf: Buffer) => { value: T; length: number } | undefined): Promise<T> {
    for (;;) {
      const got = parse(this.#buf);
      if (got) {
        this.#buf = this.#buf.subarray(got.length);
        return got.value;
      }
      if (this.#failure) throw this.#failure;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }

  done(): void {
    clearTimeout(this.#timer);
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onError);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake?.();
  }
}

function ipv6Bytes(host: string): Buffer {
  const [head = '', tail] = host.split('::') as [string, string | undefined];
  const groups = (s: string) => (s ? s.split(':') : []);
  const expand = (parts: string[]) =>
    parts.flatMap((p) => {
      if (!p.includes('.')) return [parseInt(p, 16)];
      const [a, b, c, d] = p.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  const h = expand(groups(head));
  const t = tail === undefined ? [] : expand(groups(tail));
  const words = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** RFC 5952 form (longest zero run compressed), as the WHATWG URL parser serialises IPv6 hosts. */
function formatIpv6(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1);
}
