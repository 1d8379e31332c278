/**
 * A live model of what one tor knows and does: routers (consensus + microdescriptors + GeoIP), circuits and
 * streams, kept current from CIRC, CIRC_MINOR, STREAM, NEWCONSENSUS and NS events.
 *
 * Start-up race. Events are subscribed first, then one GETINFO reads circuit-status, stream-status and
 * ns/all. Events dispatched while that reply is in flight may be older or newer than the snapshot (the
 * client cannot tell which side of the reply they were on), so the snapshot only ever moves an object
 * forward: circuit and stream statuses have an order (LAUNCHED < EXTENDED < BUILT < CLOSED), an object an
 * event has already closed is never resurrected, and the snapshot's router list is skipped when a
 * NEWCONSENSUS (always at least as new as the snapshot) arrived meanwhile.
 */
import type { TorClient } from '../client.js';
import { ProtocolError, UsageError } from '../errors.js';
import { parseEvent, relaySpec, type CircEvent, type CircMinorEvent, type HostPort, type RelaySpec, type StreamEvent } from '../events.js';
import { assertWord, buildCommand } from '../protocol/encoder.js';
import { CircuitError, StreamError } from './errors.js';
import { parseMicrodescriptor, type Microdescriptor } from './microdesc.js';
import { parseNetworkStatus, type RouterStatus } from './ns.js';

export interface Router extends RouterStatus {
  /** Lower-case country code from tor's GeoIP database (`ip-to-country`); undefined if unknown (`??`). */
  country?: string;
  /** Fetched when the consensus entry has no exit policy (clients use microdescriptors). */
  microdescriptor?: Microdescriptor;
}

export interface TorStateOptions {
  /** Fetch each router's microdescriptor for its exit policy summary (default true). */
  microdescriptors?: boolean;
  /** Look up each router's country with `ip-to-country` (default true). */
  countries?: boolean;
}

export interface BuildCircuitOptions {
  /** `general` (default: tor may put its own streams on it too) or `controller` (only attached streams). */
  purpose?: 'general' | 'controller';
  /** How long to wait for BUILT, in ms (default 60 s). */
  timeout?: number;
}

/** RELAY_END reasons (tor-spec §6.3), for CLOSESTREAM. */
export const STREAM_CLOSE_REASONS = {
  MISC: 1,
  RESOLVEFAILED: 2,
  CONNECTREFUSED: 3,
  EXITPOLICY: 4,
  DESTROY: 5,
  DONE: 6,
  TIMEOUT: 7,
  NOROUTE: 8,
  HIBERNATING: 9,
  INTERNAL: 10,
  RESOURCELIMIT: 11,
  CONNRESET: 12,
  TORPROTOCOL: 13,
  NOTDIRECTORY: 14,
} as const;
export type StreamCloseReason = keyof typeof STREAM_CLOSE_REASONS;

export interface TorStateEvents {
  /** A circuit appeared or changed; `event` is what changed it. Closed circuits leave `state.circuits`. */
  circuit: (circuit: Circuit, event: CircEvent | CircMinorEvent) => void;
  stream: (stream: Stream, event: StreamEvent) => void;
  /** Routers added or changed by a consensus, an NS event or `refreshRouters()`. */
  routers: (routers: Router[]) => void;
  /** A background refresh failed (the model keeps its previous routers). */
  error: (err: Error) => void;
}

const CIRC_RANK: Record<string, number> = { LAUNCHED: 0, EXTENDED: 1, GUARD_WAIT: 2, BUILT: 3, FAILED: 4, CLOSED: 4 };
const STREAM_RANK: Record<string, number> = {
  NEW: 0,
  NEWRESOLVE: 0,
  CONTROLLER_WAIT: 0,
  DETACHED: 0,
  SENTCONNECT: 1,
  SENTRESOLVE: 1,
  REMAP: 2,
  SUCCEEDED: 3,
  FAILED: 4,
  CLOSED: 4,
};
const isEnd = (status: string) => status === 'FAILED' || status === 'CLOSED';
/** How many closed circuits and streams stay findable (a build can finish before its EXTENDED reply). */
const RECENT = 256;

// Lets TorState update Circuit/Stream without giving everyone a setter.
const APPLY = Symbol('apply');
const END = Symbol('end');

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (err: Error) => void;
}

