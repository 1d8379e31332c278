/**
 * Attach policies (first match wins): a policy that can never match, or that an earlier policy always
 * matches first, is dead configuration whose author expected it to decide something. The checks only
 * report what is certain; a pattern they cannot reason about is assumed to match.
 */
import { BlockList, isIP } from 'node:net';
import { globToRegExp } from '../../reconcile/attach/match.js';
import type { AttachMatch, AttachPolicy } from '../../spec/model.js';
import type { Rule, RuleHit } from '../types.js';

function hit(policy: AttachPolicy, index: number, message: string): RuleHit {
  return { message, at: ['attach', 'policies', index], source: policy.source };
}

const WILDCARD = /[*?]/;

/** Whether some name ending in `.onion` matches host glob `p`. */
function mayMatchOnion(p: string): boolean {
  return /[*?]$/.test(p) || /\.onion$/i.test(p);
}

/** Whether `p` only matches `.onion` names. */
function onlyOnion(p: string): boolean {
  return /\.onion$/i.test(p);
}

/** Whether some IP address literal matches host glob `p` (letters beyond a-f, `-` or `_` rule it out). */
function mayMatchIp(p: string): boolean {
  return /^[0-9a-f.:*?[\]]*$/i.test(p);
}

/** Why no stream can satisfy every condition of `m`, or undefined when one may. */
export function neverMatches(m: AttachMatch): string | undefined {
  if (m.onion === true && m.cidrs?.length) return 'it asks for .onion targets and for IP networks, and an onion address is never an IP address';
  if (m.onion === true && m.hosts?.length && !m.hosts.some(mayMatchOnion)) return `it asks for .onion targets, and none of its hosts (${m.hosts.join(', ')}) can be one`;
  if (m.onion === false && m.hosts?.length && m.hosts.every(onlyOnion)) return `it excludes .onion targets, and all its hosts (${m.hosts.join(', ')}) are .onion names`;
  if (m.cidrs?.length && m.hosts?.length && !m.hosts.some(mayMatchIp)) return `its networks match only IP addresses, and none of its hosts (${m.hosts.join(', ')}) can be one`;
  return undefined;
}

/** Every name glob `inner` matches, glob `outer` matches too (decided only where certain). */
function globCovers(outer: string, inner: string): boolean {
  if (outer === '*' || outer === inner) return true;
  if (!WILDCARD.test(inner)) return globToRegExp(outer).test(inner);
  // `*.example.com` covers `*.a.example.com`: a literal suffix after one leading star.
  const suffix = outer.startsWith('*') ? outer.slice(1) : undefined;
  return suffix !== undefined && !WILDCARD.test(suffix) && inner.toLowerCase().endsWith(suffix.toLowerCase());
}

function cidrCovers(outer: string, inner: string): boolean {
  const [oa, ob] = outer.split('/') as [string, string];
  const [ia, ib] = inner.split('/') as [string, string];
  const family = isIP(oa) === 6 ? 'ipv6' : 'ipv4';
  if ((isIP(ia) === 6 ? 'ipv6' : 'ipv4') !== family || Number(ib) < Number(ob)) return false;
  const list = new BlockList();
  list.addSubnet(oa, Number(ob), family);
  return list.check(ia, family);
}

/** Whether every stream `later` matches is matched by `earlier` (so `later` never decides). */
export function covers(earlier: AttachMatch, later: AttachMatch): boolean {
  if (earlier.hosts?.length) {
    const byOnion = later.onion === true && earlier.hosts.includes('*.onion');
    if (!byOnion && !(later.hosts?.length && later.hosts.every((h) => earlier.hosts!.some((e) => globCovers(e, h))))) return false;
  }
  if (earlier.cidrs?.length && !(later.cidrs?.length && later.cidrs.every((c) => earlier.cidrs!.some((e) => cidrCovers(e, c))))) return false;
  if (earlier.ports?.length && !(later.ports?.length && later.ports.every(([a, b]) => earlier.ports!.some(([x, y]) => x <= a && b <= y)))) return false;
  if (earlier.onion !== undefined && later.onion !== earlier.onion) {
    const impliedOnion = later.hosts?.length && later.hosts.every(onlyOnion);
    const impliedClearnet = later.cidrs?.length;
    if (!(earlier.onion ? impliedOnion : impliedClearnet)) return false;
  }
  if (earlier.socksUsername !== undefined && !(later.socksUsername !== undefined && globCovers(earlier.socksUsername, later.socksUsername))) return false;
  if (earlier.sessionGroup !== undefined && later.sessionGroup !== earlier.sessionGroup) return false;
  return true;
}

export const attachNeverMatches: Rule = {
  id: 'TR040',
  name: 'attach-never-matches',
  severity: 'warning',
  summary: 'An attach policy whose conditions can never all hold',
  rationale:
    'Every condition of a policy\'s `match` must hold for a stream. Some combinations exclude each other (an onion target with an IP network; `onion: true` with hosts that cannot end in `.onion`), so the policy never applies and its streams fall through to later policies or the default. That is the opposite of what the policy was written for, typically a reject or a pinned exit that silently does nothing.',
  sources: ['tor-reconcile README, "The spec" (attach policies: first match wins; every condition of a match must hold)'],
  fix: 'Split the policy into one per kind of target, or remove the condition that cannot hold.',
  *check(config) {
    for (const [i, policy] of (config.state.attach?.policies ?? []).entries()) {
      const why = neverMatches(policy.match);
      if (why) yield hit(policy, i, `attach policy "${policy.name}" can never match: ${why}`);
    }
  },
};

export const attachShadowed: Rule = {
  id: 'TR041',
  name: 'attach-shadowed',
  severity: 'warning',
  summary: 'An attach policy every stream of which an earlier policy matches first',
  rationale:
    'Policies are tried in order and the first match wins. A policy whose streams all match an earlier one (a narrower host after a broader glob, a port inside an earlier range, anything after a policy with no conditions) never decides anything: its action, circuit and failure handling are dead.',
  sources: ['tor-reconcile README, "The spec" (attach policies: first match wins)'],
  fix: 'Move the narrower policy above the broader one, or remove it.',
  *check(config) {
    const policies = config.state.attach?.policies ?? [];
    for (const [j, later] of policies.entries()) {
      if (neverMatches(later.match)) continue;
      const earlier = policies.slice(0, j).find((e) => !neverMatches(e.match) && covers(e.match, later.match));
      if (earlier) yield hit(later, j, `attach policy "${later.name}" never applies: every stream it matches is matched first by "${earlier.name}"`);
    }
  },
};

export const attachRules: Rule[] = [attachNeverMatches, attachShadowed];
