import { UsageError } from './errors.js';

export type ControlAddress = { type: 'tcp'; host: string; port: number } | { type: 'unix'; path: string };

/**
 * `tcp:HOST:PORT`, `unix:PATH`, or the shorthands tor's own ControlPort accepts: `HOST:PORT`, `[::1]:PORT`,
 * a bare port (127.0.0.1 implied), or an absolute path (a Unix socket).
 */
export function parseControlAddress(text: string): ControlAddress {
  const s = text.trim();
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (!path) throw new UsageError(`control address ${JSON.stringify(text)}: empty socket path`);
    return { type: 'unix', path };
  }
  if (s.startsWith('/')) return { type: 'unix', path: s };
  const rest = s.startsWith('tcp:') ? s.slice(4) : s;
  if (/^\d+$/.test(rest)) return { type: 'tcp', host: '127.0.0.1', port: port(rest, text) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d+)$/.exec(rest);
  if (!m) throw new UsageError(`control address ${JSON.stringify(text)}: expected tcp:HOST:PORT or unix:PATH`);
  return { type: 'tcp', host: (m[1] ?? m[2])!, port: port(m[3]!, text) };
}

function port(digits: string, text: string): number {
  const n = Number(digits);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`control address ${JSON.stringify(text)}: port out of range`);
  return n;
}

export function formatControlAddress(a: ControlAddress): string {
  return a.type === 'unix' ? `unix:${a.path}` : `tcp:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
