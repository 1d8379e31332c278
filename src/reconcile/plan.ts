/**
 * Desired state + live state → Plan. Pure: no I/O, no clock; the same inputs give the same plan.
 *
 * Ordering rules (why the steps come in this order):
 * 1. Keys are generated and persisted before any command could use them: a key tor holds and we don't is
 *    an address lost at the next restart.
 * 2. All option changes are one RESETCONF and one SETCONF: tor applies each all-or-nothing.
 * 3. Filesystem services are one SETCONF of the complete ordered HiddenService block (tor replaces the whole
 *    block whenever any part is set), preceded by the directories it names (a missing parent makes tor
 *    exit) and the authorized_clients files it will re-read.
 * 4. Ephemeral services: DEL_ONION before ADD_ONION of the same key (tor refuses a loaded key with 550). Every
 *    DEL_ONION comes before any record is forgotten, so that the removals go out as one pipelined batch.
 * 5. Client credentials: remove before add.
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { DesiredOption, DesiredState, EphemeralService, FilesystemService } from '../spec/model.js';
import { addOnionCommand } from '../tor/client.js';
import { canonical, sameValue } from '../tor/config/normalize.js';
import { SECRET_OPTIONS } from '../tor/config/secrets.js';
import type { OptionTable } from '../tor/config/types.js';
import { buildCommand, commands } from '../tor/protocol/encoder.js';
import { clientAuthPrivateKeyToBase64, parseServiceAuthLine, serviceAuthLine } from '../tor/onion/index.js';
import { isSecret, reveal, Secret } from '../tor/secret.js';
import { changeId, resolveDesired } from './desired.js';
import { normalizeDirectory, portLine, serviceBlockEntries } from './hsblock.js';
import { digest, recordKey } from './local.js';
import type { Change, LiveServiceFiles, LiveState, Owner, Plan, PlanProblem, Step } from './types.js';

export interface PlanContext {
  table: OptionTable;
  /** The control address, for the record. */
  target: string;
  /** Our uid: directories for a tor running as another user must be chowned (only root can). */
  uid?: number;
  /** Fixed salt for the secrets digest (tests); random otherwise. */
  salt?: string;
  /**
   * Items (`kind:id`, as in Change) to leave exactly as they are in tor: neither changed nor removed (watch
   * holds back the reverts of an item another controller keeps changing).
   */
  leaveAlone?: ReadonlySet<string>;
}

const REDACTED = '<redacted>';

export function computePlan(desired: DesiredState, live: LiveState, ctx: PlanContext): Plan {
  const b = new Builder();
  planOptions(withAttachOptions(desired, b), live, ctx, b);
  planFilesystemServices(desired, live, ctx, b);
  planEphemeralServices(desired, live, ctx, b);
  planClientAuth(desired, live, ctx, b);
  return b.finish(desired, live, ctx);
}

class Builder {
  changes: Change[] = [];
  errors: PlanProblem[] = [];
  warnings: PlanProblem[] = [];
  keySteps: Step[] = [];
  optionSteps: Step[] = [];
  fsSteps: Step[] = [];
  delSteps: Step[] = [];
  forgetSteps: Step[] = [];
  addSteps: Step[] = [];
  authSteps: Step[] = [];

  change(c: Change): string {
    this.changes.push(c);
    return changeId(c.kind, c.id);
  }

  finish(desired: DesiredState, live: LiveState, ctx: PlanContext): Plan {
    const steps = [...this.keySteps, ...this.optionSteps, ...this.fsSteps, ...this.delSteps, ...this.forgetSteps, ...this.addSteps, ...this.authSteps];
    const count = (a: Change['action']) => this.changes.filter((c) => c.action === a && !c.needsRestart).length;
    const salt = ctx.salt ?? randomBytes(16).toString('hex');
    return {
      format_version: 1,
      target: ctx.target,
      torVersion: live.torVersion,
      liveFingerprint: live.fingerprint,
      specFiles: desired.files,
      secretsDigest: `${salt}:${secretsDigest(salt, steps)}`,
      changes: this.changes,
      steps,
      errors: this.errors,
      warnings: this.warnings,
      summary: {
        create: count('create'),
        update: count('update'),
        delete: count('delete'),
        replace: count('replace'),
        needsRestart: this.changes.filter((c) => c.needsRestart).length,
        commands: steps.filter((s) => isControlStep(s)).length,
      },
    };
  }
}

