/**
 * HTTP(S) over tor. Node's global fetch (undici) takes a custom connector only through an undici
 * Dispatcher, which Node does not expose and the `undici` package would add; node:http accepts any
 * connected socket through `createConnection`, so the request rides on a torConnect/connectVia socket.
 */
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { UsageError } from '../errors.js';
import type { Circuit, Stream } from '../state/state.js';
import { torConnect } from './connect.js';
import { SocksTimeoutError } from './errors.js';
import type { SocksAddress } from './socks5.js';
import { connectVia } from './via.js';

export interface TorFetchOptions {
  /** The tor's SocksPort. Optional with `circuit` (then its tor's first TCP SocksPort is used). */
  socks?: string | SocksAddress;
  isolation?: string;
  /** Carry the request on this BUILT circuit (see connectVia). */
  circuit?: Circuit;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** For the whole exchange, in ms (default 120 s). */
  timeout?: number;
  /** Refuse bodies larger than this (default 16 MiB). */
  maxBytes?: number;
  /** TLS: accept a certificate that does not verify (onion services often use self-signed ones). */
  insecure?: boolean;
}

export interface TorResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The stream tor used, when the request went over a chosen circuit. */
  stream?: Stream;
  text(): string;
  json<T = unknown>(): T;
}

export async function torFetch(url: string | URL, options: TorFetchOptions = {}): Promise<TorResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:') throw new UsageError(`torFetch supports http: and https:, not ${u.protocol}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const timeout = options.timeout ?? 120_000;
  const deadline = Date.now() + timeout;
  const method = (options.method ?? 'GET').toUpperCase();

  let stream: Stream | undefined;
  let socket: net.Socket;
  if (options.circuit) {
    const via = await connectVia(options.circuit.state, options.circuit, host, port, { socks: options.socks, isolation: options.isolation, timeout });
    socket = via.socket;
    stream = via.stream;
  } else {
    if (options.socks === undefined) throw new UsageError('torFetch needs `socks` (or `circuit`)');
    socket = await torConnect(options.socks, host, port, { isolation: options.isolation, timeout });
  }
  const conn: net.Socket = secure ? await startTls(socket, host, options.insecure ?? false, deadline, `${method} ${u.href}`) : socket;

  return new Promise<TorResponse>((resolve, reject) => {
    const req = http.request({
      method,
      host,
      port,
      path: `${u.pathname}${u.search}`,
      headers: { Host: u.host, Connection: 'close', ...options.headers },
      createConnection: () => conn,
    });
    const timer = setTimeout(() => req.destroy(new SocksTimeoutError(`${method} ${u.href}: no complete response within ${timeout} ms`)), Math.max(1, deadline - Date.now()));
    const fail = (err: Error) => {
      clearTimeout(timer);
      conn.destroy();
      reject(err);
    };
    req.once('error', fail);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const max = options.maxBytes ?? 16 * 1024 * 1024;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > max) req.destroy(new UsageError(`${method} ${u.href}: response body larger than ${max} bytes`));
        else chunks.push(d);
      });
      res.once('error', fail);
      res.once('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: res.headers,
          body,
          stream,
          text: () => body.toString('utf8'),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        });
      });
    });
    req.end(options.body);
  });
}

/** The TLS handshake, within what is left of the request's deadline (a peer may never finish it). */
function startTls(socket: net.Socket, host: string, insecure: boolean, deadline: number, what: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ socket, servername: /^[\d.]+$|:/.test(host) ? undefined : host, rejectUnauthorized: !insecure, ALPNProtocols: ['http/1.1'] });
    const left = Math.max(1, deadline - Date.now());
    const timer = setTimeout(() => {
      t.destroy();
      socket.destroy();
      reject(new SocksTimeoutError(`${what}: TLS handshake not complete within ${left} ms`));
    }, left);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(t);
    });
    t.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
