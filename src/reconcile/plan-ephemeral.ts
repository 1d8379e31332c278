/**
 * Plan section: ephemeral (detached) onion services. Keys are generated and persisted before any command
 * could use them: a key tor holds and we don't is an address lost at the next restart. DEL_ONION comes
 * before ADD_ONION of the same key (tor refuses a loaded key with 550), and every DEL_ONION before any record
 * is forgotten, so that the removals go out as one pipelined batch. Each ADD_ONION is followed by the step
 * that records it: tor can't tell us a detached service's configuration later.
 */
import type { DesiredState, EphemeralService } from '../spec/model.js';
import { serviceAuthLine } from '../tor/onion/index.js';
import { changeId, resolveDesired } from './desired.js';
import { keyStoreFor } from './keystore.js';
import { digest, recordFinder, recordKey } from './local.js';
import { held, recordTarget, type Builder, type PlanContext } from './plan-common.js';
import { portLine } from './hsblock.js';
import { step } from './steps.js';
import type { EphemeralServiceShown, LiveState, Step } from './types.js';

/**
 * Everything ADD_ONION is given except the key: if it changes, the service must be re-added. Its digest is
 * the record's `config`; ports stay port lines in it, as in every record written so far.
 */
export function ephemeralConfig(s: EphemeralService): { ports: string[]; flags: string[]; maxStreams?: number; clientAuthV3: string[] } {
  const flags = ['Detach'];
  if (s.maxStreamsCloseCircuit) flags.push('MaxStreamsCloseCircuit');
  const clientAuthV3 = s.authorizedClients.map((c) => serviceAuthLine(c.publicKey).split(':')[2]!.toUpperCase()).sort();
  if (clientAuthV3.length) flags.push('V3Auth');
  return { ports: s.ports.map(portLine), flags, ...(s.maxStreams !== undefined ? { maxStreams: s.maxStreams } : {}), clientAuthV3 };
}

/**
 * digest() of configurations, by their JSON: every plan digests each ephemeral service's configuration, and a
 * re-plan (watch, apply's verifying re-read) of thousands of them would hash each again. Bounded.
 */
const configDigests = new Map<string, string>();

function configDigest(cfg: ReturnType<typeof ephemeralConfig>): string {
  const json = JSON.stringify(cfg);
  let d = configDigests.get(json);
  if (d === undefined) {
    if (configDigests.size >= 20_000) configDigests.clear();
    d = digest(cfg);
    configDigests.set(json, d);
  }
  return d;
}

/** What planning a service takes from the spec alone: its change id, its configuration and the digest of it. */
interface Planning {
  item: string;
  cfg: ReturnType<typeof ephemeralConfig>;
  config: string;
}

/**
 * Planning per service object: a DesiredState is never modified, and a re-plan of an unchanged spec (watch,
 * apply's verifying re-read) gets the very same service objects from loadSpec, so 5,000 services are not
 * configured, serialised and looked up in configDigests again on every plan.
 */
const planning = new WeakMap<EphemeralService, Planning>();

function planningOf(s: EphemeralService): Planning {
  let p = planning.get(s);
  if (p === undefined) {
    const cfg = ephemeralConfig(s);
    // Every plan of the service shares it from now on (its changes and steps hold its lists): frozen, so that
    // whatever changed one plan's copy in place would throw rather than change the next plan.
    for (const list of [cfg.ports, cfg.flags, cfg.clientAuthV3]) Object.freeze(list);
    Object.freeze(cfg);
    planning.set(s, (p = { item: changeId('ephemeral-service', s.name), cfg, config: configDigest(cfg) }));
  }
  return p;
}

/**
 * What a plan shows of a service: its address, then its configuration's fields in order. Written out rather
 * than spread from `cfg`: the spread was the costliest line of a 5,000-service re-plan.
 */
function shown(address: string, cfg: Planning['cfg'], keyFile: string): EphemeralServiceShown {
  return cfg.maxStreams === undefined
    ? { address, ports: cfg.ports, flags: cfg.flags, clientAuthV3: cfg.clientAuthV3, keyFile }
    : { address, ports: cfg.ports, flags: cfg.flags, maxStreams: cfg.maxStreams, clientAuthV3: cfg.clientAuthV3, keyFile };
}

/** ADD_ONION, then the record of what it was given (address and key digest are filled in by apply). */
function addOnionSteps(s: EphemeralService, item: string, ctx: PlanContext, spec: string, cfg: ReturnType<typeof ephemeralConfig>, config: string): Step[] {
  return [
    step('add-onion', { service: s.name, keyFile: s.keyFile, ports: s.ports.map((p) => ({ ...p })), flags: cfg.flags, ...(cfg.maxStreams !== undefined ? { maxStreams: cfg.maxStreams } : {}), clientAuthV3: cfg.clientAuthV3 }, [item]),
    step('record-service', { record: { target: recordTarget(ctx), spec, name: s.name, keyFile: s.keyFile, config } }, [item]),
  ];
}

function delOnionStep(address: string, item: string, service?: string): Step {
  return step('del-onion', { serviceId: address, ...(service !== undefined ? { service } : {}) }, [item]);
}