function isControlStep(s: Step): boolean {
  return s.op === 'setconf' || s.op === 'resetconf' || s.op === 'add-onion' || s.op === 'del-onion' || s.op === 'client-auth-add' || s.op === 'client-auth-remove';
}

/** Binds a saved plan to the secret values it was made with, without revealing them (salted hash). */
export function secretsDigest(salt: string, steps: Step[]): string {
  const h = createHash('sha256').update(salt);
  for (const v of secretValues(steps)) h.update('\0' + v);
  return h.digest('hex');
}

/** Every Secret's value anywhere in `root` (arrays and plain objects, depth first, in order). */
export function secretValues(root: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (isSecret(v)) out.push(String(v.reveal()));
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(root);
  return out;
}

/**
 * The spec's options plus those its native attach policies compile to; the policies that need a live
 * controller are named so nobody believes `apply` alone enforces them.
 */
function withAttachOptions(desired: DesiredState, b: Builder): readonly DesiredOption[] {
  const { options, attach: compiled, conflicts } = resolveDesired(desired);
  for (const note of compiled.notes) b.warnings.push({ item: 'attach', message: note, ...(desired.attach ? { source: desired.attach.source } : {}) });
  if (compiled.livePolicies.length) {
    b.warnings.push({ item: 'attach', message: `attach policies ${compiled.livePolicies.join(', ')} are enforced only while \`tor-reconcile watch\` runs`, ...(desired.attach ? { source: desired.attach.source } : {}) });
  }
  for (const { spec, policy } of conflicts) {
    b.errors.push({ item: changeId('option', policy.name), message: `attach policy at ${policy.source.file}:${policy.source.line} sets ${policy.name}, which options also sets; keep one`, source: spec.source });
  }
  return options;
}

function held(ctx: PlanContext, item: string): boolean {
  return ctx.leaveAlone?.has(item) ?? false;
}

function shown(values: ReadonlyArray<string | Secret<string>> | null): unknown {
  if (values === null) return null;
  const plain = values.map((v) => (isSecret(v) ? REDACTED : v));
  return plain.length === 1 ? plain[0] : plain;
}

function planOptions(options: readonly DesiredOption[], live: LiveState, ctx: PlanContext, b: Builder): void {
  const sets: Array<[string, string | Secret<string> | null]> = [];
  const resets: string[] = [];
  const ids: string[] = [];
  const resetIds: string[] = [];
  for (const o of options) {
    const info = ctx.table.get(o.name);
    if (!info) {
      b.errors.push({ item: changeId('option', o.name), message: `tor ${live.torVersion} does not know the option ${o.name}`, source: o.source });
      continue;
    }
    if (held(ctx, changeId('option', info.name))) continue;
    const current = live.options.get(info.name) ?? [];
    // Tor's current value of a password option is as secret as the spec's, whichever side is being shown.
    const secret = SECRET_OPTIONS.has(info.name) || (o.value?.some(isSecret) ?? false);
    const before = secret ? REDACTED : shown(current);
    const base = { kind: 'option' as const, id: info.name, source: o.source };
    if (o.value === null) {
      if (sameValue(info, current, info.defaults)) {
        b.change({ ...base, action: 'noop', before, after: before, reason: 'already at its default' });
        continue;
      }
      const id = b.change({ ...base, action: 'delete', before, after: secret ? REDACTED : shown(info.defaults), reason: 'reset to default', ...(info.immutable ? { needsRestart: true } : {}) });
      if (!info.immutable) {
        resets.push(info.name);
        resetIds.push(id);
      }
      continue;
    }
    const want = o.value.map(reveal);
    if (sameValue(info, want, current)) {
      b.change({ ...base, action: 'noop', before, after: before, reason: 'in sync' });
      continue;
    }
    const after = secret ? REDACTED : shown(canonical(info, want));
    if (info.immutable) {
      b.change({ ...base, action: 'update', before, after, reason: `tor can't change ${info.name} while running: restart tor with the new value`, needsRestart: true });
      continue;
    }
    ids.push(b.change({ ...base, action: 'update', before, after, reason: current.length ? 'value differs' : 'not set' }));
    if (!o.value.length) sets.push([info.name, null]);
    // Written in the spec as plain text or not, a password's value is shown redacted in the command too.
    for (const v of o.value) sets.push([info.name, secret && !isSecret(v) ? new Secret(v) : v]);
  }
  if (resets.length) b.optionSteps.push({ op: 'resetconf', keys: resets, display: commands.resetConf(resets.map((k) => [k, null] as const)).display, changes: resetIds });
  if (sets.length) b.optionSteps.push({ op: 'setconf', entries: sets, display: commands.setConf(sets).display, changes: ids });
}

