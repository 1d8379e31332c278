/**
 * The reconciler's data: what tor is (LiveState), what must change (Change), and the exact effects that
 * will make it so (Step), bundled as a Plan. All plain and serialisable: a Plan is computed by a pure
 * function, rendered by views, saved to a file, and executed by apply — which runs its steps and nothing else.
 */
import type { OnionPortSpec, SourcePos } from '../spec/model.js';
import type { ClientAuthEntry } from '../tor/replies.js';
import type { MaybeSecret, Secret } from '../tor/secret.js';
import type { ServiceGroup } from './hsblock.js';
import type { LivePersist } from './persist/live.js';

/** What tor-reconcile recorded about an ephemeral service it created (tor can't tell us its ports). */
export interface EphemeralRecord {
  /**
   * The control address of the tor it was created on (PlanContext.target): one spec may drive several tors
   * from one state directory. Empty in records written before format 3, which did not say.
   */
  target: string;
  /** The spec files (absolute, in order) whose apply created it: specs sharing a state directory keep apart. */
  spec: string;
  /** The service's name in that spec. */
  name: string;
  address: string;
  keyFile: string;
  /** Digest of everything ADD_ONION was given except the key: ports, flags, max streams, clients. */
  config: string;
  /** SHA-256 of the key file's bytes tor served as `address` (skips re-deriving the address). */
  keyDigest?: string;
}

export interface LocalKey {
  /** The address the key file gives, when it exists and parses. */
  address?: string;
  /** Why the key file could not be used (corrupt, wrong format). */
  error?: string;
  missing?: boolean;
}

export interface LiveServiceFiles {
  /** `<dir>/authorized_clients/<name>.auth` → content (trimmed). */
  clients: Map<string, string>;
  /** The address of the key in the directory, when present (derived from the key, not the hostname file). */
  keyAddress?: string;
  keyError?: string;
  hostname?: string;
  /** `ob_config`'s content, when the file exists (an Onionbalance backend's). */
  obConfig?: string;
  exists: boolean;
  /** Permission bits of the directory, when it exists. */
  mode?: number;
  /** Something other than a directory is at the path. */
  notDirectory?: boolean;
  /** Every component of the directory's path, as found (read by live.ts; absent in plans built in code). */
  probe?: PathProbe;
  /** `<dir>/authorized_clients` as found (lstat), when the directory exists. */
  authDir?: PathEntry;
  /** The files tor reads there, as found (lstat): its key files and hostname, and `authorized_clients/*.auth`. */
  torFiles?: PathEntry[];
}

/** One component of a path as found by lstat (a symlink is not followed here; its target is walked next). */
export interface PathEntry {
  /** Absolute path of the component. */
  path: string;
  /** The directory it is in ('' for `/`). */
  in: string;
  kind: 'dir' | 'symlink' | 'file' | 'other' | 'missing';
  uid?: number;
  gid?: number;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  mode?: number;
  /** A directory with no entries. */
  empty?: boolean;
  /** A symlink's target, absolute. */
  target?: string;
}

/** A path walked from `/`: each component, and each symlink followed by the components of its target. */
export interface PathProbe {
  /** The path as the spec gives it (absolute). */
  path: string;
  /** Where it really is (symlinks resolved): the path every filesystem step acts on. */
  real: string;
  entries: PathEntry[];
  /** The walk gave up (a symlink loop, a component that cannot be read). */
  error?: string;
}

/** Who tor runs as (`GETINFO process/user`, `process/uid`) and its groups (the passwd and group databases). */
export interface TorIdentity {
  name?: string;
  uid: number;
  /** Its primary group; absent when the user is not in the passwd database. */
  gid?: number;
  /** Primary and supplementary groups. */
  groups: number[];
  /** Group names by gid, for messages. */
  groupNames?: Record<string, string>;
}

/** Files the plan must judge before it trusts them with secrets (live.ts reads them). */
export interface LiveLocalFiles {
  /** The state directory's path, walked. */
  stateDirectory: PathProbe;
  /** The files holding ephemeral services' keys (a key store, or a key's own file), walked; by path. */
  keyFiles: Map<string, PathProbe>;
}

