/**
 * Every step type, once: how the plan displays it, whether it is a control command (summary.commands),
 * how it runs beside its neighbours, whether it touches the state directory (apply's lock), and what it
 * does. A new op is added here and in the Step union, nowhere else: plan sections build steps with step(),
 * apply runs whatever this table says.
 */
import { addOnionCommand, clientAuthAddCommand, clientAuthRemoveCommand, delOnionCommand, type TorClient } from '../tor/client.js';
import { generateServiceKey, type OnionServiceKey } from '../tor/onion/index.js';
import { ReplyError } from '../tor/errors.js';
import { commands } from '../tor/protocol/encoder.js';
import { Secret } from '../tor/secret.js';
import { PersistError } from './errors.js';
import { changeExisting, makeDirectory, removeFile, writeFileExclusive } from './fs-effects.js';
import { createKeyFiles, keyFileDigest, loadKeyFile, recordKey } from './local.js';
import { addInclude, verifyDropIn, writeDropIn } from './persist/files.js';
import type { EphemeralRecord, Owner, OwnerNames, Step, StepOf, StepOp } from './types.js';

/** What the steps of one apply share. */
export interface StepRuntime {
  client: TorClient;
  stateDirectory: string;
  /** Keys written or read by this run, by file: a record takes its address from the key tor was given. */
  keys: Map<string, OnionServiceKey>;
  records: Map<string, EphemeralRecord>;
  /** `records` changed: the state file must be written. */
  recordsChanged: boolean;
  /** Stops the embedded tor and starts it with these torrc options; the new tor's client. Absent for any other tor. */
  restart?: (options: Record<string, string[]>) => Promise<TorClient>;
}

/** A step's own data: what the plan decides, before display and change ids are attached. */
export type StepData<O extends StepOp> = Omit<StepOf<O>, 'display' | 'changes'>;

interface KindBase<O extends StepOp> {
  display(step: StepData<O>): string;
  /** Sent over the control connection. */
  control: boolean;
  /** Writes keys or records in the state directory, which another applier must not interleave with. */
  stateful: boolean;
}

/**
 * - `alone`: waits for its own outcome before the next step starts.
 * - `together`: consecutive steps of the op are one all-or-nothing effect (keys are written and fsynced at once).
 * - `pipeline`: consecutive steps of one pipeline are started at once and their outcomes taken in order as
 *   replies arrive. A local (non-control) step in a pipeline completes the command just before it: it runs
 *   when that command was done and is skipped otherwise.
 */
export type StepKind<O extends StepOp> = KindBase<O> &
  (
    | { batch: 'alone'; run(step: StepOf<O>, rt: StepRuntime): Promise<void> }
    | { batch: 'pipeline'; pipeline: string; run(step: StepOf<O>, rt: StepRuntime): Promise<void> }
    | { batch: 'together'; run(steps: StepOf<O>[], rt: StepRuntime): Promise<void> }
  );

const octal = (mode: number) => `0${mode.toString(8)}`;

