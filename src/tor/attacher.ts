/**
 * Stream attachment by the controller, as txtorcon's IStreamAttacher: with `__LeaveStreamsUnattached 1`
 * tor hands every new application stream to us; handlers, highest priority first, decide where it goes.
 * The first handler that returns a decision wins; if none does, tor chooses.
 *
 * A stream never waits forever: a decision that takes longer than the deadline (`deadlineMs`, changed with
 * `setDeadline`) falls back to tor's choice.
 * `__LeaveStreamsUnattached` survives the controller (tor does not reset it when we disconnect), so `stop()`
 * resets it, and `start()` takes over streams left waiting by a previous attacher that died.
 */
import { ReplyError, TorError, UsageError } from './errors.js';
import type { StreamEvent } from './events.js';
import type { Circuit, Stream, StreamCloseReason, TorState } from './state/state.js';

const OPTION = '__LeaveStreamsUnattached';

/** Where a stream goes: a circuit, tor's own choice, or closed with a RELAY_END reason. */
export type AttachDecision = Circuit | 'tor' | { reject: StreamCloseReason | number; why?: string };

/** Return undefined to let the next handler decide. */
export type AttachHandler = (stream: Stream, event: StreamEvent) => AttachDecision | undefined | Promise<AttachDecision | undefined>;

export interface AttacherEvents {
  /** A decision was carried out; `ms` from the stream's event to the command's reply. */
  attached?: (stream: Stream, decision: AttachDecision, ms: number) => void;
  /** Another controller seems to attach streams too (the option was already set, or tor refused ours). */
  conflict?: (message: string) => void;
  error?: (err: Error, stream: Stream) => void;
}

export interface AttacherOptions extends AttacherEvents {
  /** Longest a stream waits for a decision before tor chooses (default 30 s). */
  deadlineMs?: number;
}

/** Streams tor hands to the controller: new connects and resolves, and streams detached from a failed circuit. */
const WAITING = new Set(['NEW', 'NEWRESOLVE', 'DETACHED', 'CONTROLLER_WAIT']);

export class StreamAttacher {
  static #shared = new WeakMap<TorState, StreamAttacher>();

  /**
   * The one attacher of `state`, for users that come and go (connectVia): `__LeaveStreamsUnattached` is
   * tor-wide, so two attachers on one tor would fight over every stream. Pair `acquire()` with `release()`.
   * `options` configure the attacher when this call creates it; passing them for one that already exists
   * throws (they would be ignored): change its deadline with `setDeadline`.
   */
  static for(state: TorState, options?: AttacherOptions): StreamAttacher {
    let a = StreamAttacher.#shared.get(state);
    if (a && options) throw new UsageError('this TorState already has its StreamAttacher: options can only be given by the call that creates it (use setDeadline to change the deadline)');
    if (!a) StreamAttacher.#shared.set(state, (a = new StreamAttacher(state, options)));
    return a;
  }

  readonly state: TorState;
  #users = 0;
  #ready: Promise<void> | undefined;
  readonly #options: AttacherOptions;
  #deadlineMs: number;
  #handlers: Array<{ fn: AttachHandler; priority: number; order: number }> = [];
  #order = 0;
  #off: (() => void) | undefined;
  #inFlight = new Set<string>();
  /** Streams we decided and tor has not finished with (handed back on stop only if undecided). */
  #decided = new Set<string>();
  #stopped = false;

  /** Add handlers with `add()`, then `start()`: streams left waiting are decided as soon as it starts. */
  constructor(state: TorState, options: AttacherOptions = {}) {
    this.state = state;
    this.#options = options;
    this.#deadlineMs = checkDeadline(options.deadlineMs ?? 30_000);
  }

  /** The longest a stream waits for a decision, in ms. */
  get deadlineMs(): number {
    return this.#deadlineMs;
  }

  /** Change the deadline for decisions started from now on (those in progress keep theirs). */
  setDeadline(ms: number): void {
    this.#deadlineMs = checkDeadline(ms);
  }

