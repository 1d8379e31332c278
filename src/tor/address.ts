import net from 'node:net';
import { UsageError } from './errors.js';

export type ControlAddress = { type: 'tcp'; host: string; port: number } | { type: 'unix'; path: string };

/**
 * `tcp:HOST:PORT`, `unix:PATH`, or the shorthands tor's own ControlPort accepts: `HOST:PORT`, `[::1]:PORT`,
 * a bare port (127.0.0.1 implied), or an absolute path (a Unix socket).
 */
export function parseControlAddress(text: string): ControlAddress {
  return parseEndpoint(text, 'control address');
}

export function formatControlAddress(a: ControlAddress): string {
  return a.type === 'unix' ? `unix:${a.path}` : `tcp:${formatHostPort(a.host, a.port)}`;
}

/**
 * The listener grammar tor's ControlPort and SocksPort share, for every address this library connects to;
 * `what` names the address in errors.
 */
export function parseEndpoint(text: string, what: string): ControlAddress {
  const s = text.trim();
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (!path) throw new UsageError(`${what} ${JSON.stringify(text)}: empty socket path`);
    return { type: 'unix', path };
  }
  if (s.startsWith('/')) return { type: 'unix', path: s };
  const rest = s.startsWith('tcp:') ? s.slice(4) : s;
  if (/^\d+$/.test(rest)) return { type: 'tcp', host: '127.0.0.1', port: port(rest, text, what) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d+)$/.exec(rest);
  if (!m) throw new UsageError(`${what} ${JSON.stringify(text)}: expected HOST:PORT, PORT, tcp:HOST:PORT or unix:PATH`);
  return { type: 'tcp', host: (m[1] ?? m[2])!, port: port(m[3]!, text, what) };
}

function port(digits: string, text: string, what: string): number {
  const n = Number(digits);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${what} ${JSON.stringify(text)}: port out of range`);
  return n;
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface OpenSocketErrors {
  timeout(ms: number): Error;
  failed(err: NodeJS.ErrnoException): Error;
}

/**
 * Connect to a Unix socket or TCP port, giving up after `timeoutMs`. The socket comes back with no error
 * listener: the caller attaches its own.
 */
export function openSocket(target: { path: string } | { host: string; port: number }, timeoutMs: number, errors: OpenSocketErrors): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in target ? net.connect({ path: target.path }) : net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(errors.timeout(timeoutMs));
    }, timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(errors.failed(err));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      if (!('path' in target)) socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
