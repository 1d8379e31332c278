/**
 * Which attach policies tor can enforce by itself, as plain options that `apply` sets (no controller needs to
 * run), and which need `tor-reconcile watch`. Pure.
 *
 * Native, when the default is `tor` and either every policy lets tor choose, or the first policy matches every
 * stream (later ones are unreachable) and asks only for:
 * - exit countries → `ExitNodes {cc},…` + `StrictNodes 1`;
 * - maxDirtiness → `MaxCircuitDirtiness`;
 * - isolate per-host → `IsolateDestAddr` on each SocksPort line the spec manages.
 * Everything else (conditions, pinned paths, per-stream isolation, rejecting) is decided stream by stream.
 */
import type { AttachPolicy, AttachSpec, DesiredOption } from '../../spec/model.js';

export interface CompiledAttach {
  /** Options to set for the native policies (empty when none). */
  options: DesiredOption[];
  nativePolicies: string[];
  livePolicies: string[];
  /** Why a policy could not be native, or a policy that can never match. */
  notes: string[];
}

function matchesAll(p: AttachPolicy): boolean {
  return Object.keys(p.match).length === 0;
}

export function compileAttach(spec: AttachSpec | undefined, options: readonly DesiredOption[]): CompiledAttach {
  const out: CompiledAttach = { options: [], nativePolicies: [], livePolicies: [], notes: [] };
  if (!spec || (!spec.policies.length && spec.default === 'tor')) return out;
  const live = (why: string) => {
    out.livePolicies = spec.policies.map((p) => p.name);
    out.notes.push(why);
    return out;
  };
  if (spec.default === 'reject') return live('default: reject closes unmatched streams one by one');
  if (spec.policies.every((p) => p.action === 'tor')) {
    out.nativePolicies = spec.policies.map((p) => p.name);
    return out;
  }
  const [first, ...rest] = spec.policies as [AttachPolicy, ...AttachPolicy[]];
  if (!matchesAll(first) || first.action !== 'circuit') return live(`policy "${first.name}" matches only some streams`);
  const c = first.circuit!;
  if (c.path) return live(`policy "${first.name}" pins a path`);
  if (c.isolate === 'per-stream') return live(`policy "${first.name}" isolates per stream`);
  const socks = options.find((o) => o.name === 'SocksPort');
  if (c.isolate === 'per-host' && !socks?.value?.length) return live(`policy "${first.name}" isolates per host: compiling that needs SocksPort in options`);
  if (first.onFailure === 'reject') return live(`policy "${first.name}" closes streams it cannot place`);
  for (const r of rest) out.notes.push(`policy "${r.name}" can never match: "${first.name}" before it matches every stream`);
  const at = first.source;
  if (c.exitCountries?.length) {
    out.options.push({ name: 'ExitNodes', value: [c.exitCountries.map((cc) => `{${cc}}`).join(',')], immutable: false, source: at });
    out.options.push({ name: 'StrictNodes', value: ['1'], immutable: false, source: at });
  }
  if (c.maxDirtiness !== undefined) out.options.push({ name: 'MaxCircuitDirtiness', value: [String(c.maxDirtiness)], immutable: false, source: at });
  if (c.isolate === 'per-host') {
    const lines = socks!.value!.map((v) => (typeof v === 'string' && !/\bIsolateDestAddr\b/i.test(v) ? `${v} IsolateDestAddr` : v));
    out.options.push({ name: 'SocksPort', value: lines, immutable: false, source: at });
  }
  out.nativePolicies = spec.policies.map((p) => p.name);
  return out;
}
