/** Which policy decides a stream: the first whose every condition holds. Pure. */
import { BlockList, isIP } from 'node:net';
import type { AttachMatch, AttachPolicy, AttachSpec } from '../../spec/model.js';

export interface StreamTarget {
  /** Host name or IP address the application asked for. */
  host: string;
  port: number;
  socksUsername?: string;
  sessionGroup?: number;
}

export type Decision = { policy: AttachPolicy } | { policy: undefined; action: 'tor' | 'reject' };

/** Compiled once per spec: globs become regular expressions, networks a BlockList. */
export class PolicyMatcher {
  readonly #compiled: Array<{ policy: AttachPolicy; test: (s: StreamTarget) => boolean }>;
  readonly #default: 'tor' | 'reject';

  constructor(spec: AttachSpec) {
    this.#compiled = spec.policies.map((policy) => ({ policy, test: compileMatch(policy.match) }));
    this.#default = spec.default;
  }

  decide(stream: StreamTarget): Decision {
    for (const c of this.#compiled) if (c.test(stream)) return { policy: c.policy };
    return { policy: undefined, action: this.#default };
  }
}

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function compileMatch(m: AttachMatch): (s: StreamTarget) => boolean {
  const tests: Array<(s: StreamTarget) => boolean> = [];
  if (m.hosts?.length) {
    const res = m.hosts.map(globToRegExp);
    tests.push((s) => res.some((r) => r.test(s.host.replace(/\.$/, ''))));
  }
  if (m.cidrs?.length) {
    const list = new BlockList();
    for (const c of m.cidrs) {
      const [addr, bits] = c.split('/') as [string, string];
      list.addSubnet(addr, Number(bits), isIP(addr) === 6 ? 'ipv6' : 'ipv4');
    }
    tests.push((s) => {
      const host = s.host.replace(/^\[|\]$/g, '');
      const v = isIP(host);
      return v !== 0 && list.check(host, v === 6 ? 'ipv6' : 'ipv4');
    });
  }
  if (m.ports?.length) {
    const ranges = m.ports;
    tests.push((s) => ranges.some(([a, b]) => s.port >= a && s.port <= b));
  }
  if (m.onion !== undefined) {
    const want = m.onion;
    tests.push((s) => /\.onion\.?$/i.test(s.host) === want);
  }
  if (m.socksUsername !== undefined) {
    const re = globToRegExp(m.socksUsername);
    tests.push((s) => s.socksUsername !== undefined && re.test(s.socksUsername));
  }
  if (m.sessionGroup !== undefined) {
    const g = m.sessionGroup;
    tests.push((s) => s.sessionGroup === g);
  }
  return (s) => tests.every((t) => t(s));
}
