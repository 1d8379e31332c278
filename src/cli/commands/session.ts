/**
 * What plan, apply and diff share: reconcile.ts's load → connect → option table → live state → plan, with
 * the CLI's tracing (TOR_RECONCILE_TRACE), spec warnings on stderr, and a fresh salt for the plan's digest.
 */
import { randomBytes } from 'node:crypto';
import type { PlanContext } from '../../reconcile/plan.js';
import { openAndPlan, openPlan, type Opened, type OpenOptions } from '../../reconcile/reconcile.js';
import type { Target } from '../../reconcile/target.js';
import type { LiveState, Plan } from '../../reconcile/types.js';
import type { DesiredState, LoadOptions, LoadResult, SpecDiagnostic } from '../../spec/index.js';
import type { OptionTable } from '../../tor/config/types.js';
import { formatReport, type CliIo } from '../program.js';

export interface SessionOptions {
  control?: string;
  /** Start the embedded tor if it is not running. */
  start?: boolean;
  /** Salt for the secrets digest (re-planning a saved plan); a new one otherwise. */
  salt?: string;
  /** Per-command timeout (ms). */
  timeout?: number;
  /** apply --persist-include. */
  persistInclude?: boolean;
  /** The spec, already loaded by the command (loadForCommand). */
  loaded?: LoadResult;
  /** Also told the spec's warnings (after they are printed on stderr). */
  onWarnings?: (warnings: SpecDiagnostic[]) => void;
  /** Where the spec's file references may lead (`--allow-path`). */
  confine?: LoadOptions['confine'];
}

export interface Session {
  desired: DesiredState;
  target: Target;
  table: OptionTable;
  live: LiveState;
  plan: Plan;
  ctx: PlanContext;
  /** Restarts the embedded tor (a plan's `restart-tor` step); absent for any other tor. */
  restart?: Opened['restart'];
  close(): Promise<void>;
}

export async function openSession(specs: readonly string[], io: CliIo, options: SessionOptions = {}): Promise<Session> {
  const { options: open, close } = openOptions(io, options);
  const opened = await openAndPlan(specs, { ...open, start: options.start ?? true });
  return { ...opened, close };
}

/** What plan and diff show: a plan, and the tor it is against (none when the embedded tor is not running). */
export type PlanSession = Omit<Session, 'target' | 'restart'> & { target?: Target };

/** openSession for the read-only commands: starts no tor (reconcile.ts openPlan). */
export async function openPlanSession(specs: readonly string[], io: CliIo, options: Omit<SessionOptions, 'start' | 'persistInclude'> = {}): Promise<PlanSession> {
  const { options: open, close } = openOptions(io, options);
  const opened = await openPlan(specs, open);
  return { ...opened, close };
}

function openOptions(io: CliIo, options: SessionOptions): { options: OpenOptions; close: () => Promise<void> } {
  let close = async () => {};
  const open: OpenOptions = {
    env: io.env,
    ...(options.control ? { control: options.control } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    ...(options.persistInclude ? { persistInclude: true } : {}),
    ...(options.confine ? { confine: options.confine } : {}),
    ...(options.loaded ? { loaded: options.loaded } : {}),
    log: (m) => io.stderr(`${m}\n`),
    salt: options.salt ?? randomBytes(16).toString('hex'),
    onConnected: (target) => {
      const conn = target.client.connection;
      const base = conn.stats;
      if (io.env.TOR_RECONCILE_TRACE) conn.onCommand((c) => io.stderr(`> ${c.display}\n`));
      close = async () => {
        if (io.env.TOR_RECONCILE_TRACE) {
          const s = conn.stats;
          io.stderr(`> ${s.commands - base.commands} commands in ${s.roundTrips - base.roundTrips} round trips after authentication${nudged(s.nudges - base.nudges)}\n`);
        }
        await target.client.close();
      };
    },
    onWarnings: (warnings) => {
      io.stderr(formatReport(warnings));
      options.onWarnings?.(warnings);
    },
  };
  return { options: open, close: () => close() };
}

/**
 * SIGINT/SIGTERM during a command: the first one aborts (the step in flight finishes), and the command
 * exits 130 or 143 once it has stopped cleanly.
 */
export function interruptible(): { signal: AbortSignal; exitCode(): number | undefined; dispose(): void } {
  const controller = new AbortController();
  let code: number | undefined;
  const on = (sig: NodeJS.Signals, exit: number) => {
    const handler = () => {
      if (code !== undefined) process.exit(exit);
      code = exit;
      controller.abort();
    };
    process.on(sig, handler);
    return () => process.off(sig, handler);
  };
  const offs = [on('SIGINT', 130), on('SIGTERM', 143)];
  return { signal: controller.signal, exitCode: () => code, dispose: () => offs.forEach((f) => f()) };
}

/**
 * The trace's note of the connection's own acknowledging GETINFOs (src/tor/connection.ts NUDGE), which are
 * in neither count: over TCP only, and only when tor left an answer half-written.
 */
export function nudged(n: number): string {
  return n > 0 ? ` (and ${n} keyless GETINFO to acknowledge tor's half-written answers over TCP)` : '';
}
