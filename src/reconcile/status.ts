/**
 * `tor-reconcile status`: each declared onion service with its address, as plain data. Read-only: it
 * starts no tor and writes nothing; a private key never leaves the key files (only the address derived
 * from it does).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadSpec, type LoadOptions, type LoadResult } from '../spec/index.js';
import type { DesiredState } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { ReplyError, UsageError } from '../tor/errors.js';
import { normalizeDirectory, portLine } from './hsblock.js';
import { readLiveState } from './live.js';
import { probeKeyFile } from './local.js';
import { serviceAddresses } from './plan.js';
import { openTarget, type TargetOptions } from './target.js';
import type { ServiceAddress } from './types.js';
import type { OnionHealthReport, OnionServiceHealth } from './watch.js';

export interface ServiceStatus extends ServiceAddress {
  /** `VIRTPORT TARGET` lines, as tor prints them. */
  ports: string[];
  /** Tor runs the service now (false as well when tor is not running). */
  running: boolean;
  /**
   * Tor holds a descriptor it built for the service (`GETINFO hs/service/desc/id/ADDR`): the one it uploads to
   * the directories, and uploads again when it changes. Whether a directory accepted an upload is only told
   * as it happens (HS_DESC UPLOADED events, which `apply --wait-published` waits for), so no one-shot command
   * can say it. null when tor was not asked (the service is not running).
   */
  descriptor: boolean | null;
  /** What a running `watch` has seen of the service (`status --watch`): uploads, intro points, last self-check. */
  health?: OnionServiceHealth;
}

export interface StatusReport {
  /** The control address, when tor was reached. */
  target?: string;
  /** Why tor was not asked (the embedded tor is not running): addresses then come from the key files alone. */
  torNotRunning?: string;
  services: ServiceStatus[];
  /** From `status --watch`: the watch asked, whether it self-checks, or why it could not be asked. */
  watch?: { url: string; checks?: string; error?: string };
}

export interface StatusOptions extends Pick<TargetOptions, 'control' | 'timeout'> {
  env?: Record<string, string | undefined>;
  /** HOST:PORT of a running `watch --listen`: its view of the services' health joins the report. */
  watch?: string;
  confine?: LoadOptions['confine'];
  /** The spec already loaded from `specs`. */
  loaded?: LoadResult;
}

export async function serviceStatus(specs: readonly string[], options: StatusOptions = {}): Promise<StatusReport> {
  const report = await localStatus(specs, options);
  return options.watch ? withWatchHealth(report, options.watch) : report;
}

/**
 * Joins what `watch` has seen (its `/onions`) to the report by service name. A watch that does not answer is
 * said in the report, not an error: the rest of the status is still true.
 */
async function withWatchHealth(report: StatusReport, listen: string): Promise<StatusReport> {
  const url = `http://${listen}/onions`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const health = (await res.json()) as OnionHealthReport;
    const byName = new Map(health.services.map((h) => [h.service, h]));
    return { ...report, watch: { url, checks: health.checks }, services: report.services.map((s) => (byName.has(s.name) ? { ...s, health: byName.get(s.name)! } : s)) };
  } catch (err) {
    return { ...report, watch: { url, error: (err as Error).message } };
  }
}

async function localStatus(specs: readonly string[], options: StatusOptions): Promise<StatusReport> {
  const { state } = options.loaded ?? (await loadSpec(specs, { ...(options.env ? { env: options.env } : {}), ...(options.confine ? { confine: options.confine } : {}) }));
  let target;
  try {
    target = await openTarget(state, { ...(options.control ? { control: options.control } : {}), ...(options.timeout ? { timeout: options.timeout } : {}), start: false });
  } catch (err) {
    // Only the embedded tor may be absent: an unreachable tor.control is the command's failure.
    if (!(err instanceof UsageError) || !state.tor.launch || options.control) throw err;
    return { torNotRunning: err.message, services: await offline(state) };
  }
  try {
    return { target: target.address, services: await liveServiceStatus(target.client, state) };
  } finally {
    await target.client.close();
  }
}

/** The declared services of `desired` as the connected tor runs them (the fleet's status uses it per target). */
export async function liveServiceStatus(client: TorClient, desired: DesiredState): Promise<ServiceStatus[]> {
  const live = await readLiveState(client, desired);
  const detached = new Set(live.detachedOnions);
  const dirs = new Set(live.services.map((g) => normalizeDirectory(g.directory)));
  const addresses = serviceAddresses(desired, live);
  return Promise.all(
    desired.onionServices.map(async (s, i) => {
      const { address } = addresses[i]!;
      const running = s.type === 'ephemeral' ? address !== null && detached.has(address) : dirs.has(normalizeDirectory(s.directory));
      return { name: s.name, type: s.type, address, ports: s.ports.map(portLine), running, descriptor: running && address ? await hasDescriptor(client, address) : null };
    }),
  );
}

async function hasDescriptor(client: TorClient, address: string): Promise<boolean> {
  try {
    return (await client.getInfo(`hs/service/desc/id/${address}`)).trim() !== '';
  } catch (err) {
    // 551/552: tor has built no descriptor for it (yet).
    if (err instanceof ReplyError) return false;
    throw err;
  }
}

async function offline(desired: DesiredState): Promise<ServiceStatus[]> {
  return Promise.all(
    desired.onionServices.map(async (s) => {
      const address = s.type === 'ephemeral' ? (await probeKeyFile(s.keyFile)).address : (await readFile(path.join(s.directory, 'hostname'), 'utf8').catch(() => '')).trim().replace(/\.onion$/, '') || undefined;
      return { name: s.name, type: s.type, address: address ?? null, ports: s.ports.map(portLine), running: false, descriptor: null };
    }),
  );
}
