/** Prometheus text exposition (version 0.0.4) of a watcher's metrics. */
import type { OnionHealthReport, WatchMetrics } from '../../reconcile/watch.js';

export function renderMetrics(m: WatchMetrics, health?: OnionHealthReport): string {
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
  if (health) renderHealth(health, metric);
  return out.join('\n') + '\n';
}

type Emit = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[labels: string, value: number]>) => void;

/**
 * Per declared onion service, labelled `service` (its name in the spec) and `target` (the watched tor's control
 * address). These names and labels are a stable interface: deploy/prometheus/ alerts and dashboards use them.
 * A series appears once there is a value (no self-check sample before the first check).
 */
function renderHealth(h: OnionHealthReport, metric: Emit): void {
  const target = h.target ?? '';
  const per = (fn: (s: OnionHealthReport['services'][number]) => number | null | undefined, extra = '') =>
    h.services.flatMap((s): Array<[string, number]> => {
      const v = fn(s);
      return v === null || v === undefined ? [] : [[labels({ service: s.service, target }, extra), v]];
    });
  metric('tor_reconcile_onion_health_start_time_seconds', 'gauge', 'Unix time watch began following descriptor uploads (a last-upload time of 0 means none since then).', [[labels({ target }), h.since / 1000]]);
  metric('tor_reconcile_onion_check_enabled', 'gauge', '1 while watch self-checks the onion services through a SOCKS port.', [[labels({ target }), h.checks === 'on' ? 1 : 0]]);
  metric('tor_reconcile_onion_service_info', 'gauge', 'A declared onion service and its address (1).', h.services.filter((s) => s.address).map((s) => [labels({ service: s.service, target, address: `${s.address}.onion` }), 1]));
  metric('tor_reconcile_onion_descriptor_upload_attempts_total', 'counter', 'Descriptor uploads tor started, one per HSDir (HS_DESC UPLOAD).', per((s) => s.uploads.attempts));
  metric('tor_reconcile_onion_descriptor_uploads_total', 'counter', 'Descriptor uploads by result, one per HSDir (HS_DESC UPLOADED / FAILED).', [
    ...per((s) => s.uploads.uploaded, 'result="uploaded"'),
    ...per((s) => s.uploads.failed, 'result="failed"'),
  ]);
  metric('tor_reconcile_onion_descriptor_last_upload_timestamp_seconds', 'gauge', 'Unix time an HSDir last accepted the descriptor (0: none since watch started).', per((s) => (s.lastUpload ?? 0) / 1000));
  metric('tor_reconcile_onion_intro_points', 'gauge', 'Introduction points tor has established for the service.', per((s) => s.introPoints));
  metric('tor_reconcile_onion_reachable', 'gauge', 'Result of the last self-check: 1 reachable, 0 not.', per((s) => (s.check ? (s.check.ok ? 1 : 0) : null)));
  metric('tor_reconcile_onion_check_latency_seconds', 'gauge', 'Time to a connected stream in the last successful self-check.', per((s) => (s.check?.ok ? s.check.latencyMs! / 1000 : null)));
  metric('tor_reconcile_onion_last_check_timestamp_seconds', 'gauge', 'Unix time of the last self-check.', per((s) => (s.check ? s.check.at / 1000 : null)));
  metric('tor_reconcile_onion_checks_total', 'counter', 'Self-checks by result.', [...per((s) => s.checks.ok, 'result="ok"'), ...per((s) => s.checks.error, 'result="error"')]);
}

function labels(values: Record<string, string>, extra = ''): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}