export const STEPS: { [O in StepOp]: StepKind<O> } = {
  'generate-key': {
    // Every effect on disk is shown: the key store the key is added to, or its own file (local.ts
    // createKeyFiles), and its directory when it must be made.
    display: (s) => `generate key ${s.path} (${s.store ? `into the key store ${s.store}, ` : ''}0600; its directory made 0700 if missing)`,
    control: false,
    stateful: true,
    batch: 'together',
    async run(steps, rt) {
      const keys = steps.map((s) => ({ file: s.path, key: generateServiceKey() }));
      await createKeyFiles(keys, rt.stateDirectory);
      for (const k of keys) rt.keys.set(k.file, k.key);
    },
  },
  mkdir: {
    display: (s) => `mkdir -m ${octal(s.mode)} ${s.path}${ownedBy(s.owner, s.names)}${s.note ? ` (${s.note})` : ''}`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => makeDirectory(s.path, s.mode, s.owner, s.parent === true),
  },
  chmod: {
    display: (s) => `chmod ${octal(s.mode)} ${s.path} (now ${octal(s.from.mode)}; ${s.note})`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => changeExisting(s.path, s.from, { mode: s.mode }),
  },
  chown: {
    display: (s) => `chown ${idPair(s.owner, s.names)} ${s.path} (now ${s.from.uid}:${s.from.gid}; ${s.note})`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => changeExisting(s.path, s.from, { owner: s.owner }),
  },
  'write-file': {
    display: (s) => `write ${s.path} (${s.note}) mode ${octal(s.mode)}${ownedBy(s.owner, s.names)}`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => writeFileExclusive(s.path, s.content, s.mode, s.owner),
  },
  'remove-file': {
    display: (s) => `remove ${s.path} (${s.note})`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => removeFile(s.path),
  },
  setconf: {
    display: (s) => commands.setConf(s.entries).display,
    control: true,
    stateful: false,
    batch: 'alone',
    run: (s, rt) => rt.client.setConf(s.entries),
  },
  resetconf: {
    display: (s) => commands.resetConf(s.keys.map((k) => [k, null] as const)).display,
    control: true,
    stateful: false,
    batch: 'alone',
    run: (s, rt) => rt.client.resetConf(s.keys),
  },
  'del-onion': {
    display: (s) => delOnionCommand(s.serviceId).display,
    control: true,
    stateful: false,
    // Its own pipeline: an ADD_ONION must not race the DEL_ONION of the same key.
    batch: 'pipeline',
    pipeline: 'del-onion',
    run: (s, rt) => rt.client.delOnion(s.serviceId),
  },
  'add-onion': {
    // The key is shown as tor's redacted form whatever it will be.
    display: (s) => addOnionCommand({ ...addOnionOptions(s), key: new Secret('x') }).display,
    control: true,
    stateful: true,
    batch: 'pipeline',
    pipeline: 'add-onion',
    async run(s, rt) {
      const key = rt.keys.get(s.keyFile) ?? (await loadKeyFile(s.keyFile));
      rt.keys.set(s.keyFile, key);
      const result = await rt.client.addOnion({ ...addOnionOptions(s), key: key.toAddOnionBlob() });
      if (result.serviceId !== key.address) throw new Error(`tor answered ${result.serviceId} for the key of ${key.address}`);
    },
  },
  'record-service': {
    display: (s) => `record ${s.record.name} in the state file`,
    control: false,
    stateful: true,
    // In the ADD_ONION pipeline, right after the command it records (see `pipeline` above).
    batch: 'pipeline',
    pipeline: 'add-onion',
    async run(s, rt) {
      const key = rt.keys.get(s.record.keyFile);
      if (!key) throw new Error(`no key was sent for ${s.record.keyFile}`);
      const record: EphemeralRecord = { ...s.record, address: key.address, keyDigest: await keyFileDigest(s.record.keyFile) };
      rt.records.set(recordKey(record.target, record.spec, record.name), record);
      // A record from before records named their tor (format 2) is this one's older self.
      if (record.target) rt.records.delete(recordKey('', record.spec, record.name));
      rt.recordsChanged = true;
    },
  },
  'client-auth-remove': {
    display: (s) => clientAuthRemoveCommand(s.address).display,
    control: true,
    stateful: false,
    batch: 'pipeline',
    pipeline: 'client-auth-remove',
    run: (s, rt) => rt.client.onionClientAuthRemove(s.address),
  },
  'client-auth-add': {
    display: (s) => clientAuthAddCommand(clientAuthOptions(s)).display,
    control: true,
    stateful: false,
    batch: 'pipeline',
    pipeline: 'client-auth-add',
    run: (s, rt) => rt.client.onionClientAuthAdd(clientAuthOptions(s)),
  },
  'forget-record': {
    display: (s) => `forget ${s.service} in the state file`,
    control: false,
    stateful: true,
    batch: 'alone',
    async run(s, rt) {
      rt.records.delete(recordKey(s.target, s.spec, s.service));
      rt.recordsChanged = true;
    },
  },
  'restart-tor': {
    display: (s) => `restart the embedded tor (${s.dataDirectory}) to change ${s.names.join(', ')}; then apply the spec to it again`,
    control: false,
    stateful: false,
    batch: 'alone',
    async run(s, rt) {
      if (!rt.restart) throw new Error(`tor-reconcile did not start this tor and cannot restart it; restart tor to change ${s.names.join(', ')}`);
      rt.client = await rt.restart(s.options);
    },
  },
  'persist-file': {
    display: (s) => `verify with tor --verify-config, then write ${s.path} (${octal(s.mode)}${s.owner ? `, group ${s.owner.gid}` : ''}; its directory made 0755 if missing; the options and onion services tor gets at its next start)`,
    control: false,
    stateful: false,
    batch: 'alone',
    async run(s) {
      // A file tor would refuse is never installed: tor would not start again with it.
      await verifyDropIn(s);
      await writeDropIn(s.path, s.content, s.mode, s.owner?.gid);
    },
  },
  'persist-include': {
    display: (s) => `add the line "${s.line}" to ${s.torrc} (a copy of it as it was in ${s.torrc}.tor-reconcile.bak)`,
    control: false,
    stateful: false,
    batch: 'alone',
    run: (s) => addInclude(s.torrc, s.line),
  },
  saveconf: {
    display: () => commands.saveConf().display,
    control: true,
    stateful: false,
    batch: 'alone',
    async run(_s, rt) {
      try {
        await rt.client.saveConf();
      } catch (err) {
        if (!(err instanceof ReplyError) || err.code !== 551) throw err;
        // Tor says only "Unable to write configuration to disk": name the file and who tried.
        const info = await rt.client.getInfo(['config-file', 'process/user']).catch(() => ({}) as Record<string, string>);
        const who = info['process/user'] ? ` (running as ${info['process/user']})` : '';
        throw new PersistError(
          `tor${who} cannot write its torrc ${info['config-file'] ?? ''} (551 ${err.torMessage}): that user may write neither the file nor its directory (as with /etc/tor/torrc, root's, and tor running as debian-tor), or the torrc has a %include, which SAVECONF refuses to flatten. The changes are applied but last until tor restarts; use persist: { file: PATH } instead`,
        );
      }
    },
  },
};

