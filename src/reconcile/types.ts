/**
 * The reconciler's data: what tor is (LiveState), what must change (Change), and the exact effects that
 * will make it so (Step), bundled as a Plan. All plain and serialisable: a Plan is computed by a pure
 * function, rendered by views, saved to a file, and executed by apply — which runs its steps and nothing else.
 */
import type { SourcePos } from '../spec/model.js';
import type { ClientAuthEntry } from '../tor/replies.js';
import type { Secret } from '../tor/secret.js';
import type { ServiceGroup } from './hsblock.js';

/** What tor-reconcile recorded about an ephemeral service it created (tor can't tell us its ports). */
export interface EphemeralRecord {
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
  exists: boolean;
  /** Permission bits of the directory, when it exists. */
  mode?: number;
  /** Something other than a directory is at the path. */
  notDirectory?: boolean;
}

export interface LiveState {
  torVersion: string;
  /** `GETINFO process/uid`: who tor runs as (directories it must own). */
  torUid?: number;
  /** Managed options only: tor's canonical name → read-back lines. */
  options: Map<string, string[]>;
  services: ServiceGroup[];
  /** Keyed by normalized directory, for the services the spec declares. */
  serviceFiles: Map<string, LiveServiceFiles>;
  detachedOnions: string[];
  clientAuth: ClientAuthEntry[];
  /** Keyed by spec service name. */
  ephemeralKeys: Map<string, LocalKey>;
  /** What tor-reconcile created earlier (state file in the state directory), by recordKey(spec, name). */
  records: Map<string, EphemeralRecord>;
  /** Hash of everything above: a saved plan is stale when tor's fingerprint changed. */
  fingerprint: string;
}

export type ChangeKind = 'option' | 'filesystem-service' | 'ephemeral-service' | 'client-auth';
export type Action = 'create' | 'update' | 'delete' | 'replace' | 'noop';

export interface Change {
  kind: ChangeKind;
  /** Option name, service name, or onion address. */
  id: string;
  action: Action;
  /** Plain JSON; secrets are `<redacted>`. */
  before: unknown;
  after: unknown;
  reason: string;
  /** Tor can't change it while running: reported, never sent. */
  needsRestart?: boolean;
  source?: SourcePos;
}

export interface Owner {
  uid: number;
  gid: number;
}

interface StepBase {
  /** The control command exactly as it will be sent (secrets `<redacted>`), or a description of a file effect. */
  display: string;
  /** `kind:id` of the changes this step carries out. */
  changes: string[];
}

export type Step = StepBase &
  (
    | { op: 'generate-key'; service: string; path: string }
    | { op: 'mkdir'; path: string; owner?: Owner }
    | { op: 'write-file'; path: string; content: string; owner?: Owner }
    | { op: 'remove-file'; path: string }
    | { op: 'setconf'; entries: Array<[string, string | Secret<string> | null]> }
    | { op: 'resetconf'; keys: string[] }
    | { op: 'add-onion'; service: string; keyFile: string; ports: string[]; flags: string[]; maxStreams?: number; clientAuthV3: string[]; record: string }
    | { op: 'del-onion'; serviceId: string; service?: string }
    | { op: 'client-auth-add'; address: string; privateKey: Secret<string>; clientName?: string; permanent: boolean }
    | { op: 'client-auth-remove'; address: string }
    | { op: 'forget-record'; service: string }
  );

export type StepOp = Step['op'];

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
  torVersion: string;
  liveFingerprint: string;
  specFiles: string[];
  /** Digest binding the plan to the secret values it was computed with (salted; reveals nothing). */
  secretsDigest: string;
  changes: Change[];
  steps: Step[];
  /** Blocking: the plan cannot be applied while any is present. */
  errors: PlanProblem[];
  warnings: PlanProblem[];
  summary: PlanSummary;
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
  /** Changes a fresh plan still shows after applying (should be empty). */
  remaining: Change[];
  interrupted?: boolean;
  /** What failed outside any step: the state file could not be written after tor accepted the steps. */
  error?: string;
}
