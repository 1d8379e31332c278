/**
 * Execute a plan: its steps, in order, and nothing else. Consecutive onion and client-auth commands are
 * pipelined; everything else waits for its reply. The first failure stops the run: what was done, what
 * failed (with tor's own reason from its WARN log) and what was skipped are all in the result.
 */
import { chmod, chown, mkdir, unlink } from 'node:fs/promises';
import type { DesiredState } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { ReplyError } from '../tor/errors.js';
import { generateServiceKey, writeSecretFileAtomic, type OnionServiceKey } from '../tor/onion/index.js';
import { secretRedactor } from '../tor/redact.js';
import { PlanBlockedError } from './errors.js';
import { parsePortLine } from './hsblock.js';
import { readLiveState } from './live.js';
import { createKeyFiles, keyFileDigest, loadKeyFile, lockStateDirectory, readRecords, recordKey, writeRecords } from './local.js';
import { resolveDesired } from './desired.js';
import { computePlan, secretValues, type PlanContext } from './plan.js';
import type { ApplyResult, EphemeralRecord, Owner, Plan, Step, StepResult } from './types.js';

export interface ApplyOptions {
  /** Called after each step with its outcome. */
  onStep?: (result: StepResult, index: number, total: number) => void;
  /** Abort: the step in flight finishes, the rest are skipped. */
  signal?: AbortSignal;
  /** Skip the verifying re-read (the caller will plan again itself). */
  skipVerify?: boolean;
  /** How long to wait for another tor-reconcile applying to the same state directory (ms, default 30 s). */
  lockTimeoutMs?: number;
}

type Batchable = Extract<Step, { op: 'add-onion' | 'del-onion' | 'client-auth-add' | 'client-auth-remove' }>;

const PIPELINED = new Set(['add-onion', 'del-onion', 'client-auth-add', 'client-auth-remove']);

/** Steps that write keys or records in the state directory, which another applier must not interleave with. */
const STATEFUL = new Set(['generate-key', 'add-onion', 'forget-record']);

export async function applyPlan(client: TorClient, plan: Plan, desired: DesiredState, ctx: PlanContext, options: ApplyOptions = {}): Promise<ApplyResult> {
  if (plan.errors.length) throw new PlanBlockedError(`the plan has ${plan.errors.length} blocking problem(s): ${plan.errors.map((e) => e.message).join(' | ')}`);
  const unlock = plan.steps.some((s) => STATEFUL.has(s.op)) ? await lockStateDirectory(desired.stateDirectory, options.lockTimeoutMs ?? 30_000) : undefined;
  try {
    return await runPlan(client, plan, desired, ctx, options);
  } finally {
    await unlock?.();
  }
}

async function runPlan(client: TorClient, plan: Plan, desired: DesiredState, ctx: PlanContext, options: ApplyOptions): Promise<ApplyResult> {
  const results: StepResult[] = [];
  const total = plan.steps.length;
  const fault = faultPoint();
  const hide = secretRedactor(secretValues([plan.steps, desired]));
  const report = (r: StepResult) => {
    results.push(r);
    options.onStep?.(r, results.length - 1, total);
    if (results.length === fault) process.kill(process.pid, 'SIGKILL');
  };
  const warnings: string[] = [];
  const offWarn = plan.steps.length ? await client.on('WARN', (e) => warnings.push(e.message)) : undefined;
  const records = await readRecords(desired.stateDirectory);
  const spec = resolveDesired(desired).specId;
  const generated = new Map<string, OnionServiceKey>();
  let failed = false;
  let interrupted = false;
  let recordsDirty = false;
  let recordsError: string | undefined;
  // Never throws: tor has already done what the records describe, so the run's results must still be returned.
  const saveRecords = async () => {
    if (!recordsDirty) return;
    recordsDirty = false;
    try {
      await writeRecords(desired.stateDirectory, records);
    } catch (err) {
      failed = true;
      recordsError = `tor-reconcile's state file could not be written: ${(err as Error).message}. Tor runs what the steps marked done, but the next plan will not know how they were configured and may re-add them.`;
    }
  };

  try {
    let i = 0;
    while (i < plan.steps.length) {
      const step = plan.steps[i]!;
      if (failed || options.signal?.aborted) {
        interrupted ||= !failed;
        report({ step, status: 'skipped' });
        i++;
        continue;
      }
      if (step.op === 'generate-key') {
        // All keys of the run in one batch: written and fsynced together, before any command uses them.
        const batch: Extract<Step, { op: 'generate-key' }>[] = [];
        while (plan.steps[i]?.op === 'generate-key') batch.push(plan.steps[i++] as Extract<Step, { op: 'generate-key' }>);
        const keys = batch.map((s) => ({ file: s.path, key: generateServiceKey() }));
        try {
          await createKeyFiles(keys, desired.stateDirectory);
          keys.forEach((k) => generated.set(k.file, k.key));
          for (const s of batch) report({ step: s, status: 'done' });
        } catch (err) {
          failed = true;
          for (const s of batch) report({ step: s, status: 'failed', error: (err as Error).message });
        }
        continue;
      }
      if (PIPELINED.has(step.op)) {
        const batch: Batchable[] = [];
        while (plan.steps[i] && PIPELINED.has(plan.steps[i]!.op) && sameBatch(batch, plan.steps[i] as Batchable)) batch.push(plan.steps[i++] as Batchable);
        warnings.length = 0;
        // All written at once (pipelined); outcomes are taken in order as their replies arrive.
        const pending = batch.map((s) => runOnionStep(client, s, generated).then(() => null, (err: Error) => err));
        for (const [k, s] of batch.entries()) {
          const err = await pending[k]!;
          if (!err) {
            if (s.op === 'add-onion') {
              const record: EphemeralRecord = { spec, name: s.service, address: generated.get(s.keyFile)!.address, keyFile: s.keyFile, config: s.record, keyDigest: await keyFileDigest(s.keyFile) };
              records.set(recordKey(spec, s.service), record);
              recordsDirty = true;
            }
            report({ step: s, status: 'done' });
            continue;
          }
          failed = true;
          if (err instanceof ReplyError) await syncEvents(client);
          report({ step: s, status: 'failed', error: hide(describe(err)), ...(warnings.length ? { torWarnings: warnings.map(hide) } : {}) });
        }
        await saveRecords();
        continue;
      }
      warnings.length = 0;
      try {
        await runStep(client, step, records, spec);
        if (step.op === 'forget-record') recordsDirty = true;
        report({ step, status: 'done' });
      } catch (err) {
        failed = true;
        if (err instanceof ReplyError) await syncEvents(client);
        report({ step, status: 'failed', error: hide(describe(err as Error)), ...(warnings.length ? { torWarnings: warnings.map(hide) } : {}) });
      }
      i++;
    }
  } finally {
    await saveRecords();
    await offWarn?.().catch(() => {});
  }

  const ok = !failed && !interrupted;
  let remaining: ApplyResult['remaining'] = [];
  if (ok && !options.skipVerify) {
    const after = computePlan(desired, await readLiveState(client, desired), ctx);
    remaining = after.changes.filter((c) => c.action !== 'noop' && !c.needsRestart);
  }
  return { ok: ok && remaining.length === 0, results, remaining, ...(interrupted ? { interrupted } : {}), ...(recordsError ? { error: recordsError } : {}) };
}

