/**
 * Attach policies enforced live (in `watch`): each new stream is matched against the policies; a policy's
 * circuit is reused when one satisfies it, or built (EXTENDCIRCUIT) from relays chosen in TorState by flags,
 * country, exit policy and bandwidth weight. A stream whose circuit is not ready by the policy's deadline
 * gets the policy's failure action.
 */
import type { AttachCircuit, AttachPolicy, AttachSpec } from '../../spec/model.js';
import { StreamAttacher, type AttachDecision } from '../../tor/attacher.js';
import type { StreamEvent } from '../../tor/events.js';
import { policyAllows, REJECT_ALL, type Router, type TorState } from '../../tor/state/index.js';
import type { Circuit, Stream } from '../../tor/state/state.js';
import { PolicyMatcher } from './match.js';

export interface EngineLog {
  (level: 'info' | 'warn' | 'error', event: string, message: string, fields?: Record<string, unknown>): void;
}

export interface EngineStats {
  attached: number;
  rejected: number;
  fallbacks: number;
  circuitsBuilt: number;
  /** STREAM event → decision carried out (ms), most recent first bounded. */
  latencies: number[];
}

interface Owned {
  circuit: Circuit;
  /** Policy name + isolation key: which streams may share it. */
  key: string;
  firstUse?: number;
}

const LATENCY_SAMPLES = 10_000;

export class AttachEngine {
  readonly stats: EngineStats = { attached: 0, rejected: 0, fallbacks: 0, circuitsBuilt: 0, latencies: [] };
  #matcher: PolicyMatcher;
  #attacher!: StreamAttacher;
  #offHandler: (() => void) | undefined;
  #owned = new Map<string, Owned>();
  #building = new Map<string, Promise<Circuit>>();
  /** Policies in force: bumped by update(), so that a circuit built for older ones is never adopted. */
  #generation = 0;
  /** This tor's own relay identity and declared family (when it is a relay): never hops of its circuits. */
  #ownFamily = new Set<string>();

  private constructor(
    readonly state: TorState,
    spec: AttachSpec,
    readonly log: EngineLog,
  ) {
    this.#matcher = new PolicyMatcher(spec);
  }

