/** Prometheus text exposition (version 0.0.4) of a watcher's metrics. */
import type { WatchMetrics } from '../../reconcile/watch.js';

export function renderMetrics(m: WatchMetrics): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[labels: string, value: number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  metric('tor_reconcile_reconciles_total', 'counter', 'Reconciles run, by result.', [
    ['{result="ok"}', m.reconciles.ok],
    ['{result="error"}', m.reconciles.error],
  ]);
  metric('tor_reconcile_drifts_detected_total', 'counter', 'Times tor was found to differ from the spec without a spec change.', [['', m.driftsDetected]]);
  metric('tor_reconcile_drifts_reverted_total', 'counter', 'Drifts reverted (enforce mode).', [['', m.driftsReverted]]);
  metric('tor_reconcile_conflicts_total', 'counter', 'Times another controller kept undoing a managed item.', [['', m.conflicts]]);
  metric('tor_reconcile_errors_total', 'counter', 'Failed reconciles and rejected spec reloads.', [['', m.errors]]);
  metric('tor_reconcile_spec_reloads_total', 'counter', 'Spec reloads, by result.', [
    ['{result="ok"}', m.specReloads.ok],
    ['{result="error"}', m.specReloads.error],
  ]);
  metric('tor_reconcile_reconnects_total', 'counter', 'Reconnections to tor after losing the control connection.', [['', m.reconnects]]);
  metric('tor_reconcile_last_success_timestamp_seconds', 'gauge', 'Unix time of the last successful reconcile (0 if none).', [['', m.lastSuccess ? m.lastSuccess / 1000 : 0]]);
  metric('tor_reconcile_onion_services_up', 'gauge', 'Declared onion services tor is running.', [['', m.onionServicesUp]]);
  metric('tor_reconcile_connected', 'gauge', '1 while the control connection is up.', [['', m.connected ? 1 : 0]]);
  metric('tor_reconcile_spec_valid', 'gauge', '0 while the spec on disk does not load (the last good spec stays in force).', [['', m.specValid ? 1 : 0]]);
  return out.join('\n') + '\n';
}