function ownerFor(live: LiveState, ctx: PlanContext, b: Builder, item: string): Owner | undefined | null {
  if (live.torUid === undefined || ctx.uid === undefined || live.torUid === ctx.uid) return undefined;
  if (ctx.uid === 0) return { uid: live.torUid, gid: -1 };
  b.errors.push({
    item,
    message: `tor runs as uid ${live.torUid} and tor-reconcile as uid ${ctx.uid}: the directories must belong to tor's user; run tor-reconcile as that user or as root`,
  });
  return null;
}

function planFilesystemServices(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const want = desired.onionServices.filter((s): s is FilesystemService => s.type === 'filesystem');
  if (!want.length && !desired.prune) return;
  // The block is written as a whole: holding back one service's revert holds back all of them.
  if ([...(ctx.leaveAlone ?? [])].some((item) => item.startsWith('filesystem-service:'))) return;
  const liveByDir = new Map(live.services.map((g, i) => [normalizeDirectory(g.directory), { g, i }]));
  const wantDirs = new Set(want.map((s) => normalizeDirectory(s.directory)));
  const ids: string[] = [];
  let rewrite = false;
  const fileSteps: Step[] = [];
  const mkdirs: Step[] = [];

  const kept = live.services.map((g) => normalizeDirectory(g.directory)).filter((d) => wantDirs.has(d));
  const wantKept = want.map((s) => normalizeDirectory(s.directory)).filter((d) => liveByDir.has(d));

  for (const s of want) {
    const dir = normalizeDirectory(s.directory);
    const item = changeId('filesystem-service', s.name);
    const found = liveByDir.get(dir);
    const files: LiveServiceFiles = live.serviceFiles.get(dir) ?? { clients: new Map(), exists: false };
    const after = { directory: dir, ports: s.ports.map(portLine), options: Object.fromEntries(s.options), authorizedClients: s.authorizedClients.map((c) => c.name) };
    const before = found ? { directory: found.g.directory, ports: found.g.ports, options: Object.fromEntries(found.g.options), authorizedClients: [...files.clients.keys()].sort() } : null;

    if (files.notDirectory) b.errors.push({ item, message: `${dir} exists and is not a directory; a service directory is needed there`, source: s.source });
    if (s.address !== undefined) {
      if (files.keyError) b.errors.push({ item, message: `${files.keyError}; tor would replace it with a new key and a new address (pinned ${s.address})`, source: s.source });
      else if (files.keyAddress === undefined) {
        b.errors.push({ item, message: `address pinned to ${s.address} but ${dir} holds no key: tor would generate another address; import the key first (tor-reconcile keys import)`, source: s.source });
      } else if (files.keyAddress !== s.address) {
        b.errors.push({ item, message: `the key in ${dir} is for ${files.keyAddress}, not the pinned ${s.address}`, source: s.source });
      } else if (files.hostname !== undefined && files.hostname !== s.address) {
        b.warnings.push({ item, message: `${dir}/hostname says ${files.hostname} but the key is for ${s.address}; tor rewrites hostname from the key`, source: s.source });
      }
    }

    const reasons: string[] = [];
    if (!found) reasons.push('new service');
    else if (tooOpen(files.mode, s)) reasons.push(`directory mode ${files.mode!.toString(8)} is too open for tor`);
    else {
      if (found.g.ports.join('\n') !== after.ports.join('\n')) reasons.push('ports differ');
      if (JSON.stringify(found.g.options) !== JSON.stringify(s.options)) reasons.push('options differ');
      const pos = kept.indexOf(dir);
      if (pos !== wantKept.indexOf(dir)) reasons.push(`moves from position ${pos + 1} to ${wantKept.indexOf(dir) + 1}`);
    }

    // authorized_clients: written before the SETCONF that makes tor re-read them; stale ones removed.
    const authDir = path.join(dir, 'authorized_clients');
    const wantClients = new Map(s.authorizedClients.map((c) => [c.name, serviceAuthLine(c.publicKey)]));
    const clientSteps: Step[] = [];
    for (const [name, line] of wantClients) {
      const have = files.clients.get(name);
      if (have !== undefined && sameAuthLine(have, line)) continue;
      clientSteps.push({ op: 'write-file', path: path.join(authDir, `${name}.auth`), content: line + '\n', display: `write ${path.join(authDir, `${name}.auth`)} (${have === undefined ? 'add' : 'rotate'} client ${name})`, changes: [item] });
    }
    for (const name of files.clients.keys()) {
      if (!wantClients.has(name)) clientSteps.push({ op: 'remove-file', path: path.join(authDir, `${name}.auth`), display: `remove ${path.join(authDir, `${name}.auth`)} (client ${name} no longer authorized)`, changes: [item] });
    }
    if (clientSteps.length) reasons.push('authorized clients differ');

    if (!reasons.length) {
      b.change({ kind: 'filesystem-service', id: s.name, action: 'noop', before, after, reason: 'in sync', source: s.source });
      continue;
    }
    rewrite = true;
    ids.push(b.change({ kind: 'filesystem-service', id: s.name, action: found ? 'update' : 'create', before, after, reason: reasons.join('; '), source: s.source }));
    const owner = ownerFor(live, ctx, b, item);
    if (!files.exists) mkdirs.push({ op: 'mkdir', path: dir, ...(owner ? { owner } : {}), display: `mkdir -m 0700 ${dir}`, changes: [item] });
    else if (tooOpen(files.mode, s)) mkdirs.push({ op: 'mkdir', path: dir, ...(owner ? { owner } : {}), display: `chmod 0700 ${dir} (tor refuses a service directory others can read)`, changes: [item] });
    if (clientSteps.some((st) => st.op === 'write-file')) {
      mkdirs.push({ op: 'mkdir', path: authDir, ...(owner ? { owner } : {}), display: `mkdir -m 0700 ${authDir}`, changes: [item] });
      for (const st of clientSteps) if (st.op === 'write-file' && owner) st.owner = owner;
    }
    fileSteps.push(...clientSteps);
  }

  const unmanaged: string[] = [];
  for (const g of live.services) {
    const dir = normalizeDirectory(g.directory);
    if (wantDirs.has(dir)) continue;
    if (desired.prune) {
      rewrite = true;
      ids.push(b.change({ kind: 'filesystem-service', id: dir, action: 'delete', before: { directory: g.directory, ports: g.ports, options: Object.fromEntries(g.options) }, after: null, reason: 'not in the spec (prune: true); its key files stay on disk' }));
    } else unmanaged.push(g.directory);
  }
  if (unmanaged.length && rewrite) {
    b.errors.push({
      item: 'filesystem-service:*',
      message: `tor has filesystem onion services the spec does not declare: ${unmanaged.join(', ')}. Tor replaces all of them whenever one changes, so applying would remove them. Declare them in the spec, or set prune: true to remove them.`,
    });
  } else if (unmanaged.length) {
    b.warnings.push({ item: 'filesystem-service:*', message: `tor has filesystem onion services the spec does not declare (left alone): ${unmanaged.join(', ')}` });
  }
  if (!rewrite) return;
  b.fsSteps.push(...mkdirs, ...fileSteps);
  if (want.length) {
    const entries = serviceBlockEntries(want);
    b.fsSteps.push({ op: 'setconf', entries, display: commands.setConf(entries).display, changes: ids });
  } else {
    b.fsSteps.push({ op: 'resetconf', keys: ['HiddenServiceDir'], display: commands.resetConf([['HiddenServiceDir', null]]).display, changes: ids });
  }
}

