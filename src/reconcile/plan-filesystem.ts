/**
 * Plan section: filesystem onion services. One SETCONF of the complete ordered HiddenService block (tor
 * replaces the whole block whenever any part is set), preceded by the directories it names (a missing parent
 * makes tor exit) and the authorized_clients files it will re-read. Which directories to create, chmod or
 * chown, and which paths to refuse, is plan-directories.ts's (tor's real access, issue #20).
 */
import path from 'node:path';
import type { DesiredState, FilesystemService } from '../spec/model.js';
import { parseServiceAuthLine, serviceAuthLine } from '../tor/onion/index.js';
import { changeId } from './desired.js';
import { normalizeDirectory, portLine, serviceBlockEntries } from './hsblock.js';
import { type Builder, type PlanContext } from './plan-common.js';
import { planServiceDirectories, tooOpen } from './plan-directories.js';
import { step } from './steps.js';
import type { FilesystemServiceShown, LiveServiceFiles, LiveState, Step, StepOf } from './types.js';

/** authorized_clients files: private to tor's user. */
const FILE_MODE = 0o600;

export function planFilesystemServices(desired: DesiredState, live: LiveState, ctx: PlanContext, b: Builder): void {
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
    const after: FilesystemServiceShown = { directory: dir, ports: s.ports.map(portLine), options: Object.fromEntries(s.options), authorizedClients: s.authorizedClients.map((c) => c.name) };
    const before: FilesystemServiceShown | null = found ? { directory: found.g.directory, ports: found.g.ports, options: Object.fromEntries(found.g.options), authorizedClients: [...files.clients.keys()].sort() } : null;

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
    const clientSteps: Array<StepOf<'write-file'> | StepOf<'remove-file'>> = [];
    for (const [name, line] of wantClients) {
      const have = files.clients.get(name);
      if (have !== undefined && sameAuthLine(have, line)) continue;
      clientSteps.push(step('write-file', { path: path.join(authDir, `${name}.auth`), content: line + '\n', mode: FILE_MODE, note: `${have === undefined ? 'add' : 'rotate'} client ${name}` }, [item]));
    }
    for (const name of files.clients.keys()) {
      if (!wantClients.has(name)) clientSteps.push(step('remove-file', { path: path.join(authDir, `${name}.auth`), note: `client ${name} no longer authorized` }, [item]));
    }
    if (clientSteps.length) reasons.push('authorized clients differ');
    // An Onionbalance backend (issue #17): tor reads ob_config as it loads the service, so before the SETCONF.
    const obConfig = s.obConfig !== undefined && files.obConfig !== s.obConfig ? { path: path.join(dir, 'ob_config'), content: s.obConfig, mode: FILE_MODE, note: 'Onionbalance frontend address' } : undefined;
    if (obConfig) reasons.push('ob_config differs');

    if (!reasons.length) {
      b.change({ kind: 'filesystem-service', id: s.name, action: 'noop', before, after, reason: 'in sync', source: s.source });
      continue;
    }
    rewrite = true;
    ids.push(b.change({ kind: 'filesystem-service', id: s.name, action: found ? 'update' : 'create', before, after, reason: reasons.join('; '), source: s.source }));
    if (files.notDirectory) continue;
    const dirs = planServiceDirectories(s, files, live, ctx, b, item, clientSteps.some((st) => st.op === 'write-file'), new Set([...clientSteps.map((st) => path.relative(dir, st.path)), ...(obConfig ? ['ob_config'] : [])]), desired.stateDirectory);
    if (!dirs) continue;
    // Services sharing a missing parent: it is created once (a second mkdir of it would fail, by design).
    mkdirs.push(...dirs.steps.filter((st) => st.op !== 'mkdir' || !mkdirs.some((m) => m.op === 'mkdir' && m.path === st.path)));
    // Files go where the directories really are (the plan's real path), given tor's user and group.
    const inReal = (file: string) => path.join(dirs.real, path.relative(dir, file));
    const owned = dirs.owner ? { owner: dirs.owner, ...(dirs.names ? { names: dirs.names } : {}) } : {};
    fileSteps.push(
      ...clientSteps.map((st) =>
        st.op === 'write-file' ? step('write-file', { path: inReal(st.path), content: st.content, mode: st.mode, note: st.note, ...owned }, st.changes) : step('remove-file', { path: inReal(st.path), note: st.note }, st.changes),
      ),
    );
    if (obConfig) fileSteps.push(step('write-file', { ...obConfig, path: inReal(obConfig.path), ...owned }, [item]));
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
    b.fsSteps.push(step('setconf', { entries }, ids));
  } else {
    b.fsSteps.push(step('resetconf', { keys: ['HiddenServiceDir'] }, ids));
  }
}

function sameAuthLine(have: string, want: string): boolean {
  try {
    return parseServiceAuthLine(have).publicKey === parseServiceAuthLine(want).publicKey;
  } catch {
    return false;
  }
}