export function planEphemeralServices(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const want = desired.onionServices.filter((s): s is EphemeralService => s.type === 'ephemeral');
  const detached = new Set(live.detachedOnions);
  const ours = new Set<string>();
  const spec = resolveDesired(desired).specId;
  const findRecord = recordFinder(live.records, recordTarget(ctx), spec);
  for (const s of want) {
    const { item, cfg, config: recordDigest } = planningOf(s);
    const key = live.ephemeralKeys.get(s.name) ?? { missing: true };
    const record = findRecord(s.name);
    if (held(ctx, item)) {
      // Still ours: never an unmanaged service for prune to remove.
      if (key.address) ours.add(key.address);
      if (record) ours.add(record.address);
      continue;
    }
    const after = shown(key.address ?? '(known after apply)', cfg, s.keyFile);
    if (key.error) {
      b.errors.push({ item, message: `${key.error}; refusing to replace it (it may be the only copy of an address)`, source: s.source });
      continue;
    }
    if (s.address !== undefined && key.missing) {
      b.errors.push({ item, message: `address pinned to ${s.address} but the key file ${s.keyFile} does not exist; a generated key would give another address`, source: s.source });
      continue;
    }
    if (s.address !== undefined && key.address !== s.address) {
      b.errors.push({ item, message: `the key in ${s.keyFile} is for ${key.address}, not the pinned ${s.address}`, source: s.source });
      continue;
    }
    if (key.address) ours.add(key.address);
    if (record && key.address && record.address !== key.address && detached.has(record.address)) {
      // The key file now holds another key: the service tor still runs under the old one is ours to remove.
      ours.add(record.address);
      b.delSteps.push(delOnionStep(record.address, item, s.name));
    }
    const running = key.address !== undefined && detached.has(key.address);
    // Field by field: spreading a shared base object into each change made this loop twice as slow (5,000 services).
    const change = (action: 'create' | 'noop' | 'replace', before: EphemeralServiceShown | { address: string } | null, reason: string) =>
      b.change({ kind: 'ephemeral-service', id: s.name, source: s.source, action, before, after, reason });
    if (key.missing) {
      const store = keyStoreFor(s.keyFile, desired.stateDirectory);
      b.keySteps.push(step('generate-key', { service: s.name, path: s.keyFile, ...(store ? { store } : {}) }, [item]));
      change('create', null, 'new service; a key is generated and saved before use');
      b.addSteps.push(...addOnionSteps(s, item, ctx, spec, cfg, recordDigest));
      continue;
    }
    if (!running) {
      change('create', null, record ? 'not running in tor (tor restarted?); restored with its key' : 'new service');
      b.addSteps.push(...addOnionSteps(s, item, ctx, spec, cfg, recordDigest));
      continue;
    }
    if (record && record.address === key.address && record.config === recordDigest) {
      change('noop', after, 'in sync');
      continue;
    }
    change('replace', { address: key.address! }, record ? 'configuration changed (same key, same address)' : 'running without a record of its configuration: re-added to be sure (same address)');
    b.delSteps.push(delOnionStep(key.address!, item, s.name));
    b.addSteps.push(...addOnionSteps(s, item, ctx, spec, cfg, recordDigest));
  }
  const wantNames = new Set(want.map((s) => s.name));
  for (const rec of live.records.values()) {
    // Another tor's (a spec may drive several), or an old-format record this tor's own has replaced.
    if (rec.target !== recordTarget(ctx) && (rec.target !== '' || live.records.has(recordKey(recordTarget(ctx), rec.spec, rec.name)))) continue;
    const item = changeId('ephemeral-service', rec.name);
    if (rec.spec !== spec) {
      ours.add(rec.address);
      if (detached.has(rec.address)) b.warnings.push({ item, message: `${rec.address} belongs to another spec sharing this state directory (${rec.spec.replace(/\n/g, ', ')}); left alone` });
      continue;
    }
    if (wantNames.has(rec.name)) continue;
    ours.add(rec.address);
    if (held(ctx, item)) continue;
    const running = detached.has(rec.address);
    b.change({ kind: 'ephemeral-service', id: rec.name, action: 'delete', before: { address: rec.address }, after: null, reason: `removed from the spec; its key stays in ${rec.keyFile}` });
    if (running) b.delSteps.push(delOnionStep(rec.address, item, rec.name));
    b.forgetSteps.push(step('forget-record', { target: rec.target, spec: rec.spec, service: rec.name }, [item]));
  }
  const unmanaged = live.detachedOnions.filter((a) => !ours.has(a) && !held(ctx, changeId('ephemeral-service', a)));
  if (!unmanaged.length) return;
  if (desired.prune) {
    for (const a of unmanaged) {
      const item = b.change({ kind: 'ephemeral-service', id: a, action: 'delete', before: { address: a }, after: null, reason: 'detached service not in the spec (prune: true)' });
      b.delSteps.push(delOnionStep(a, item));
    }
  } else {
    b.warnings.push({ item: 'ephemeral-service:*', message: `tor runs detached onion services tor-reconcile does not hold keys for (left alone): ${unmanaged.join(', ')}` });
  }
}
