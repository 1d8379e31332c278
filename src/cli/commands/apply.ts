import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { changeId, resolveDesired } from '../../reconcile/desired.js';
import { embeddedTor } from '../../reconcile/embedded.js';
import { PublishTimeoutError, StalePlanError } from '../../reconcile/errors.js';
import { loadKeyFile } from '../../reconcile/local.js';
import { isEmptyPlan } from '../../reconcile/plan.js';
import { reconcileOnce } from '../../reconcile/reconcile.js';
import { checkSavedPlan, readPlanFile, savedSalt } from '../../reconcile/saved.js';
import type { Plan } from '../../reconcile/types.js';
import type { TorClient } from '../../tor/client.js';
import { EXIT_INVALID, type CliCommand, type CliIo } from '../program.js';
import { CliUsageError } from '../report.js';
import { renderEmbedded } from '../views/embedded.js';
import { renderApplyHuman, renderHuman, renderJson } from '../views/plan.js';
import { useColor } from '../views/style.js';
import { askYes, shouldConfirm } from '../confirm.js';
import { parseDuration, TIMEOUT_OPTION } from '../duration.js';
import { ALLOW_PATH_OPTION, confineFlag } from '../allow-path.js';
import { loadForCommand, PARALLELISM_OPTION, TARGET_OPTION } from './fleet-load.js';
import { interruptible, openSession, type Session } from './session.js';

interface ApplyFlags {
  control?: string;
  json?: boolean;
  autoApprove?: boolean;
  waitPublished?: boolean | string;
  allowPendingRestart?: boolean;
  persistInclude?: boolean;
  timeout: string;
  allowPath: string[];
  target: string[];
  parallelism?: string;
}

/** Applied, but restart-only options still differ on a tor tor-reconcile did not start. */
export const EXIT_PENDING_RESTART = 3;

export const applyCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('apply')
      .description('make the live tor match the spec (or run a saved plan), then verify that nothing is left to do')
      .argument('<spec-or-plan...>', 'spec files, merged in order; or one plan file saved by `plan --out`')
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT); overrides tor.control')
      .option('--json', 'print the plan and the result as JSON on stdout')
      .option('--auto-approve', 'on a terminal, apply without asking for `yes` first')
      .option('--wait-published [timeout]', 'wait (default 120s) until every created or changed onion service has uploaded its descriptor')
      .option('--allow-pending-restart', 'exit 0 rather than 3 when only a tor restart is left to do')
      .option('--persist-include', 'with persist: { file }, add the `%include` line for it to tor\'s torrc (a backup is kept) when tor does not read it')
      .option(...TIMEOUT_OPTION)
      .option(...ALLOW_PATH_OPTION)
      .option(...TARGET_OPTION)
      .option(...PARALLELISM_OPTION)
      .addHelpText(
        'after',
        '\nWith tor.launch in the spec (and no --control), apply starts tor-reconcile\'s own tor the first time and\nreuses it afterwards, restarting it when an option that needs a restart differs; `tor-reconcile stop SPEC`\nstops it.\n\nOn a terminal, apply shows the plan and asks for `yes` before changing anything (as Terraform);\n--auto-approve, --json, a saved plan, or a stdin or stdout that is not a terminal (scripts, CI) skip the question.\n\nExit status: 0 applied (or nothing to do), 1 failed, refused or not confirmed, 3 applied but a tor restart is\npending (an option tor only takes at start-up differs on a tor tor-reconcile did not start; 0 with\n--allow-pending-restart), 130/143 interrupted.\n\nExamples:\n  $ tor-reconcile apply examples/specs/quickstart.yaml\n  $ tor-reconcile apply plan.json\n',
      )
      .action(async (args: string[], flags: ApplyFlags) => {
        const saved = args.length === 1 && args[0]!.endsWith('.json') && (await looksLikePlan(args[0]!)) ? await readPlanFile(args[0]!) : undefined;
        const specs = saved ? saved.specFiles : args;
        // Its live state was a prediction (the embedded tor was not running): starting tor to check it would
        // already be a change the saved plan does not show.
        if (saved?.launch) throw new StalePlanError(`${args[0]}: planned while the embedded tor was not running; apply the spec itself (tor-reconcile apply ${saved.specFiles.join(' ')}), or plan again once tor runs`);
        const timeout = parseDuration(flags.timeout, '--timeout');
        const confine = confineFlag(flags.allowPath);
        const loaded = await loadForCommand(specs, io, flags.target, confine);
        if (loaded.state.targets) return setExitCode(await (await import('./fleet.js')).fleetApply(loaded, io, { ...flags, timeout }));
        if (flags.parallelism !== undefined) throw new CliUsageError('--parallelism needs a spec with targets:');
        const session = await openSession(specs, io, { loaded, ...(flags.control ? { control: flags.control } : {}), ...(saved ? { salt: savedSalt(saved) } : {}), timeout, ...(flags.persistInclude ? { persistInclude: true } : {}), confine });
        const stop = interruptible();
        try {
          if (saved) checkSavedPlan(saved, session.plan);
          const code = await run(session, io, flags, stop.signal, Boolean(saved));
          // The embedded tor is detached and outlives this command: say so, whatever apply did.
          const embedded = await embeddedTor(session.desired, session.target, flags.control);
          if (embedded) io.stderr(renderEmbedded(embedded, specs));
          setExitCode(stop.exitCode() ?? code);
        } finally {
          stop.dispose();
          await session.close();
        }
      });
  },
};