  static async start(state: TorState, spec: AttachSpec, log: EngineLog): Promise<AttachEngine> {
    const e = new AttachEngine(state, spec, log);
    e.#ownFamily = await ownFamily(state);
    e.#attacher = StreamAttacher.for(state, {
      deadlineMs: attacherDeadline(spec),
      attached: (stream, decision, ms) => e.#record(stream, decision, ms),
      conflict: (message) => log('warn', 'attach-conflict', message),
      error: (err, stream) => log('error', 'attach', `stream ${stream.id} to ${stream.target.host}:${stream.target.port}: ${err.message}`),
    });
    e.#offHandler = e.#attacher.add((stream, event) => e.#decide(stream, event));
    await e.#attacher.acquire();
    return e;
  }

  /**
   * New policies for the streams to come. Circuits built for the old ones may break the new ones (another
   * exit country, a pinned path): they are no longer reused, nor are circuits still being built for them.
   */
  update(spec: AttachSpec): void {
    this.#matcher = new PolicyMatcher(spec);
    this.#owned.clear();
    this.#building.clear();
    this.#generation++;
    this.#attacher.setDeadline(attacherDeadline(spec));
  }

  async stop(): Promise<void> {
    this.#offHandler?.();
    await this.#attacher.release();
  }

  #record(_stream: Stream, decision: AttachDecision, ms: number): void {
    if (decision === 'tor' || !('reject' in decision)) this.stats.attached++;
    else this.stats.rejected++;
    if (this.stats.latencies.length >= LATENCY_SAMPLES) this.stats.latencies.shift();
    this.stats.latencies.push(ms);
    if (typeof decision === 'object' && !('reject' in decision)) {
      const owned = this.#owned.get(decision.id);
      if (owned && owned.firstUse === undefined) owned.firstUse = Date.now();
    }
  }

  async #decide(stream: Stream, event: StreamEvent): Promise<AttachDecision> {
    const target = { host: stream.target.host, port: stream.target.port, ...(stream.socksUsername !== undefined ? { socksUsername: stream.socksUsername } : {}), ...(event.sessionGroup !== undefined ? { sessionGroup: event.sessionGroup } : {}) };
    const d = this.#matcher.decide(target);
    if (!d.policy) return d.action === 'tor' ? 'tor' : { reject: 'MISC', why: 'no attach policy matches and the default is reject' };
    const policy = d.policy;
    if (policy.action === 'tor') return 'tor';
    if (policy.action === 'reject') {
      this.log('info', 'attach', `rejected stream to ${target.host}:${target.port} (policy ${policy.name})`, { policy: policy.name });
      return { reject: 'MISC', why: `attach policy ${policy.name}` };
    }
    try {
      return await withDeadline(this.#circuitFor(policy, target.host, target.port), policy.deadlineMs);
    } catch (err) {
      this.stats.fallbacks++;
      this.log('warn', 'attach', `no circuit for ${target.host}:${target.port} under policy ${policy.name} (${(err as Error).message}); ${policy.onFailure === 'tor' ? 'tor chooses' : 'stream closed'}`, { policy: policy.name });
      return policy.onFailure === 'tor' ? 'tor' : { reject: 'NOROUTE', why: `attach policy ${policy.name}: no circuit` };
    }
  }

  /** A BUILT circuit this engine owns that fits the policy and the stream, or a new one. */
  #circuitFor(policy: AttachPolicy, host: string, port: number): Promise<Circuit> {
    const c = policy.circuit!;
    const key = c.isolate === 'per-host' ? `${policy.name}\0${host.toLowerCase()}` : c.isolate === 'per-stream' ? `${policy.name}\0${Math.random()}` : policy.name;
    const now = Date.now();
    for (const [id, o] of this.#owned) {
      if (!o.circuit.isOpen) {
        this.#owned.delete(id);
        continue;
      }
      if (o.key !== key || o.circuit.status !== 'BUILT') continue;
      if (c.maxDirtiness !== undefined && o.firstUse !== undefined && now - o.firstUse > c.maxDirtiness * 1000) continue;
      const exit = o.circuit.routers.at(-1);
      if (exit && !exitAllows(exit, port)) continue;
      return Promise.resolve(o.circuit);
    }
    // Streams arriving together for one key share the circuit being built.
    const pending = this.#building.get(key);
    if (pending) return pending;
    const build: Promise<Circuit> = this.#build(policy, port, key).finally(() => {
      if (this.#building.get(key) === build) this.#building.delete(key);
    });
    this.#building.set(key, build);
    return build;
  }

  async #build(policy: AttachPolicy, port: number, key: string): Promise<Circuit> {
    const generation = this.#generation;
    let path: Router[];
    try {
      path = this.#choosePath(policy, port);
    } catch {
      // Fresh relays' descriptors (exit policies) may have arrived since the model last read them.
      await this.state.refreshRouters();
      path = this.#choosePath(policy, port);
    }
    const circuit = await this.state.buildCircuit(path, { purpose: 'general', timeout: policy.deadlineMs });
    this.stats.circuitsBuilt++;
    if (generation === this.#generation) this.#owned.set(circuit.id, { circuit, key });
    this.log('info', 'attach', `built circuit ${circuit.id} for policy ${policy.name}: ${path.map((r) => `${r.nickname}${r.country ? `(${r.country})` : ''}`).join(' → ')}`, { policy: policy.name, circuit: circuit.id });
    return circuit;
  }

  #choosePath(policy: AttachPolicy, port: number): Router[] {
    return choosePath(policy.circuit!, port, { routers: [...this.state.routers.values()], lookup: (h) => this.state.router(h), ownFamily: this.#ownFamily });
  }
}

export interface PathContext {
  routers: Router[];
  /** A relay by `$FINGERPRINT` or nickname. */
  lookup: (ref: string) => Router | undefined;
  /** This tor's own identity and family: never a hop. */
  ownFamily: ReadonlySet<string>;
  random?: () => number;
}

