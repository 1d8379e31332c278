/**
 * The desired state: what a spec says a tor should be, validated and normalized. Plain data (no sockets,
 * no files open), produced by `loadSpec` and consumed by the reconciler. Every item keeps where it was
 * written so later errors (a refusal from tor, a key mismatch) can point back into the YAML.
 */
import type { Secret } from '../tor/secret.js';

export interface SourcePos {
  /** The spec file as it was given to loadSpec (what error messages show); `DesiredState.files` has it absolute. */
  file: string;
  line: number;
  col: number;
}

export interface LaunchSpec {
  /** Absolute. */
  dataDirectory: string;
  binary: string;
  /** Extra torrc options for the embedded tor, tor's names, values as torrc text. */
  options: Record<string, string[]>;
}

export interface TorTarget {
  /** `unix:PATH` or `tcp:HOST:PORT`; absent when the spec gives `launch` instead. */
  control?: string;
  password?: Secret<string>;
  cookieFile?: string;
  launch?: LaunchSpec;
}

export interface DesiredOption {
  /** Canonical tor name (exact case from config/names). */
  name: string;
  /**
   * The lines to set, in tor's form (one per LineList line); `null` = managed and reset to tor's default.
   * An interpolated value is a Secret: shown as `<redacted>` everywhere.
   */
  value: Array<string | Secret<string>> | null;
  /** Tor refuses to change it while running (553): a plan says "needs restart". */
  immutable: boolean;
  source: SourcePos;
}

export interface OnionPortSpec {
  port: number;
  /** `HOST:PORT` or `unix:PATH`, as tor prints it back. */
  target: string;
}

export interface AuthorizedClient {
  name: string;
  /** Base32 x25519 public key, 52 characters, no padding, lowercase as tor writes it (tor reads either case). */
  publicKey: string;
}

export interface FilesystemService {
  type: 'filesystem';
  name: string;
  /** Absolute, normalized (`/a/` and `/a` are the same). */
  directory: string;
  ports: OnionPortSpec[];
  /** Other HiddenService* options of the group, canonical name → tor value, in spec order. */
  options: Array<[name: string, value: string]>;
  authorizedClients: AuthorizedClient[];
  /** 56-char address pin (no `.onion`): the plan fails if the key would give another. */
  address?: string;
  /** An existing, non-empty directory tor's user does not own may be handed to it (chown, chmod: shown as steps). */
  adopt?: boolean;
  /** An Onionbalance backend's `ob_config` (its `MasterOnionAddress` line), written before tor loads the service. */
  obConfig?: string;
  /** With `DesiredState.targets`: the targets that run it; absent = every target. */
  targets?: string[];
  source: SourcePos;
}

export interface EphemeralService {
  type: 'ephemeral';
  name: string;
  /** Absolute path of the key file; generated (0600) if missing. */
  keyFile: string;
  ports: OnionPortSpec[];
  maxStreams?: number;
  maxStreamsCloseCircuit: boolean;
  authorizedClients: AuthorizedClient[];
  address?: string;
  /** With `DesiredState.targets`: the targets that run it; absent = every target. */
  targets?: string[];
  source: SourcePos;
}

export type OnionServiceSpec = FilesystemService | EphemeralService;

export interface ClientAuthSpec {
  /** 56-char v3 address, no `.onion`. */
  address: string;
  /** Base32 x25519 private key (as in tor's `.auth_private` files). */
  privateKey: Secret<string>;
  clientName?: string;
  permanent: boolean;
  source: SourcePos;
}

/**
 * How applied state outlives a tor restart. `file`: a torrc drop-in this spec owns (absolute path), which
 * tor's torrc must `%include` (`include`: apply adds that line); `saveconf`: tor rewrites its own torrc;
 * `none`: what apply sets lasts until tor restarts or reloads.
 */
export type PersistSpec =
  | { mode: 'none'; source?: SourcePos }
  | { mode: 'saveconf'; source?: SourcePos }
  | { mode: 'file'; file: string; include: boolean; source?: SourcePos };

/**
 * `type: balanced` (issue #17): one frontend address, served by backend tors through Onionbalance. Not an
 * OnionServiceSpec of any one tor: the fleet layer turns it into a filesystem service on each backend and
 * Onionbalance's files for the frontend.
 */