/**
 * Crash-consistency tests kill the process right after step N (TOR_RECONCILE_FAULT=after-step:N) to prove
 * that a re-run converges from any point. Inert unless that variable is set.
 */
function faultPoint(): number | undefined {
  const m = /^after-step:(\d+)$/.exec(process.env.TOR_RECONCILE_FAULT ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Pipelining keeps order, but an ADD_ONION must not race the DEL_ONION of the same key in one batch. */
function sameBatch(batch: Batchable[], next: Batchable): boolean {
  return !batch.length || batch[0]!.op === next.op;
}

async function runOnionStep(client: TorClient, step: Batchable, generated: Map<string, OnionServiceKey>): Promise<void> {
  switch (step.op) {
    case 'add-onion': {
      const key = generated.get(step.keyFile) ?? (await loadKeyFile(step.keyFile));
      generated.set(step.keyFile, key);
      const result = await client.addOnion({
        key: key.toAddOnionBlob(),
        ports: step.ports.map(parsePortLine),
        flags: step.flags,
        ...(step.maxStreams !== undefined ? { maxStreams: step.maxStreams } : {}),
        clientAuthV3: step.clientAuthV3,
      });
      if (result.serviceId !== key.address) throw new Error(`tor answered ${result.serviceId} for the key of ${key.address}`);
      return;
    }
    case 'del-onion':
      return client.delOnion(step.serviceId);
    case 'client-auth-add':
      return client.onionClientAuthAdd({ address: step.address, privateKey: step.privateKey, ...(step.clientName !== undefined ? { clientName: step.clientName } : {}), permanent: step.permanent });
    case 'client-auth-remove':
      return client.onionClientAuthRemove(step.address);
  }
}

async function runStep(client: TorClient, step: Step, records: Map<string, EphemeralRecord>, spec: string): Promise<void> {
  switch (step.op) {
    case 'setconf':
      return client.setConf(step.entries);
    case 'resetconf':
      return client.resetConf(step.keys);
    case 'mkdir':
      await mkdir(step.path, { recursive: true, mode: 0o700 });
      await chmod(step.path, 0o700);
      return own(step.path, step.owner);
    case 'write-file':
      await writeSecretFileAtomic(step.path, step.content, 0o600);
      return own(step.path, step.owner);
    case 'remove-file':
      return unlink(step.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    case 'forget-record':
      records.delete(recordKey(spec, step.service));
      return;
    default:
      throw new Error(`step ${step.op} cannot run alone`);
  }
}

async function own(path: string, owner: Owner | undefined): Promise<void> {
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** Tor flushes log events asynchronously: one round trip makes sure a failure's WARN lines have arrived. */
async function syncEvents(client: TorClient): Promise<void> {
  await client.getInfo('version').catch(() => {});
}

function describe(err: Error): string {
  return err instanceof ReplyError ? `tor refused: ${err.code} ${err.torMessage}` : err.message;
}