/** A step with its display made from its data (for a command: by the encoder that will send it). */
export function step<O extends StepOp>(op: O, data: Omit<StepData<O>, 'op'>, changes: string[]): StepOf<O> {
  // Object.assign rather than object spread, same keys in the same order: spreading cost ~2 µs a step on Node
  // 20, ~30 ms for the 15,000 steps of 5,000 new services.
  const withOp = Object.assign({ op }, data) as StepData<O>;
  return Object.assign(withOp, { display: (STEPS[op] as KindBase<O>).display(withOp), changes }) as StepOf<O>;
}

export function kindOf<S extends Step>(s: S): StepKind<S['op']> {
  return STEPS[s.op] as StepKind<S['op']>;
}

/** One step by its op's entry (a `together` op as a batch of one). */
export function runOne(s: Step, rt: StepRuntime): Promise<void> {
  const k = kindOf(s);
  return k.batch === 'together' ? k.run([s], rt) : k.run(s, rt);
}

function addOnionOptions(s: StepData<'add-onion'>) {
  return { ports: s.ports, flags: s.flags, ...(s.maxStreams !== undefined ? { maxStreams: s.maxStreams } : {}), clientAuthV3: s.clientAuthV3 };
}

function clientAuthOptions(s: StepData<'client-auth-add'>) {
  return { address: s.address, privateKey: s.privateKey, ...(s.clientName !== undefined ? { clientName: s.clientName } : {}), permanent: s.permanent };
}

/** `uid:gid (user:group)`; -1 leaves that id as it is (chown(2)). */
function idPair(owner: Owner, names: OwnerNames | undefined): string {
  const ids = `${owner.uid < 0 ? '' : owner.uid}:${owner.gid < 0 ? '' : owner.gid}`;
  const shown = names && (names.user || names.group) ? ` (${names.user ?? ''}:${names.group ?? ''})` : '';
  return ids + shown;
}

/** The owner a created file or directory is given, for the display: every effect on disk is in the plan. */
function ownedBy(owner: Owner | undefined, names: OwnerNames | undefined): string {
  if (!owner) return '';
  // Only the group given (a parent for tor's group): the owner stays who made it.
  if (owner.uid < 0 && owner.gid >= 0) return `, group ${owner.gid}${names?.group ? ` (${names.group})` : ''}`;
  return `, owner ${idPair(owner, names)}`;
}