export class Circuit {
  readonly id: string;
  #state: TorState;
  #e: CircEvent | undefined;
  #built: Array<Waiter<Circuit>> = [];
  #closed: Array<Waiter<Circuit>> = [];

  constructor(state: TorState, id: string) {
    this.#state = state;
    this.id = id;
  }

  /** The model this circuit belongs to (its tor). */
  get state(): TorState {
    return this.#state;
  }

  /** LAUNCHED until tor's first event about it; then tor's status (BUILT, EXTENDED, GUARD_WAIT, CLOSED…). */
  get status(): CircEvent['status'] {
    return this.#e?.status ?? 'LAUNCHED';
  }
  get path(): readonly RelaySpec[] {
    return this.#e?.path ?? [];
  }
  /** The path as routers of the current consensus (undefined for a hop the consensus does not list). */
  get routers(): Array<Router | undefined> {
    return this.path.map((hop) => this.#state.routers.get(hop.fingerprint));
  }
  get purpose(): string | undefined {
    return this.#e?.purpose;
  }
  get buildFlags(): readonly string[] {
    return this.#e?.buildFlags ?? [];
  }
  get hsState(): string | undefined {
    return this.#e?.hsState;
  }
  get rendQuery(): string | undefined {
    return this.#e?.rendQuery;
  }
  get timeCreated(): Date | undefined {
    return this.#e?.timeCreated;
  }
  /** Milliseconds since tor created it (by this machine's clock). */
  get age(): number | undefined {
    const t = this.#e?.timeCreated;
    return t === undefined ? undefined : Date.now() - t.getTime();
  }
  get reason(): string | undefined {
    return this.#e?.reason;
  }
  get remoteReason(): string | undefined {
    return this.#e?.remoteReason;
  }
  get socksUsername(): string | undefined {
    return this.#e?.socksUsername;
  }
  get isOpen(): boolean {
    return !isEnd(this.status);
  }
  /** Streams currently attached to this circuit. */
  get streams(): Stream[] {
    return [...this.#state.streams.values()].filter((s) => s.circuitId === this.id);
  }

  /** Resolves once BUILT; rejects with CircuitError (tor's REASON) if it fails or closes first. */
  whenBuilt(timeout = 60_000): Promise<this> {
    if (this.status === 'BUILT') return Promise.resolve(this);
    if (!this.isOpen) return Promise.reject(this.#error());
    return this.#wait(this.#built, timeout, 'BUILT') as Promise<this>;
  }

  /** Resolves once tor reports it FAILED or CLOSED. */
  whenClosed(timeout = 60_000): Promise<this> {
    if (!this.isOpen) return Promise.resolve(this);
    return this.#wait(this.#closed, timeout, 'CLOSED') as Promise<this>;
  }

  /** CLOSECIRCUIT, then wait for tor's CLOSED event. `ifUnused`: tor closes it only if no stream uses it. */
  async close(options: { ifUnused?: boolean } = {}): Promise<void> {
    if (!this.isOpen) return;
    const closed = this.whenClosed();
    closed.catch(() => {});
    await this.#state.client.request(buildCommand('CLOSECIRCUIT', options.ifUnused ? [this.id, 'IfUnused'] : [this.id]));
    if (!options.ifUnused) await closed;
  }

  toJSON(): object {
    return { id: this.id, status: this.status, purpose: this.purpose, path: this.path, buildFlags: this.buildFlags, timeCreated: this.timeCreated, reason: this.reason };
  }

  [APPLY](e: CircEvent | CircMinorEvent): void {
    const prev = this.#e;
    // CIRC_MINOR changes purpose or HS state, never the status.
    const next: CircEvent = e.type === 'CIRC' ? e : { ...e, type: 'CIRC', status: this.status };
    // Later events omit what earlier ones said (REASON only at the end, no path while LAUNCHED).
    this.#e = prev ? { ...next, path: next.path.length ? next.path : prev.path, timeCreated: next.timeCreated ?? prev.timeCreated, purpose: next.purpose ?? prev.purpose } : next;
    if (e.type !== 'CIRC') return;
    if (e.status === 'BUILT') for (const w of this.#built.splice(0)) w.resolve(this);
    if (isEnd(e.status)) {
      const err = this.#error();
      for (const w of this.#built.splice(0)) w.reject(err);
      for (const w of this.#closed.splice(0)) w.resolve(this);
    }
  }

  [END](err: Error): void {
    for (const w of [...this.#built.splice(0), ...this.#closed.splice(0)]) w.reject(err);
  }

  #error(): CircuitError {
    return new CircuitError(this.id, this.status, this.reason, this.remoteReason);
  }

  #wait(list: Array<Waiter<Circuit>>, timeout: number, what: string): Promise<Circuit> {
    return new Promise((resolve, reject) => {
      const w: Waiter<Circuit> = {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      const timer = setTimeout(() => {
        const i = list.indexOf(w);
        if (i >= 0) list.splice(i, 1);
        reject(new CircuitError(this.id, 'TIMEOUT', undefined, undefined, `circuit ${this.id} not ${what} within ${timeout} ms (last status ${this.status})`));
      }, timeout);
      list.push(w);
    });
  }
}

export class Stream {
  readonly id: string;
  #state: TorState;
  #e: StreamEvent;
  #closed: Array<Waiter<Stream>> = [];

  constructor(state: TorState, e: StreamEvent) {
    this.#state = state;
    this.id = e.id;
    this.#e = e;
  }

  get status(): StreamEvent['status'] {
    return this.#e.status;
  }
  /** '0' while attached to no circuit. */
  get circuitId(): string {
    return this.#e.circuitId;
  }
  get circuit(): Circuit | undefined {
    return this.#state.circuits.get(this.#e.circuitId);
  }
  get target(): HostPort {
    return this.#e.target;
  }
  /** The application's end of the SOCKS connection (NEW events only; kept afterwards). */
  get sourceAddr(): HostPort | undefined {
    return this.#e.sourceAddr;
  }
  get purpose(): string | undefined {
    return this.#e.purpose;
  }
  get reason(): string | undefined {
    return this.#e.reason;
  }
  get remoteReason(): string | undefined {
    return this.#e.remoteReason;
  }
  get socksUsername(): string | undefined {
    return this.#e.socksUsername;
  }
  get isOpen(): boolean {
    return !isEnd(this.status);
  }

  /** ATTACHSTREAM: the stream must be waiting for a controller (`__LeaveStreamsUnattached 1`). */
  async attach(circuit: Circuit | string, options: { hop?: number } = {}): Promise<void> {
    const id = typeof circuit === 'string' ? assertWord(circuit, 'circuit id') : circuit.id;
    const parts = [this.id, id];
    if (options.hop !== undefined) parts.push(`HOP=${options.hop}`);
    await this.#state.client.request(buildCommand('ATTACHSTREAM', parts));
  }

  /** CLOSESTREAM with a RELAY_END reason, then wait for tor's CLOSED/FAILED event. */
  async close(reason: StreamCloseReason | number = 'MISC'): Promise<void> {
    if (!this.isOpen) return;
    const code = typeof reason === 'number' ? reason : STREAM_CLOSE_REASONS[reason];
    if (!Number.isInteger(code) || code < 1 || code > 255) throw new UsageError(`stream close reason must be a RELAY_END reason or 1–255, got ${reason}`);
    const closed = this.whenClosed();
    closed.catch(() => {});
    await this.#state.client.request(buildCommand('CLOSESTREAM', [this.id, String(code)]));
    await closed;
  }

  whenClosed(timeout = 60_000): Promise<this> {
    if (!this.isOpen) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#closed.indexOf(w);
        if (i >= 0) this.#closed.splice(i, 1);
        reject(new StreamError(this.id, 'TIMEOUT', undefined, undefined, `stream ${this.id} not closed within ${timeout} ms`));
      }, timeout);
      const w: Waiter<Stream> = { resolve: (v) => (clearTimeout(timer), resolve(v as this)), reject: (e) => (clearTimeout(timer), reject(e)) };
      this.#closed.push(w);
    });
  }

  toJSON(): object {
    return { id: this.id, status: this.status, circuitId: this.circuitId, target: this.target, reason: this.reason };
  }

  [APPLY](e: StreamEvent): void {
    const prev = this.#e;
    this.#e = {
      ...e,
      sourceAddr: e.sourceAddr ?? prev.sourceAddr,
      purpose: e.purpose ?? prev.purpose,
      socksUsername: e.socksUsername ?? prev.socksUsername,
      socksPassword: e.socksPassword ?? prev.socksPassword,
    };
    if (isEnd(e.status)) for (const w of this.#closed.splice(0)) w.resolve(this);
  }

  [END](err: Error): void {
    for (const w of this.#closed.splice(0)) w.reject(err);
  }
}

type Listeners = { [K in keyof TorStateEvents]: Set<TorStateEvents[K]> };

export class TorState {
  readonly client: TorClient;
  readonly #options: Required<TorStateOptions>;
  #routers = new Map<string, Router>();
  #circuits = new Map<string, Circuit>();
  #streams = new Map<string, Stream>();
  /** Closed ones, newest last, so a late lookup (EXTENDED reply after CLOSED) still finds them. */
  #recentCircuits = new Map<string, Circuit>();
  #recentStreams = new Map<string, Stream>();
  #countries = new Map<string, string | undefined>();
  #listeners: Listeners = { circuit: new Set(), stream: new Set(), routers: new Set(), error: new Set() };
  #offs: Array<() => Promise<void>> = [];
  #routerQueue: Promise<void> = Promise.resolve();
  #consensusEvents = 0;
  #closed = false;

  private constructor(client: TorClient, options: TorStateOptions) {
    this.client = client;
    this.#options = { microdescriptors: options.microdescriptors ?? true, countries: options.countries ?? true };
  }

  /** Subscribe, read the current state, and resolve once routers, circuits and streams are loaded. */
  static async create(client: TorClient, options: TorStateOptions = {}): Promise<TorState> {
    const state = new TorState(client, options);
    try {
      await state.#start();
    } catch (err) {
      await state.close();
      throw err;
    }
    return state;
  }

  /** By fingerprint (upper-case hex). */
  get routers(): ReadonlyMap<string, Router> {
    return this.#routers;
  }
  /** Open circuits by id. */
  get circuits(): ReadonlyMap<string, Circuit> {
    return this.#circuits;
  }
  /** Open streams by id. */
  get streams(): ReadonlyMap<string, Stream> {
    return this.#streams;
  }

  /** A router by `$FP`, `FP`, `$FP~nick` or nickname (first match; nicknames are not unique). */
  router(spec: string): Router | undefined {
    const relay = relaySpec(spec);
    if (relay) return this.#routers.get(relay.fingerprint.toUpperCase());
    for (const r of this.#routers.values()) if (r.nickname === spec) return r;
    return undefined;
  }

  /** An open or recently closed circuit. */
  circuit(id: string): Circuit | undefined {
    return this.#circuits.get(id) ?? this.#recentCircuits.get(id);
  }

  stream(id: string): Stream | undefined {
    return this.#streams.get(id) ?? this.#recentStreams.get(id);
  }

  on<K extends keyof TorStateEvents>(name: K, listener: TorStateEvents[K]): () => void {
    (this.#listeners[name] as Set<TorStateEvents[K]>).add(listener);
    return () => (this.#listeners[name] as Set<TorStateEvents[K]>).delete(listener);
  }

  /**
   * EXTENDCIRCUIT 0 with the given hops (routers, fingerprints or nicknames), or a path tor picks when none is
   * given. Resolves with the circuit once BUILT; rejects with CircuitError carrying tor's REASON.
   */
  async buildCircuit(path: Array<Router | string> = [], options: BuildCircuitOptions = {}): Promise<Circuit> {
    const parts = ['0'];
    if (path.length) parts.push(path.map(hopSpec).join(','));
    if (options.purpose) parts.push(`purpose=${options.purpose}`);
    const reply = await this.client.request(buildCommand('EXTENDCIRCUIT', parts));
    const text = reply.lines[reply.lines.length - 1]!.text;
    const m = /^EXTENDED (\S+)$/.exec(text);
    if (!m) throw new ProtocolError('EXTENDCIRCUIT reply is not "EXTENDED <id>"', text);
    const id = m[1]!;
    let circuit = this.circuit(id);
    if (!circuit) {
      circuit = new Circuit(this, id);
      this.#circuits.set(id, circuit);
    }
    try {
      return await circuit.whenBuilt(options.timeout);
    } catch (err) {
      // Nobody will use a circuit we gave up on; left open, tor would finish building it for nothing.
      if (err instanceof CircuitError && err.status === 'TIMEOUT' && circuit.isOpen) {
        await this.client.request(buildCommand('CLOSECIRCUIT', [id])).catch(() => {});
      }
      throw err;
    }
  }

  /** Re-read ns/all (and microdescriptors, countries) now, e.g. after descriptors arrived. */
  refreshRouters(): Promise<void> {
    return this.client.getInfo('ns/all').then((doc) => this.#queueRouters(doc, true));
  }

  /** Stop following tor (unsubscribe); pending waits reject. The client stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new UsageError('TorState closed');
    for (const c of this.#circuits.values()) c[END](err);
    for (const s of this.#streams.values()) s[END](err);
    const offs = this.#offs.splice(0);
    if (!this.client.connection.isClosed) await Promise.all(offs.map((off) => off().catch(() => {})));
  }

  async #start(): Promise<void> {
    const subs = await Promise.allSettled([
      this.client.on('CIRC', (e) => this.#onCirc(e, false)),
      this.client.on('STREAM', (e) => this.#onStream(e, false)),
      // Purpose and HS state change without a CIRC event (conflux linking, HS circuits reused, cannibalized).
      this.client.on('CIRC_MINOR', (e) => this.#onCircMinor(e)),
      this.client.on('NEWCONSENSUS', (e) => {
        this.#consensusEvents++;
        this.#queueRouters(e.document, true).catch(() => {});
      }),
      this.client.on('NS', (e) => void this.#queueRouters(e.document, false).catch(() => {})),
    ]);
    for (const s of subs) if (s.status === 'fulfilled') this.#offs.push(s.value);
    const failed = subs.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const offClose = this.client.connection.onClose((err) => {
      for (const c of this.#circuits.values()) c[END](err);
      for (const s of this.#streams.values()) s[END](err);
    });
    this.#offs.push(async () => void offClose());

    const consensusBefore = this.#consensusEvents;
    const info = await this.client.getInfo(['circuit-status', 'stream-status', 'ns/all']);
    for (const line of dataLines(info['circuit-status'])) this.#onCirc(statusLine('CIRC', line), true);
    for (const line of dataLines(info['stream-status'])) this.#onStream(statusLine('STREAM', line), true);
    if (this.#consensusEvents === consensusBefore) await this.#queueRouters(info['ns/all'] ?? '', true);
    else await this.#routerQueue;
  }

  #onCirc(e: CircEvent, snapshot: boolean): void {
    if (this.#closed) return;
    let c = this.#circuits.get(e.id);
    if (snapshot && (this.#recentCircuits.has(e.id) || (c && rank(CIRC_RANK, c.status) >= rank(CIRC_RANK, e.status)))) return;
    if (!c) {
      const recent = this.#recentCircuits.get(e.id);
      // A second CLOSED after FAILED (tor sends both) updates the closed record, nothing else.
      if (recent) return recent[APPLY](e);
      c = new Circuit(this, e.id);
      this.#circuits.set(e.id, c);
    }
    c[APPLY](e);
    if (isEnd(e.status)) {
      this.#circuits.delete(e.id);
      remember(this.#recentCircuits, e.id, c);
    }
    this.#emit('circuit', c, e);
  }

  #onCircMinor(e: CircMinorEvent): void {
    const c = this.#circuits.get(e.id);
    if (!c || this.#closed) return;
    c[APPLY](e);
    this.#emit('circuit', c, e);
  }

  #onStream(e: StreamEvent, snapshot: boolean): void {
    if (this.#closed) return;
    let s = this.#streams.get(e.id);
    if (snapshot && (this.#recentStreams.has(e.id) || (s && rank(STREAM_RANK, s.status) >= rank(STREAM_RANK, e.status)))) return;
    if (!s) {
      const recent = this.#recentStreams.get(e.id);
      if (recent) return recent[APPLY](e);
      s = new Stream(this, e);
      this.#streams.set(e.id, s);
    }
    s[APPLY](e);
    if (isEnd(e.status)) {
      this.#streams.delete(e.id);
      remember(this.#recentStreams, e.id, s);
    }
    this.#emit('stream', s, e);
  }

  /** Router updates run one at a time, in arrival order: each needs its own GETINFO round trips. */
  #queueRouters(document: string, full: boolean): Promise<void> {
    const run = this.#routerQueue.then(() => this.#applyRouters(document, full));
    this.#routerQueue = run.catch((err: Error) => this.#emit('error', err));
    return run;
  }

  async #applyRouters(document: string, full: boolean): Promise<void> {
    if (this.#closed) return;
    const statuses = parseNetworkStatus(document);
    // A router's digest changes with its microdescriptor: one already fetched for this digest is current.
    const needMd = this.#options.microdescriptors ? statuses.filter((s) => !s.exitPolicy && !this.#hasMicrodescriptor(s)) : [];
    const [mds] = await Promise.all([this.#microdescriptors(needMd), this.#lookupCountries(statuses)]);
    const routers = statuses.map((s): Router => {
      const md = mds.get(s.fingerprint) ?? this.#routers.get(s.fingerprint)?.microdescriptor;
      const r: Router = { ...s, country: this.#countries.get(s.address) };
      if (md) {
        r.microdescriptor = md;
        r.exitPolicy ??= md.exitPolicy;
      }
      return r;
    });
    if (full) this.#routers = new Map(routers.map((r) => [r.fingerprint, r]));
    else for (const r of routers) this.#routers.set(r.fingerprint, r);
    this.#emit('routers', routers);
  }

  #hasMicrodescriptor(s: RouterStatus): boolean {
    const known = this.#routers.get(s.fingerprint);
    return known?.microdescriptor !== undefined && known.digest === s.digest;
  }

  /** One GETINFO per router, pipelined: a key tor cannot answer (no md yet) fails only its own command. */
  async #microdescriptors(statuses: RouterStatus[]): Promise<Map<string, Microdescriptor>> {
    const out = new Map<string, Microdescriptor>();
    await Promise.all(
      statuses.map((s) =>
        this.client.getInfo(`md/id/${s.fingerprint}`).then(
          (text) => {
            if (text) out.set(s.fingerprint, parseMicrodescriptor(text));
          },
          () => {},
        ),
      ),
    );
    return out;
  }

  /** All unknown addresses in one GETINFO; a tor without GeoIP data fails it, leaving countries unknown. */
  async #lookupCountries(statuses: RouterStatus[]): Promise<void> {
    if (!this.#options.countries) return;
    const todo = [...new Set(statuses.map((s) => s.address))].filter((a) => !this.#countries.has(a));
    if (!todo.length) return;
    try {
      const answers = await this.client.getInfo(todo.map((a) => `ip-to-country/${a}`));
      for (const a of todo) {
        const cc = answers[`ip-to-country/${a}`];
        this.#countries.set(a, cc && cc !== '??' ? cc.toLowerCase() : undefined);
      }
    } catch (err) {
      if (this.client.connection.isClosed) throw err;
    }
  }

  #emit<K extends keyof TorStateEvents>(name: K, ...args: Parameters<TorStateEvents[K]>): void {
    const set = this.#listeners[name] as Set<(...a: Parameters<TorStateEvents[K]>) => void>;
    if (name === 'error' && !set.size) {
      process.emitWarning(args[0] as Error);
      return;
    }
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (err) {
        // A listener's bug must not stop the model from following tor.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

function hopSpec(hop: Router | string): string {
  if (typeof hop !== 'string') return `$${hop.fingerprint}`;
  if (/^[0-9A-Fa-f]{40}$/.test(hop)) return `$${hop.toUpperCase()}`;
  return assertWord(hop, 'relay');
}

function rank(table: Record<string, number>, status: string): number {
  return table[status] ?? 0;
}

function remember<T>(map: Map<string, T>, id: string, value: T): void {
  map.delete(id);
  map.set(id, value);
  if (map.size > RECENT) map.delete(map.keys().next().value!);
}

function dataLines(value: string | undefined): string[] {
  return (value ?? '').split('\n').filter((l) => l !== '');
}

/** circuit-status / stream-status lines have the shape of the CIRC / STREAM events after their name. */
function statusLine<K extends 'CIRC' | 'STREAM'>(type: K, line: string): K extends 'CIRC' ? CircEvent : StreamEvent {
  const e = parseEvent({ code: 650, lines: [{ code: 650, sep: ' ', text: `${type} ${line}` }] });
  return e as K extends 'CIRC' ? CircEvent : StreamEvent;
}
