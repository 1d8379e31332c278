/** `tor-reconcile watch`'s reconciler; its parts live in ./watch/. */
export { Watcher } from './watch/watcher.js';
export type { SpecLoader, Trigger, WatchHealth, WatchLogEntry, WatchMetrics, WatchOptions } from './watch/types.js';
export type { OnionHealthOptions, OnionHealthReport, OnionServiceHealth } from './watch/onion-health.js';
