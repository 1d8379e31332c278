/** `attach:`: stream-attach policies, what each matches and which circuit its streams get. */
import { isIP } from 'node:net';
import type { AttachCircuit, AttachMatch, AttachPolicy, AttachSpec } from '../model.js';
import { toTor, ValueError, type InputValue } from '../../tor/config/normalize.js';
import type { Loc, Path } from '../diagnostics.js';
import { pathLabel } from '../tree.js';
import { pos, where, type SpecReader } from './reader.js';

export function attach(r: SpecReader): AttachSpec | undefined {
  const entry = r.entry(['attach']);
  if (!entry || r.diags.hasErrorAt(['attach'])) return undefined;
  const policies: AttachPolicy[] = [];
  const names = r.uniqueBy<string>((name, first) => `duplicate attach policy name "${name}" (first at ${where(first)})`);
  const list = r.node(['attach', 'policies']);
  if (list?.kind === 'seq') {
    list.items.forEach((item, i) => {
      const p: Path = ['attach', 'policies', i];
      if (r.diags.hasErrorAt(p)) return;
      const nameNode = r.scalar([...p, 'name']);
      const name = typeof nameNode?.value === 'string' ? nameNode.value : '';
      if (nameNode) names.add(name, nameNode.loc, [...p, 'name'], nameNode.loc);
      const policy = attachPolicy(r, p, name, item.loc);
      if (policy) policies.push(policy);
    });
  }
  const dflt = r.str(['attach', 'default']);
  return { policies, default: dflt === 'reject' ? 'reject' : 'tor', source: pos(entry.keyLoc) };
}

function attachPolicy(r: SpecReader, p: Path, name: string, loc: Loc): AttachPolicy | undefined {
  const match: AttachMatch = {};
  const m = [...p, 'match'];
  const hosts = r.strings([...m, 'host']);
  if (hosts) match.hosts = hosts.map((h) => h.toLowerCase());
  const cidrs = parsedStrings(r, [...m, 'cidr'], cidr, 'a network such as 10.0.0.0/8 or 2001:db8::/32');
  if (cidrs) match.cidrs = cidrs;
  const portNode = r.node([...m, 'port']);
  if (portNode) {
    const items = portNode.kind === 'seq' ? portNode.items : [portNode];
    match.ports = [];
    for (const it of items) {
      if (it.kind !== 'scalar') continue;
      const range = typeof it.value === 'number' ? [it.value, it.value] : String(it.value).split('-').map(Number);
      const [from, to] = range as [number, number];
      if (!(from >= 1 && to <= 65535 && from <= to)) r.error(it.loc, `${pathLabel([...m, 'port'])}: ${String(it.value)} is not a port or a range of ports (1-65535, low-high)`, [...m, 'port']);
      else match.ports.push([from, to]);
    }
  }
  const onion = r.scalar([...m, 'onion'])?.value;
  if (typeof onion === 'boolean') match.onion = onion;
  const user = r.str([...m, 'socksUsername']);
  if (user !== undefined) match.socksUsername = user;
  const group = r.scalar([...m, 'sessionGroup'])?.value;
  if (typeof group === 'number') match.sessionGroup = group;

  const c = [...p, 'circuit'];
  const written = r.str([...p, 'action']) as AttachPolicy['action'] | undefined;
  const hasCircuit = r.node(c) !== undefined;
  const action = written ?? (hasCircuit ? 'circuit' : 'tor');
  if (action === 'circuit' && !hasCircuit) {
    r.error(r.keyLoc([...p, 'action']), `attach policy "${name}": action circuit needs a \`circuit:\` saying which`, [...p, 'action']);
    return undefined;
  }
  if (action !== 'circuit' && hasCircuit) {
    r.error(r.keyLoc(c), `attach policy "${name}": \`circuit:\` only applies to action circuit (this policy's action is ${action})`, c);
    return undefined;
  }
  const policy: AttachPolicy = {
    name,
    match,
    action,
    onFailure: r.str([...p, 'onFailure']) === 'reject' ? 'reject' : 'tor',
    deadlineMs: duration(r, [...p, 'deadline'], 'TimeMsecInterval') ?? 15_000,
    source: pos(loc),
  };
  if (hasCircuit) {
    const circuit: AttachCircuit = { isolate: (r.str([...c, 'isolate']) as AttachCircuit['isolate'] | undefined) ?? 'none' };
    const countries = r.strings([...c, 'exitCountry']);
    if (countries) circuit.exitCountries = countries.map((x) => x.toLowerCase());
    const hops = r.strings([...c, 'path']);
    const path = parsedStrings(r, [...c, 'path'], relayRef, 'a relay: give $FINGERPRINT (40 hex digits), a nickname, or *');
    if (path) circuit.path = path;
    if (countries && hops?.length && hops[hops.length - 1] !== '*') {
      r.error(r.keyLoc([...c, 'exitCountry']), `attach policy "${name}": the path fixes the exit relay, so exitCountry cannot also choose it`, [...c, 'exitCountry']);
    }
    const dirt = duration(r, [...c, 'maxDirtiness'], 'TimeInterval');
    if (dirt !== undefined) circuit.maxDirtiness = dirt;
    policy.circuit = circuit;
  }
  return policy;
}

/**
 * The strings at `p` (one or a list) as `parse` reads them, each it cannot read reported as not being
 * `what` (all at the list, whose items have no key to point at).
 */
function parsedStrings(r: SpecReader, p: Path, parse: (text: string) => string | undefined, what: string): string[] | undefined {
  const list = r.node(p);
  const texts = r.strings(p);
  if (!list || !texts) return undefined;
  const out: string[] = [];
  for (const text of texts) {
    const parsed = parse(text);
    if (parsed === undefined) r.error(list.loc, `${pathLabel(p)}: "${text}" is not ${what}`, p);
    else out.push(parsed);
  }
  return out;
}

/** A duration in tor's units (`10 minutes`, `500 msec`), as seconds or milliseconds by `type`. */
function duration(r: SpecReader, p: Path, type: 'TimeInterval' | 'TimeMsecInterval'): number | undefined {
  const n = r.scalar(p);
  if (!n) return undefined;
  try {
    return Number(toTor({ name: pathLabel(p), type, defaults: [], immutable: false }, n.value as InputValue)[0]);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    r.error(n.loc, err.message, p);
    return undefined;
  }
}

/** `$FINGERPRINT` (any case, `$` optional, normalized to `$` + uppercase), a nickname, or `*`. */
function relayRef(text: string): string | undefined {
  if (text === '*') return text;
  const fp = /^\$?([0-9A-Fa-f]{40})$/.exec(text);
  if (fp) return `$${fp[1]!.toUpperCase()}`;
  return /^[A-Za-z0-9]{1,19}$/.test(text) ? text : undefined;
}

/**
 * `ADDR/BITS` for IPv4 or IPv6 in the form the matcher's BlockList takes (without the spaces forgiven
 * here); undefined when malformed.
 */
function cidr(text: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const v = isIP(m[1]!);
  const bits = Number(m[2]);
  if (v === 0 || bits > (v === 6 ? 128 : 32)) return undefined;
  return `${m[1]!}/${bits}`;
}
