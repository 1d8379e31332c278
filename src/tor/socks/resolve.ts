import net from 'node:net';
import { UsageError } from '../errors.js';
import { SocksProtocolError } from './errors.js';
import { isolationCredentials, parseSocksAddress, socks5Request, SOCKS5, type SocksAddress } from './socks5.js';

export interface ResolveOptions {
  /** Isolation key, as for torConnect: the lookup goes over a circuit of that key's. */
  isolation?: string;
  timeout?: number;
}

/**
 * Resolve a name through tor (SOCKS5 RESOLVE, 0xF0): the exit looks it up; returns an IPv4 or IPv6 address.
 * Failures are SocksReplyErrors (HostUnreachableError when the name does not resolve).
 */
export async function resolve(socks: string | SocksAddress, name: string, options: ResolveOptions = {}): Promise<string> {
  const reply = await socks5Request(parseSocksAddress(socks), SOCKS5.RESOLVE, name, 0, { credentials: isolationCredentials(options.isolation), timeout: options.timeout });
  if (reply.address === undefined || !net.isIP(reply.address)) throw new SocksProtocolError(`RESOLVE ${name}: tor answered with ${JSON.stringify(reply.address)}, not an address`);
  return reply.address;
}

/** Reverse lookup through tor (SOCKS5 RESOLVE_PTR, 0xF1): the exit's PTR answer for an IP address. */
export async function resolvePtr(socks: string | SocksAddress, ip: string, options: ResolveOptions = {}): Promise<string> {
  if (!net.isIP(ip)) throw new UsageError(`resolvePtr needs an IP address, got ${JSON.stringify(ip)}`);
  const reply = await socks5Request(parseSocksAddress(socks), SOCKS5.RESOLVE_PTR, ip, 0, { credentials: isolationCredentials(options.isolation), timeout: options.timeout });
  if (reply.address === undefined) throw new SocksProtocolError(`RESOLVE_PTR ${ip}: empty answer`);
  return reply.address;
}