export interface LiveState {
  torVersion: string;
  /** `GETINFO process/uid`: who tor runs as (directories it must own). */
  torUid?: number;
  /** Tor's user and groups, for checking what it can reach (absent in plans built in code). */
  torUser?: TorIdentity;
  /** The state directory and key files, for their owners and modes (absent in plans built in code). */
  localFiles?: LiveLocalFiles;
  /** Managed options only: tor's canonical name → read-back lines. */
  options: Map<string, string[]>;
  services: ServiceGroup[];
  /** Keyed by normalized directory, for the services the spec declares. */
  serviceFiles: Map<string, LiveServiceFiles>;
  detachedOnions: string[];
  clientAuth: ClientAuthEntry[];
  /** Keyed by spec service name. */
  ephemeralKeys: Map<string, LocalKey>;
  /** What tor-reconcile created earlier (state file in the state directory), by recordKey(target, spec, name). */
  records: Map<string, EphemeralRecord>;
  /** The drop-in and tor's torrc files, for `persist: { file }` only. */
  persist?: LivePersist;
  /** Hash of everything above: a saved plan is stale when tor's fingerprint changed. */
  fingerprint: string;
}

export type Action = 'create' | 'update' | 'delete' | 'replace' | 'noop';

/** An option's value as shown: one line, several, or `<redacted>`. */
export type OptionShown = string | string[];

export interface FilesystemServiceShown {
  directory: string;
  /** Canonical `VIRTPORT TARGET` lines. */
  ports: string[];
  options: Record<string, string>;
  /** Client names (absent for a service being removed: its files are not read). */
  authorizedClients?: string[];
}

/** An ephemeral service as shown; a service being removed or replaced shows its address only. */
export interface EphemeralServiceShown {
  /** `(known after apply)` for a key generated by the apply. */
  address: string;
  ports?: string[];
  flags?: string[];
  maxStreams?: number;
  clientAuthV3?: string[];
  keyFile?: string;
}

export interface ClientAuthShown {
  address: string;
  clientName: string | null;
  permanent?: boolean;
  /** Always `<redacted>`. */
  privateKey?: string;
}

interface ChangeBase {
  /** Option name, service name, or onion address. */
  id: string;
  action: Action;
  reason: string;
  /** Tor can't change it while running: reported, never sent. */
  needsRestart?: boolean;
  source?: SourcePos;
}

/** What must change, one item each; `before`/`after` are plain JSON (secrets `<redacted>`), null for absent. */
export type Change = ChangeBase &
  (
    | { kind: 'option'; before: OptionShown; after: OptionShown }
    | { kind: 'filesystem-service'; before: FilesystemServiceShown | null; after: FilesystemServiceShown | null }
    | { kind: 'ephemeral-service'; before: EphemeralServiceShown | null; after: EphemeralServiceShown | null }
    | { kind: 'client-auth'; before: ClientAuthShown | null; after: ClientAuthShown | null }
    /** A torrc file persistence writes (the drop-in, or tor's torrc gaining its `%include`): its lines, secrets `<redacted>`. */
    | { kind: 'persisted-config'; before: string[] | null; after: string[] | null }
  );

export type ChangeKind = Change['kind'];

export interface Owner {
  uid: number;
  gid: number;
}

export interface OwnerNames {
  user?: string;
  group?: string;
}

/** What a file-system step expects to find at its path (what the plan saw). */
export interface FileFacts {
  uid: number;
  gid: number;
  mode: number;
}

interface StepBase {
  /** The control command exactly as it will be sent (secrets `<redacted>`), or a description of a file effect. */
  display: string;
  /** `kind:id` of the changes this step carries out. */
  changes: string[];
}

/** A record as the plan knows it: the address of a key the same apply generates, and every key's digest, come at apply time. */
export type PlannedRecord = Omit<EphemeralRecord, 'address' | 'keyDigest'> & { address?: string };

