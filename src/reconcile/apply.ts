/**
 * Execute a plan: its steps, in order, and nothing else. How each step runs — alone, together with its
 * neighbours, or pipelined — is in steps.ts; new keys overlap the ADD_ONIONs that use them
 * (runKeysIntoPipeline). The first failure stops the run: what was done, what failed
 * (with tor's own reason from its WARN log) and what was skipped are all in the result. Verifying that tor
 * now matches the spec is reconcileOnce's job (reconcile.ts), not apply's.
 */
import type { TorClient } from '../tor/client.js';
import { ReplyError } from '../tor/errors.js';
import { secretRedactor } from '../tor/redact.js';
import { PlanBlockedError } from './errors.js';
import { lockStateDirectory, readRecords, writeRecords } from './local.js';
import { secretValues } from './plan.js';
import { kindOf, runOne, type StepRuntime } from './steps.js';
import type { ApplyResult, Plan, Step, StepOf, StepResult } from './types.js';

/**
 * New keys are made durable in at most KEY_CHUNKS writes of at least KEY_CHUNK_MIN keys (runKeysIntoPipeline):
 * fewer writes cost less disk, more let tor start sooner. A spec of up to KEY_CHUNK_MIN new services writes once.
 */
const KEY_CHUNKS = 4;
const KEY_CHUNK_MIN = 64;

export interface ApplyOptions {
  /** Called after each step with its outcome. */
  onStep?: (result: StepResult, index: number, total: number) => void;
  /** Abort: the step in flight finishes, the rest are skipped. */
  signal?: AbortSignal;
  /** How long to wait for another tor-reconcile applying to the same state directory (ms, default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Values whose secrets tor's messages must not echo, besides the plan's own: the spec's (every SETCONF
   * re-validates the whole configuration, so tor may quote an option set by an earlier apply).
   */
  hide?: unknown;
  /** How a `restart-tor` step restarts the embedded tor (reconcile.ts); without it such a step fails. */
  restart?: StepRuntime['restart'];
}

export async function applyPlan(client: TorClient, plan: Plan, options: ApplyOptions = {}): Promise<ApplyResult> {
  if (plan.errors.length) throw new PlanBlockedError(`the plan has ${plan.errors.length} blocking problem(s): ${plan.errors.map((e) => e.message).join(' | ')}`);
  const unlock = plan.steps.some((s) => kindOf(s).stateful) ? await lockStateDirectory(plan.stateDirectory, options.lockTimeoutMs ?? 30_000) : undefined;
  try {
    return await runPlan(client, plan, options);
  } finally {
    await unlock?.();
  }
}