  /** Start on first use; later users wait for the same start. */
  async acquire(): Promise<void> {
    if (this.#users++ === 0) this.#ready = this.start();
    try {
      await this.#ready;
    } catch (err) {
      this.#users--;
      throw err;
    }
  }

  /** Stop when the last user is done. */
  async release(): Promise<void> {
    if (--this.#users === 0) await this.stop();
  }

  /** Set `__LeaveStreamsUnattached 1`, then decide every waiting and every new stream. */
  async start(): Promise<void> {
    this.#stopped = false;
    const state = this.state;
    const current = (await state.client.getConf([OPTION])).get(OPTION)?.[0];
    if (current === '1') this.#options.conflict?.(`${OPTION} was already 1: another controller may be attaching streams (or a previous attacher died without resetting it)`);
    this.#off = state.on('stream', (s, e) => this.#onStream(s, e));
    try {
      await state.client.setConf([[OPTION, '1']]);
    } catch (err) {
      // Tor did not hand streams to us: a listener left behind would attach streams tor is attaching itself.
      this.#off();
      this.#off = undefined;
      this.#stopped = true;
      throw err;
    }
    for (const s of state.streams.values()) if (waiting(s)) void this.#handle(s, undefined);
  }

  /** Add a handler; higher priority runs first (ties: first added first). Returns its removal. */
  add(fn: AttachHandler, priority = 0): () => void {
    const h = { fn, priority, order: this.#order++ };
    this.#handlers.push(h);
    this.#handlers.sort((a, b) => b.priority - a.priority || a.order - b.order);
    return () => {
      this.#handlers = this.#handlers.filter((x) => x !== h);
    };
  }

  /**
   * Reset `__LeaveStreamsUnattached` and give every stream still waiting to tor. Rejects if the reset
   * failed: tor then keeps leaving new streams for a controller that is gone.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#off?.();
    const client = this.state.client;
    if (client.connection.isClosed) return;
    // Reset even if it was 1 when we started: that is what a crashed attacher leaves behind, and streams
    // must not hang once nobody attaches them.
    const resetFailed = await client.resetConf([OPTION]).then(
      () => undefined,
      (err: Error) => err,
    );
    // Streams still waiting that we never decided would otherwise hang: tor does not attach them by itself.
    const undecided = [...this.state.streams.values()].filter((s) => waiting(s) && !this.#decided.has(s.id));
    this.#decided.clear();
    await Promise.all(undecided.map((s) => s.attach('0').catch(() => {})));
    if (resetFailed) {
      throw new TorError(`could not reset ${OPTION} (${resetFailed.message}): new streams on this tor wait for a controller until it is reset (RESETCONF ${OPTION}, or SIGHUP)`, { cause: resetFailed });
    }
  }

  #onStream(stream: Stream, event: StreamEvent): void {
    if (event.status === 'SUCCEEDED' || event.status === 'FAILED' || event.status === 'CLOSED') this.#decided.delete(event.id);
    if (this.#stopped || !WAITING.has(event.status) || event.circuitId !== '0') return;
    if (event.purpose !== undefined && event.purpose !== 'USER') return;
    void this.#handle(stream, event);
  }

  async #handle(stream: Stream, event: StreamEvent | undefined): Promise<void> {
    if (this.#inFlight.has(stream.id)) return;
    this.#inFlight.add(stream.id);
    const started = performance.now();
    const deadline = this.#deadlineMs;
    try {
      const e = event ?? ({ type: 'STREAM', id: stream.id, status: stream.status, circuitId: '0', target: stream.target } as StreamEvent);
      const decision = await this.#decide(stream, e, deadline);
      if (this.#stopped || !stream.isOpen) return;
      if (decision === 'tor') await stream.attach('0');
      else if ('reject' in decision) await stream.close(decision.reject);
      else {
        if (decision.status !== 'BUILT') await decision.whenBuilt(deadline);
        await stream.attach(decision);
      }
      this.#decided.add(stream.id);
      this.#options.attached?.(stream, decision, performance.now() - started);
    } catch (err) {
      // 555: tor no longer waits for us on this stream (another controller attached it, or tor gave up).
      if (err instanceof ReplyError && err.code === 555) this.#options.conflict?.(`stream ${stream.id} was taken before we attached it: ${err.torMessage}`);
      else if (!(err instanceof ReplyError && err.code === 552)) this.#options.error?.(err as Error, stream);
      // Never leave a stream hanging because of our error.
      if (stream.isOpen && !this.#stopped) await stream.attach('0').catch(() => {});
    } finally {
      this.#inFlight.delete(stream.id);
    }
  }

  async #decide(stream: Stream, event: StreamEvent, deadline: number): Promise<AttachDecision> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'tor'>((resolve) => {
      timer = setTimeout(() => resolve('tor'), deadline);
    });
    try {
      for (const h of this.#handlers) {
        const d = await Promise.race([Promise.resolve(h.fn(stream, event)), late]);
        if (d !== undefined) return d;
      }
      return 'tor';
    } finally {
      clearTimeout(timer);
    }
  }
}

function waiting(s: Stream): boolean {
  return WAITING.has(s.status) && s.circuitId === '0' && (s.purpose === undefined || s.purpose === 'USER');
}

function checkDeadline(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`attach deadline must be a positive number of ms, got ${ms}`);
  return ms;
}