/** Each op's display, batching and execution are in steps.ts (STEPS); a new op is added there and here. */
export type Step = StepBase &
  (
    | { op: 'generate-key'; service: string; path: string; /** The key store it is added to; absent for a key file of its own. */ store?: string }
    /** Created exclusively (never an existing directory), then chmod and chown through a handle that follows no link. */
    | {
        op: 'mkdir';
        path: string;
        mode: number;
        owner?: Owner;
        /** Names of owner.uid/gid, for the display. */
        names?: OwnerNames;
        /** Why, for the display. */
        note?: string;
        /**
         * A parent: found existing at apply time it is accepted if it is a real directory of ours that others
         * cannot write (an earlier step or apply's lock made it, as with a service inside the state directory).
         */
        parent?: boolean;
      }
    /** An existing directory's mode; `from` is what the plan saw, re-checked at apply. */
    | { op: 'chmod'; path: string; mode: number; from: FileFacts; note: string }
    /** An existing directory's owner; `from` is what the plan saw, re-checked at apply. */
    | { op: 'chown'; path: string; owner: Owner; names?: OwnerNames; from: FileFacts; note: string }
    | { op: 'write-file'; path: string; content: MaybeSecret; mode: number; owner?: Owner; names?: OwnerNames; /** Why, for the display. */ note: string }
    | { op: 'remove-file'; path: string; note: string }
    | { op: 'setconf'; entries: Array<[string, MaybeSecret | null]> }
    | { op: 'resetconf'; keys: string[] }
    | { op: 'add-onion'; service: string; keyFile: string; ports: OnionPortSpec[]; flags: string[]; maxStreams?: number; clientAuthV3: string[] }
    | { op: 'record-service'; record: PlannedRecord }
    | { op: 'del-onion'; serviceId: string; service?: string }
    | { op: 'client-auth-add'; address: string; privateKey: Secret<string>; clientName?: string; permanent: boolean }
    | { op: 'client-auth-remove'; address: string }
    | { op: 'forget-record'; target: string; spec: string; service: string }
    | { op: 'restart-tor'; dataDirectory: string; /** The start-up torrc options of the new tor (startup.ts). */ options: Record<string, string[]>; /** The restart-only options that differ. */ names: string[] }
    | {
        op: 'persist-file';
        path: string;
        content: MaybeSecret;
        mode: number;
        owner?: Owner;
        /** Tor's torrc and defaults file, which verify reads with the new file. */
        torrc?: string;
        defaults?: string;
        /** The tor that verifies it, and the `User` it verifies with (tor's, when that is not ours). */
        binary: string;
        user?: Owner & { name: string };
      }
    | { op: 'persist-include'; torrc: string; line: string }
    | { op: 'saveconf' }
  );

export type StepOp = Step['op'];

/** The step of one op, with its data. */
export type StepOf<O extends StepOp> = Extract<Step, { op: O }>;

export interface PlanProblem {
  /** `kind:id` of the item at fault. */
  item: string;
  message: string;
  source?: SourcePos;
}

export interface Plan {
  format_version: 1;
  /** The control address the plan was computed against. */
  target: string;
  /** Where its keys and records are written (apply locks it while doing so). */
  stateDirectory: string;
  torVersion: string;
  liveFingerprint: string;
  specFiles: string[];
  /**
   * `salt:digest` binding the plan to the secret values it was computed with (salted; reveals nothing). Made
   * by computePlan from PlanContext.salt; absent without one (a plan that is shown or applied at once).
   */
  secretsDigest?: string;
  changes: Change[];
  steps: Step[];
  /** Blocking: the plan cannot be applied while any is present. */
  errors: PlanProblem[];
  warnings: PlanProblem[];
  summary: PlanSummary;
  /**
   * Restart-only options differ: `apply` restarts the embedded tor itself (a `restart-tor` step), or, on a
   * tor it did not start, applies the rest and leaves the restart `pending`. Absent when none differ.
   */
  restart?: 'apply' | 'pending';
  /** Every declared onion service's address, as far as it is known before applying. */
  addresses: ServiceAddress[];
  /**
   * `persist: none`, nothing to change: the managed items (`kind:id`) in sync now that tor's next restart or
   * reload would revert, its torrc not holding them. Absent when there are none.
   */
  lostOnRestart?: string[];
  /** `persist: none`, nothing to change, and tor's torrc could not be read: why lostOnRestart is not known. */
  restartUnknown?: string;
  /**
   * The spec's embedded tor (tor.launch) is not running: this plan is against the configuration it would
   * start with (offline.ts), and `apply` launches it first. plan and diff never launch it.
   */
  launch?: { binary: string; dataDirectory: string };
}

export interface ServiceAddress {
  /** The service's name in the spec. */
  name: string;
  type: 'filesystem' | 'ephemeral';
  /** 56 characters, no `.onion`; null while tor (or the apply) has yet to make its key. */
  address: string | null;
}

export interface PlanSummary {
  create: number;
  update: number;
  delete: number;
  replace: number;
  needsRestart: number;
  /** Control commands the plan will send. */
  commands: number;
}

export type StepStatus = 'done' | 'failed' | 'skipped';

export interface StepResult {
  step: Step;
  status: StepStatus;
  /** What went wrong, with tor's reason from its WARN log when tor only says "see logs". */
  error?: string;
  torWarnings?: string[];
}

export interface ApplyResult {
  ok: boolean;
  results: StepResult[];
  /** Changes a fresh plan still shows after applying (should be empty; reconcileOnce verifies, applyPlan alone does not). */
  remaining: Change[];
  interrupted?: boolean;
  /** What failed outside any step: the state file could not be written after tor accepted the steps. */
  error?: string;
  /** The services' addresses read back after applying (reconcileOnce's verifying plan). */
  addresses?: ServiceAddress[];
}