async function runPlan(client: TorClient, plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  const results: StepResult[] = [];
  const total = plan.steps.length;
  const hide = secretRedactor(secretValues([plan.steps, options.hide]));
  const report = (r: StepResult) => {
    results.push(r);
    options.onStep?.(r, results.length - 1, total);
  };
  const warnings: string[] = [];
  const offWarn = plan.steps.length ? await client.on('WARN', (e) => warnings.push(e.message)) : undefined;
  const rt: StepRuntime = { client, stateDirectory: plan.stateDirectory, keys: new Map(), records: await readRecords(plan.stateDirectory), recordsChanged: false, ...(options.restart ? { restart: options.restart } : {}) };
  let failed = false;
  let interrupted = false;
  let recordsError: string | undefined;
  const fail = async (step: Step, err: Error) => {
    failed = true;
    if (err instanceof ReplyError) await syncEvents(client);
    report({ step, status: 'failed', error: hide(describe(err)), ...(warnings.length ? { torWarnings: warnings.map(hide) } : {}) });
  };
  // Never throws: tor has already done what the records describe, so the run's results must still be returned.
  const saveRecords = async () => {
    if (!rt.recordsChanged) return;
    rt.recordsChanged = false;
    try {
      await writeRecords(plan.stateDirectory, rt.records);
    } catch (err) {
      failed = true;
      recordsError = `tor-reconcile's state file could not be written: ${(err as Error).message}. Tor runs what the steps marked done, but the next plan will not know how they were configured and may re-add them.`;
    }
  };

  const outcome = (p: Promise<void>) => p.then(() => null, (err: Error) => err);
  /** Writes the commands of batch[from, to): a pipeline's commands all go out before any outcome is taken. */
  const send = (batch: Step[], sent: Array<Promise<Error | null> | undefined>, from: number, to: number) => {
    for (let k = from; k < to; k++) if (kindOf(batch[k]!).control) sent[k] = outcome(runOne(batch[k]!, rt));
  };
  /** Outcomes in order as their replies arrive; steps from `unsent` on were never started and are skipped. */
  const collect = async (batch: Step[], sent: Array<Promise<Error | null> | undefined>, unsent = batch.length) => {
    let previousDone = false;
    for (const [k, s] of batch.entries()) {
      let err: Error | null;
      if (k >= unsent) {
        interrupted ||= !failed;
        report({ step: s, status: 'skipped' });
        continue;
      }
      if (sent[k]) err = await sent[k];
      else if (previousDone) err = await outcome(runOne(s, rt));
      else {
        // A local step completes the command before it (the record of an ADD_ONION): nothing to complete.
        report({ step: s, status: 'skipped' });
        continue;
      }
      previousDone = !err;
      if (err) await fail(s, err);
      else report({ step: s, status: 'done' });
    }
    await saveRecords();
  };

  /**
   * New keys, then the ADD_ONIONs that use them, overlapped: keys are generated and made durable a chunk at a
   * time, and each chunk's ADD_ONIONs are written as soon as its keys are on disk, so that tor (another
   * process, another core) adds services while the next chunk's keys are generated. Nothing is reordered as
   * seen from outside: a key is on disk, fsynced, before tor hears of it; outcomes are reported in the plan's
   * order (every key step, then the pipeline), and a command is never written before the report of the key it
   * uses. A crash between two chunks leaves services in tor without their record — the state a crash
   * between an ADD_ONION and its record-service step leaves, which the next apply already adopts.
   */
  const runKeysIntoPipeline = async (keys: Array<StepOf<'generate-key'>>, pipe: Step[]) => {
    const kind = kindOf(keys[0]!);
    const pending = new Set(keys.map((k) => k.path));
    const sent: Array<Promise<Error | null> | undefined> = [];
    let released = 0;
    const size = Math.max(KEY_CHUNK_MIN, Math.ceil(keys.length / KEY_CHUNKS));
    for (let c = 0; c < keys.length; c += size) {
      const chunk = keys.slice(c, c + size);
      if (failed || options.signal?.aborted) {
        interrupted ||= !failed;
        for (const s of chunk) report({ step: s, status: 'skipped' });
        continue;
      }
      try {
        if (kind.batch === 'together') await kind.run(chunk, rt);
      } catch (err) {
        for (const s of chunk) await fail(s, err as Error);
        continue;
      }
      for (const s of chunk) report({ step: s, status: 'done' });
      for (const s of chunk) pending.delete(s.path);
      // The longest prefix of the pipeline whose keys are all on disk (with each record step after its command).
      let end = released;
      while (end < pipe.length && !(pipe[end]!.op === 'add-onion' && pending.has((pipe[end] as StepOf<'add-onion'>).keyFile))) end++;
      send(pipe, sent, released, end);
      released = end;
    }
    await collect(pipe, sent, released);
  };

  try {
    let i = 0;
    while (i < total) {
      const first = plan.steps[i]!;
      if (failed || options.signal?.aborted) {
        interrupted ||= !failed;
        report({ step: first, status: 'skipped' });
        i++;
        continue;
      }
      const kind = kindOf(first);
      const batch = [first];
      while (i + batch.length < total && sameBatch(first, plan.steps[i + batch.length]!)) batch.push(plan.steps[i + batch.length]!);
      i += batch.length;
      warnings.length = 0;
      if (kind.batch === 'pipeline') {
        const sent: Array<Promise<Error | null> | undefined> = [];
        send(batch, sent, 0, batch.length);
        await collect(batch, sent);
        continue;
      }
      const next = plan.steps[i];
      if (first.op === 'generate-key' && next?.op === 'add-onion') {
        const pipe: Step[] = [next];
        while (i + pipe.length < total && sameBatch(next, plan.steps[i + pipe.length]!)) pipe.push(plan.steps[i + pipe.length]!);
        i += pipe.length;
        await runKeysIntoPipeline(batch as Array<StepOf<'generate-key'>>, pipe);
        continue;
      }
      try {
        if (kind.batch === 'together') await kind.run(batch, rt);
        else await runOne(first, rt);
        for (const s of batch) report({ step: s, status: 'done' });
      } catch (err) {
        for (const s of batch) await fail(s, err as Error);
      }
    }
  } finally {
    await saveRecords();
    await offWarn?.().catch(() => {});
  }
  const ok = !failed && !interrupted;
  return { ok, results, remaining: [], ...(interrupted ? { interrupted } : {}), ...(recordsError ? { error: recordsError } : {}) };
}

/** Steps that run as one batch: consecutive steps of a `together` op, or of one pipeline. */
function sameBatch(first: Step, next: Step): boolean {
  const a = kindOf(first);
  const b = kindOf(next);
  if (a.batch === 'together') return next.op === first.op;
  return a.batch === 'pipeline' && b.batch === 'pipeline' && a.pipeline === b.pipeline;
}

/** Tor flushes log events asynchronously: one round trip makes sure a failure's WARN lines have arrived. */
async function syncEvents(client: TorClient): Promise<void> {
  await client.getInfo('version').catch(() => {});
}

function describe(err: Error): string {
  return err instanceof ReplyError ? `tor refused: ${err.code} ${err.torMessage}` : err.message;
}