/**
 * Hops for a policy's circuit: pinned relays as given; `*` (and every hop when no path is pinned) chosen by
 * bandwidth weight among Running, Valid relays — a Guard first, an Exit that allows the port (and is in one
 * of the policy's countries) last — never two of one family (as microdescriptors declare it) nor one of this
 * tor's own family, as tor itself would not.
 */
export function choosePath(c: AttachCircuit, port: number, ctx: PathContext): Router[] {
  const spec = c.path ?? ['*', '*', '*'];
  const hops: Array<Router | undefined> = spec.map((h) => {
    if (h === '*') return undefined;
    const r = ctx.lookup(h);
    if (!r) throw new Error(`relay ${h} is not in the consensus`);
    return r;
  });
  const family = (r: Router) => new Set((r.microdescriptor?.family ?? []).map((f) => f.replace(/^\$/, '').replace(/[~=].*$/, '').toUpperCase()));
  const related = (r: Router, others: Router[]) => ctx.ownFamily.has(r.fingerprint) || others.some((o) => o === r || family(o).has(r.fingerprint) || family(r).has(o.fingerprint));
  const last = spec.length - 1;
  // The most constrained hop first: the exit, then the guard, then the middles.
  const order = [last, ...spec.keys()].filter((i, k, all) => all.indexOf(i) === k);
  for (const i of order) {
    if (hops[i]) continue;
    const others = hops.filter((h): h is Router => h !== undefined);
    const candidates = ctx.routers.filter(
      (r) =>
        usable(r) &&
        !related(r, others) &&
        (i === 0 && spec.length > 1 ? r.flags.includes('Guard') : true) &&
        (i === last ? r.flags.includes('Exit') && !r.flags.includes('BadExit') && exitAllows(r, port) && (!c.exitCountries?.length || c.exitCountries.includes(r.country ?? '')) : true),
    );
    const r = weighted(candidates, ctx.random ?? Math.random);
    if (!r) throw new Error(i === last ? `no exit relay${c.exitCountries?.length ? ` in ${c.exitCountries.join(', ')}` : ''} allows port ${port}` : `no relay for hop ${i + 1}`);
    hops[i] = r;
  }
  return hops as Router[];
}

/** A stream waits for the slowest policy's circuit, with a margin for the attach itself. */
function attacherDeadline(spec: AttachSpec): number {
  return Math.max(...spec.policies.map((p) => p.deadlineMs), 15_000) + 5_000;
}

/** `GETINFO fingerprint` and MyFamily, for a tor that is also a relay; empty for a client. */
async function ownFamily(state: TorState): Promise<Set<string>> {
  const out = new Set<string>();
  const fp = await state.client.getInfo('fingerprint').catch(() => '');
  if (/^[0-9A-F]{40}$/i.test(fp.trim().split(' ').pop() ?? '')) out.add(fp.trim().split(' ').pop()!.toUpperCase());
  const declared = (await state.client.getConf(['MyFamily']).catch(() => new Map<string, string[]>())).get('MyFamily') ?? [];
  for (const line of declared) for (const m of line.matchAll(/\$?([0-9A-Fa-f]{40})/g)) out.add(m[1]!.toUpperCase());
  return out;
}

function usable(r: Router): boolean {
  return r.flags.includes('Running') && r.flags.includes('Valid');
}

function exitAllows(r: Router, port: number): boolean {
  return policyAllows(r.exitPolicy ?? r.microdescriptor?.exitPolicy ?? REJECT_ALL, port);
}

/** A relay picked at random in proportion to its consensus weight (1 for unweighted relays). */
function weighted(rs: Router[], random: () => number): Router | undefined {
  const total = rs.reduce((n, r) => n + Math.max(r.bandwidth ?? 1, 1), 0);
  let x = random() * total;
  for (const r of rs) {
    x -= Math.max(r.bandwidth ?? 1, 1);
    if (x <= 0) return r;
  }
  return rs.at(-1);
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready within ${ms} ms`)), ms);
    }),
  ]);
}