/** Tor wants a service directory private to its user (group-readable only with HiddenServiceDirGroupReadable). */
function tooOpen(mode: number | undefined, s: FilesystemService): boolean {
  if (mode === undefined) return false;
  const groupReadable = s.options.some(([k, v]) => k === 'HiddenServiceDirGroupReadable' && v === '1');
  return (mode & (groupReadable ? 0o027 : 0o077)) !== 0;
}

function sameAuthLine(have: string, want: string): boolean {
  try {
    return parseServiceAuthLine(have).publicKey === parseServiceAuthLine(want).publicKey;
  } catch {
    return false;
  }
}

/** Everything ADD_ONION is given except the key: if it changes, the service must be re-added. */
function ephemeralConfig(s: EphemeralService): { ports: string[]; flags: string[]; maxStreams?: number; clientAuthV3: string[] } {
  const flags = ['Detach'];
  if (s.maxStreamsCloseCircuit) flags.push('MaxStreamsCloseCircuit');
  const clientAuthV3 = s.authorizedClients.map((c) => serviceAuthLine(c.publicKey).split(':')[2]!.toUpperCase()).sort();
  if (clientAuthV3.length) flags.push('V3Auth');
  return { ports: s.ports.map(portLine), flags, ...(s.maxStreams !== undefined ? { maxStreams: s.maxStreams } : {}), clientAuthV3 };
}