export interface BalancedService {
  type: 'balanced';
  name: string;
  /** Absolute key file of the frontend (tor-reconcile's key file format); generated when missing if `generated`. */
  frontendKeyFile: string;
  generated: boolean;
  /** Absolute: where config.yaml and the frontend key for Onionbalance are written. */
  frontendDirectory: string;
  /** Target names. */
  backends: string[];
  /** Absolute; `{target}` stands for each backend's name. */
  directory: string;
  ports: OnionPortSpec[];
  options: Array<[name: string, value: string]>;
  /** `onionbalance: { manage: true }`: tor-reconcile starts, reloads and supervises the process. */
  onionbalance?: ManagedOnionbalance;
  source: SourcePos;
}

/** How tor-reconcile runs Onionbalance for one balanced service (src/fleet/onionbalance.ts). */
export interface ManagedOnionbalance {
  /** The control address (formatted, a unix path absolute) of Onionbalance's own tor. */
  control: string;
  /** A name looked up in PATH, or an absolute path. */
  binary: string;
  isTestnet: boolean;
  verbosity: 'debug' | 'info' | 'warning' | 'error' | 'critical';
  source: SourcePos;
}

/** One tor of a fleet (`targets:`); the fleet layer (src/fleet) derives its own DesiredState from these. */
export interface FleetTarget {
  name: string;
  /** `unix:PATH` or `tcp:HOST:PORT`. */
  control: string;
  password?: Secret<string>;
  cookieFile?: string;
  labels: Record<string, string>;
  /** Overrides of the top-level options, by tor name (checked against a tor's table like them). */
  options: DesiredOption[];
  source: SourcePos;
}

export interface DesiredState {
  version: 1;
  /** The spec files merged, in order (absolute paths). */
  files: string[];
  tor: TorTarget;
  /** Several tors (`targets:`); absent for a spec of one tor. `tor` is then empty. */
  targets?: FleetTarget[];
  /** Absolute; where generated keys live (0700). */
  stateDirectory: string;
  /** Only these keys are managed; in spec order. */
  options: DesiredOption[];
  /** In spec order; filesystem services keep their relative order in tor's HiddenService block. */
  onionServices: OnionServiceSpec[];
  /** `type: balanced` services (only with `targets`); absent when there are none. */
  balanced?: BalancedService[];
  /** Services present in tor but absent from the spec may be removed (otherwise the plan refuses). */
  prune: boolean;
  clientAuth: ClientAuthSpec[];
  /** Stream-attach policies (first match wins); absent when the spec has none. */
  attach?: AttachSpec;
  /** Absent (a state built by hand) is `none`. */
  persist?: PersistSpec;
  /** `health:`, for `tor-reconcile watch`; absent when the spec has none. */
  health?: HealthSpec;
}

/** watch's self-check of the declared onion services (docs/health.md); what is absent takes watch's default. */
export interface HealthSpec {
  check: { socks?: string; intervalMs?: number; timeoutMs?: number; source: SourcePos };
}

/** What a policy matches; every given condition must hold. */
export interface AttachMatch {
  /** Glob patterns (`*` any run of characters, `?` one), matched case-insensitively against the target host. */
  hosts?: string[];
  /** IPv4/IPv6 networks `ADDR/BITS`, matched against a target given as an IP address. */
  cidrs?: string[];
  /** Inclusive port ranges. */
  ports?: Array<[from: number, to: number]>;
  /** true: only `.onion` targets; false: never them. */
  onion?: boolean;
  /** Glob on the SOCKS username (the stream's isolation key). */
  socksUsername?: string;
  /** tor's SESSION_GROUP of the SocksPort the stream came in on (set `SessionGroup=N` on that SocksPort). */
  sessionGroup?: number;
}

export interface AttachCircuit {
  /** Lowercase two-letter country codes the exit must be in. */
  exitCountries?: string[];
  /** Relays by `$FINGERPRINT` (uppercase hex) or nickname; `*` lets tor-reconcile choose that hop. */
  path?: string[];
  /** per-host: one circuit per target host; per-stream: a fresh circuit for each stream; none: share. */
  isolate: 'none' | 'per-host' | 'per-stream';
  /** Seconds a circuit may carry new streams after its first. */
  maxDirtiness?: number;
}

export interface AttachPolicy {
  name: string;
  match: AttachMatch;
  /** `circuit`: a circuit chosen or built as `circuit` says; `tor`: tor's own choice; `reject`: close the stream. */
  action: 'circuit' | 'tor' | 'reject';
  circuit?: AttachCircuit;
  /** What happens to a stream no suitable circuit was found for within `deadlineMs`. */
  onFailure: 'tor' | 'reject';
  deadlineMs: number;
  source: SourcePos;
}

export interface AttachSpec {
  policies: AttachPolicy[];
  /** For streams no policy matches. */
  default: 'tor' | 'reject';
  source: SourcePos;
}
