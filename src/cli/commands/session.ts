/**
 * What plan, apply, diff and watch share: load the spec, reach its tor, make sure option names and types
 * come from that tor's own table (when it is not the bundled 0.4.9 one), read the live state, plan.
 */
import { readLiveState } from '../../reconcile/live.js';
import { computePlan, type PlanContext } from '../../reconcile/plan.js';
import { openTarget, type Target } from '../../reconcile/target.js';
import type { LiveState, Plan } from '../../reconcile/types.js';
import { loadSpec, type DesiredState } from '../../spec/index.js';
import type { TorClient } from '../../tor/client.js';
import { OptionTable } from '../../tor/config/types.js';
import { formatReport, type CliIo } from '../program.js';

export interface SessionOptions {
  control?: string;
  /** Start the embedded tor if it is not running. */
  start?: boolean;
  /** Salt for the secrets digest (re-planning a saved plan). */
  salt?: string;
  /** Per-command timeout (ms). */
  timeout?: number;
}

export interface Session {
  desired: DesiredState;
  target: Target;
  table: OptionTable;
  live: LiveState;
  plan: Plan;
  ctx: PlanContext;
  close(): Promise<void>;
}

/** The live tor's option table, when its version differs from the bundled one (one extra round trip). */
export async function tableFor(client: TorClient): Promise<OptionTable> {
  const bundled = OptionTable.bundled();
  if (bundled.torVersion === client.version) return bundled;
  const info = await client.getInfo(['config/names', 'config/defaults']);
  return OptionTable.fromTor(info['config/names'] ?? '', info['config/defaults'] ?? '', client.version);
}

export async function openSession(specs: readonly string[], io: CliIo, options: SessionOptions = {}): Promise<Session> {
  let { state, warnings } = await loadSpec(specs, { env: io.env });
  const target = await openTarget(state, {
    ...(options.control ? { control: options.control } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    start: options.start ?? true,
    log: (m) => io.stderr(`${m}\n`),
  });
  const conn = target.client.connection;
  const base = conn.stats;
  if (io.env.TOR_RECONCILE_TRACE) conn.onCommand((c) => io.stderr(`> ${c.display}\n`));
  const close = async () => {
    if (io.env.TOR_RECONCILE_TRACE) {
      const s = conn.stats;
      io.stderr(`> ${s.commands - base.commands} commands in ${s.roundTrips - base.roundTrips} round trips after authentication\n`);
    }
    await target.client.close();
  };
  try {
    const table = await tableFor(target.client);
    if (table !== OptionTable.bundled()) ({ state, warnings } = await loadSpec(specs, { env: io.env, table }));
    io.stderr(formatReport(warnings));
    const ctx: PlanContext = { table, target: target.address, ...(process.getuid ? { uid: process.getuid() } : {}), ...(options.salt ? { salt: options.salt } : {}) };
    const live = await readLiveState(target.client, state);
    const plan = computePlan(state, live, ctx);
    return { desired: state, target, table, live, plan, ctx, close };
  } catch (err) {
    await target.client.close();
    throw err;
  }
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
