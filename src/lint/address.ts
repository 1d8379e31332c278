/**
 * Listener and target addresses as tor writes them (`[address:]port|unix:path|auto [flags]`), reduced to
 * what the rules ask: is it open, and can anything beyond this host reach it.
 */
import { BlockList, isIP } from 'node:net';

const IPV6_LOOPBACK = new BlockList();
IPV6_LOOPBACK.addAddress('::1', 'ipv6');

export type Listener = { kind: 'off' } | { kind: 'unix' } | { kind: 'tcp'; host: string; loopback: boolean };

/**
 * `defaultHost` is where tor binds a bare port: 127.0.0.1 for client, control and metrics ports (tor's
 * manual, "[address:]port"), 0.0.0.0 for ORPort.
 */
export function parseListener(line: string, defaultHost = '127.0.0.1'): Listener {
  const first = line.trim().split(/\s+/)[0] ?? '';
  if (first === '0' || first === '') return { kind: 'off' };
  if (/^unix:/i.test(first)) return { kind: 'unix' };
  if (/^\d+$/.test(first) || first.toLowerCase() === 'auto') return tcp(defaultHost);
  const bracketed = /^\[([^\]]+)\](?::.*)?$/.exec(first);
  if (bracketed) return tcp(bracketed[1]!);
  // One colon: host:port. More: a bare IPv6 address (tor wants brackets with a port).
  const colons = first.split(':').length - 1;
  return tcp(colons === 1 ? first.slice(0, first.indexOf(':')) : first);
}

function tcp(host: string): Listener {
  return { kind: 'tcp', host, loopback: isLoopback(host) };
}

/** 127.0.0.0/8, ::1 and `localhost`; anything else (0.0.0.0, ::, a LAN address, a name) may be reached from elsewhere. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  // BlockList compares the address, not its spelling (`0:0:0:0:0:0:0:1` is ::1).
  if (isIP(h) === 6) return IPV6_LOOPBACK.check(h, 'ipv6');
  return false;
}

/** An onion service port's target (`HOST:PORT` or `unix:PATH`, as the loader normalized it): its host, or undefined for a socket. */
export function targetHost(target: string): string | undefined {
  if (/^unix:/i.test(target)) return undefined;
  const bracketed = /^\[([^\]]+)\]/.exec(target);
  if (bracketed) return bracketed[1]!;
  const i = target.lastIndexOf(':');
  return i < 0 ? target : target.slice(0, i);
}

/** A policy list (`SocksPolicy`, `MetricsPortPolicy`) as its entries, `accept 10.0.0.0/8` each. */
export function policyEntries(lines: ReadonlyArray<{ value: string }>): string[] {
  return lines.flatMap((l) => l.value.split(',')).map((e) => e.trim().toLowerCase().replace(/\s+/g, ' ')).filter(Boolean);
}

/** Whether an entry covers every address (`reject *`, `accept *:*`, `reject *4`…). */
export function coversAll(entry: string): boolean {
  return /^(accept|reject)6? \*[46]?(:\*)?$/.test(entry);
}