async function looksLikePlan(file: string): Promise<boolean> {
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { format_version?: unknown; steps?: unknown }).steps !== undefined;
  } catch {
    return false;
  }
}

async function run(session: Session, io: CliIo, flags: ApplyFlags, signal: AbortSignal, savedPlan: boolean): Promise<number> {
  const { plan } = session;
  const color = useColor(process.stdout, io.env);
  if (!flags.json) io.stdout(renderHuman(plan, color));
  if (plan.errors.length) {
    if (flags.json) io.stdout(renderJson(plan));
    return EXIT_INVALID;
  }
  if (isEmptyPlan(plan)) {
    if (flags.json) io.stdout(renderJson(plan, { ok: true, results: [], remaining: [], addresses: plan.addresses }));
    return 0;
  }
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  if (shouldConfirm({ interactive, autoApprove: Boolean(flags.autoApprove), savedPlan, json: Boolean(flags.json) }) && !(await askYes(process.stdin, process.stdout))) {
    io.stderr('apply cancelled: nothing was changed\n');
    return EXIT_INVALID;
  }
  const published = flags.waitPublished ? await watchUploads(session.target.client) : undefined;
  const restart = session.restart;
  const { result } = await reconcileOnce(session.target.client, resolveDesired(session.desired), session.ctx, {
    plan,
    signal,
    // The restarted tor uploads the descriptors: listen to it as well.
    ...(restart
      ? {
          restart: async (torrc: Record<string, string[]>) => {
            const client = await restart(torrc);
            await published?.follow(client);
            return client;
          },
        }
      : {}),
    onStep: (r, i, total) => {
      if (!flags.json) io.stderr(`[${i + 1}/${total}] ${r.status}: ${r.step.display}\n`);
    },
  });
  if (flags.json) io.stdout(renderJson(plan, result));
  else io.stdout(renderApplyHuman(result, color));
  if (published) {
    try {
      if (result.ok) await waitPublished(session, plan, published, timeoutOf(flags.waitPublished!), io);
    } finally {
      await published.off();
    }
  }
  if (!result.ok) return EXIT_INVALID;
  if (plan.restart !== 'pending') return 0;
  const names = plan.changes.filter((c) => c.needsRestart).map((c) => c.id);
  io.stderr(`tor-reconcile: applied; a tor restart is pending for ${names.join(', ')} (tor takes ${names.length === 1 ? 'it' : 'them'} only at start-up)\n`);
  return flags.allowPendingRestart ? 0 : EXIT_PENDING_RESTART;
}

function timeoutOf(flag: boolean | string): number {
  return flag === true ? 120_000 : parseDuration(String(flag), '--wait-published');
}

interface Uploads {
  seen: Set<string>;
  /** Listen to another tor as well (the embedded tor after a restart). */
  follow(client: TorClient): Promise<void>;
  off(): Promise<void>;
}

/** Subscribed before applying, so an upload that happens during apply is not missed. */
async function watchUploads(client: TorClient): Promise<Uploads> {
  const seen = new Set<string>();
  const offs: Array<() => Promise<void>> = [];
  const follow = async (c: TorClient) => {
    offs.push(
      await c.on('HS_DESC', (e) => {
        if (e.action === 'UPLOADED') seen.add(e.address);
      }),
    );
  };
  await follow(client);
  // A stopped tor's subscription ends with its connection.
  return { seen, follow, off: async () => void (await Promise.all(offs.map((off) => off().catch(() => {})))) };
}

/** The addresses of every created or changed service, known after apply (generated keys, hostname files). */
async function changedAddresses(session: Session, plan: Plan): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const changed = new Set(plan.changes.filter((c) => c.action !== 'noop' && c.action !== 'delete').map((c) => changeId(c.kind, c.id)));
  for (const s of session.desired.onionServices) {
    if (!changed.has(`${s.type === 'filesystem' ? 'filesystem-service' : 'ephemeral-service'}:${s.name}`)) continue;
    if (s.type === 'filesystem') {
      const host = await readFile(path.join(s.directory, 'hostname'), 'utf8').catch(() => '');
      if (host.trim()) out.set(host.trim().replace(/\.onion$/, ''), s.name);
    } else {
      out.set((await loadKeyFile(s.keyFile)).address, s.name);
    }
  }
  return out;
}

async function waitPublished(session: Session, plan: Plan, uploads: Uploads, timeout: number, io: CliIo): Promise<void> {
  const wanted = await changedAddresses(session, plan);
  if (!wanted.size) return;
  const tty = Boolean(process.stderr.isTTY);
  const deadline = Date.now() + timeout;
  let last = '';
  for (;;) {
    const done = [...wanted.keys()].filter((a) => uploads.seen.has(a)).length;
    const line = `published ${done}/${wanted.size} descriptors`;
    if (line !== last) {
      io.stderr(tty ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (done === wanted.size) break;
    if (Date.now() > deadline) {
      if (tty) io.stderr('\n');
      const missing = [...wanted].filter(([a]) => !uploads.seen.has(a)).map(([a, n]) => `${n} (${a}.onion)`);
      throw new PublishTimeoutError(`not published within ${timeout / 1000}s: ${missing.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (tty) io.stderr('\n');
}

