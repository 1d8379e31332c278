/** The public types of `tor-reconcile watch`'s reconciler (re-exported by `../watch.ts`). */
import type { DesiredState } from '../../spec/model.js';
import type { TorClient } from '../../tor/client.js';
import type { OptionTable } from '../../tor/config/types.js';
import type { OnionHealthOptions } from './onion-health.js';

export type Trigger = 'start' | 'spec' | 'drift' | 'resync' | 'reconnect';

export interface WatchLogEntry {
  level: 'info' | 'warn' | 'error';
  event: string;
  message: string;
  [field: string]: unknown;
}

export interface SpecLoader {
  /** Loads the spec with tor's own option table; throws to say the spec is invalid (message shown as is). */
  (table: OptionTable | undefined): Promise<DesiredState>;
}

export interface WatchOptions {
  /** The spec files: their directories are watched. */
  specFiles: string[];
  load: SpecLoader;
  /** Overrides tor.control. */
  control?: string;
  /** `enforce` reverts drift; `warn` never writes, only reports. */
  mode?: 'enforce' | 'warn';
  /** Quiet period before acting on a burst of events (ms). */
  debounceMs?: number;
  /** Full reconcile even without events (ms), for controllers behind filters that hide CONF_CHANGED. */
  resyncMs?: number;
  /**
   * How often to check that tor still runs the declared ephemeral services (ms, default 2000; 0: never):
   * tor sends no event when another controller deletes one. One `GETINFO onions/detached`, and a reconcile
   * only when a service is missing. The same interval, with one ONION_CLIENT_AUTH_VIEW, for the declared
   * credentials without Permanent, which tor forgets at any SETCONF, even one that sends no event.
   */
  onionPollMs?: number;
  reconnect?: { initialMs?: number; maxMs?: number };
  /** A key reverted more than `threshold` times within `windowMs` is a conflict; its reverts then back off. */
  conflict?: { threshold?: number; windowMs?: number; backoffMs?: number; maxBackoffMs?: number };
  /** Onion-service health: descriptor uploads, introduction points, and the optional self-check. */
  health?: OnionHealthOptions;
  /** Per-command timeout on the control connection (ms). */
  timeoutMs?: number;
  /** Resolve the option table for a connected tor (the CLI's tableFor). */
  table: (client: TorClient) => Promise<OptionTable>;
  log: (entry: WatchLogEntry) => void;
}

export interface WatchMetrics {
  reconciles: { ok: number; error: number };
  driftsDetected: number;
  driftsReverted: number;
  conflicts: number;
  errors: number;
  specReloads: { ok: number; error: number };
  reconnects: number;
  lastSuccess: number | undefined;
  onionServicesUp: number;
  connected: boolean;
  /** False while the spec on disk does not load (the last good spec stays in force). */
  specValid: boolean;
}

export interface WatchHealth {
  /** Connected, and the last reconcile succeeded. */
  ok: boolean;
  connected: boolean;
  lastReconcileOk: boolean;
  lastSuccess: number | undefined;
  /** False while the spec on disk does not load. */
  specValid: boolean;
  /** The first error of the spec on disk, while it does not load. */
  specError?: string;
  /** Which spec is enforced while the one on disk does not load. */
  specInForce?: 'the last good spec';
}

export type LogFn = (level: WatchLogEntry['level'], event: string, message: string, fields?: Record<string, unknown>) => void;