function addOnionStep(s: EphemeralService, item: string): Step {
  const cfg = ephemeralConfig(s);
  const display = addOnionCommand({
    key: new Secret('x'),
    ports: s.ports,
    flags: cfg.flags,
    ...(cfg.maxStreams !== undefined ? { maxStreams: cfg.maxStreams } : {}),
    clientAuthV3: cfg.clientAuthV3,
  }).display;
  return { op: 'add-onion', service: s.name, keyFile: s.keyFile, ...cfg, record: digest(cfg), display, changes: [item] };
}

function delOnionStep(address: string, item: string, service?: string): Step {
  return { op: 'del-onion', serviceId: address, ...(service !== undefined ? { service } : {}), display: buildCommand('DEL_ONION', [address]).display, changes: [item] };
}

function clientAuthRemoveStep(address: string, item: string): Step {
  return { op: 'client-auth-remove', address, display: `ONION_CLIENT_AUTH_REMOVE ${address}`, changes: [item] };
}

function planEphemeralServices(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const want = desired.onionServices.filter((s): s is EphemeralService => s.type === 'ephemeral');
  const detached = new Set(live.detachedOnions);
  const ours = new Set<string>();
  const spec = resolveDesired(desired).specId;
  for (const s of want) {
    const item = changeId('ephemeral-service', s.name);
    const key = live.ephemeralKeys.get(s.name) ?? { missing: true };
    const record = live.records.get(recordKey(spec, s.name));
    if (held(ctx, item)) {
      // Still ours: never an unmanaged service for prune to remove.
      if (key.address) ours.add(key.address);
      if (record) ours.add(record.address);
      continue;
    }
    const cfg = ephemeralConfig(s);
    const after = { address: key.address ?? '(known after apply)', ...cfg, keyFile: s.keyFile };
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
    const base = { kind: 'ephemeral-service' as const, id: s.name, source: s.source };
    const recordDigest = digest(cfg);
    if (key.missing) {
      b.keySteps.push({ op: 'generate-key', service: s.name, path: s.keyFile, display: `generate key ${s.keyFile} (0600)`, changes: [item] });
      b.change({ ...base, action: 'create', before: null, after, reason: 'new service; a key is generated and saved before use' });
      b.addSteps.push(addOnionStep(s, item));
      continue;
    }
    if (!running) {
      b.change({ ...base, action: 'create', before: null, after, reason: record ? 'not running in tor (tor restarted?); restored with its key' : 'new service' });
      b.addSteps.push(addOnionStep(s, item));
      continue;
    }
    if (record && record.address === key.address && record.config === recordDigest) {
      b.change({ ...base, action: 'noop', before: after, after, reason: 'in sync' });
      continue;
    }
    b.change({ ...base, action: 'replace', before: { address: key.address }, after, reason: record ? 'configuration changed (same key, same address)' : 'running without a record of its configuration: re-added to be sure (same address)' });
    b.delSteps.push(delOnionStep(key.address!, item, s.name));
    b.addSteps.push(addOnionStep(s, item));
  }
  const wantNames = new Set(want.map((s) => s.name));
  for (const rec of live.records.values()) {
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
    b.forgetSteps.push({ op: 'forget-record', service: rec.name, display: `forget ${rec.name} in the state file`, changes: [item] });
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

function planClientAuth(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
  const byAddress = new Map(live.clientAuth.map((c) => [c.address, c]));
  for (const c of desired.clientAuth) {
    const item = changeId('client-auth', c.address);
    if (held(ctx, item)) continue;
    const have = byAddress.get(c.address);
    const wantKey = clientAuthPrivateKeyToBase64(c.privateKey);
    const after = { address: c.address, clientName: c.clientName ?? null, permanent: c.permanent, privateKey: REDACTED };
    const add: Step = {
      op: 'client-auth-add',
      address: c.address,
      privateKey: wantKey,
      ...(c.clientName !== undefined ? { clientName: c.clientName } : {}),
      permanent: c.permanent,
      display: `ONION_CLIENT_AUTH_ADD ${c.address} x25519:<redacted>${c.clientName !== undefined ? ` ClientName=${c.clientName}` : ''}${c.permanent ? ' Flags=Permanent' : ''}`,
      changes: [item],
    };
    if (!have) {
      b.change({ kind: 'client-auth', id: c.address, action: 'create', before: null, after, reason: 'no credentials for this service in tor', source: c.source });
      b.authSteps.push(add);
      continue;
    }
    const before = { address: have.address, clientName: have.clientName ?? null, permanent: have.flags.includes('Permanent'), privateKey: REDACTED };
    const reasons: string[] = [];
    if (have.privateKey.reveal().replace(/=+$/, '') !== wantKey.reveal().replace(/=+$/, '')) reasons.push('key differs');
    if (before.permanent !== c.permanent) reasons.push('permanence differs');
    if ((have.clientName ?? null) !== (c.clientName ?? null)) reasons.push('client name differs');
    if (!reasons.length) {
      b.change({ kind: 'client-auth', id: c.address, action: 'noop', before, after, reason: 'in sync', source: c.source });
      continue;
    }
    b.change({ kind: 'client-auth', id: c.address, action: 'replace', before, after, reason: reasons.join('; '), source: c.source });
    b.authSteps.push(clientAuthRemoveStep(c.address, item), add);
  }
  const wanted = new Set(desired.clientAuth.map((c) => c.address));
  const extra = live.clientAuth.filter((c) => !wanted.has(c.address) && !held(ctx, changeId('client-auth', c.address)));
  if (!extra.length) return;
  if (desired.prune) {
    for (const c of extra) {
      const item = b.change({ kind: 'client-auth', id: c.address, action: 'delete', before: { address: c.address, clientName: c.clientName ?? null }, after: null, reason: 'not in the spec (prune: true)' });
      b.authSteps.unshift(clientAuthRemoveStep(c.address, item));
    }
  } else {
    b.warnings.push({ item: 'client-auth:*', message: `tor holds client credentials the spec does not declare (left alone): ${extra.map((c) => c.address).join(', ')}` });
  }
}

/** A plan with nothing to do: no step, no blocking error. */
export function isEmptyPlan(plan: Plan): boolean {
  return plan.steps.length === 0 && plan.errors.length === 0;
}
