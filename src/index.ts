/**
 * tor-reconcile as a library: the reconciler the CLI runs (`loadSpec`, `plan`, `apply`, `watch`), and
 * underneath it a typed client for Tor's control protocol.
 *
 * ```ts
 * import { apply, connect, plan, watch } from 'tor-reconcile';
 * const p = await plan('spec.yaml');                  // a plain Plan: p.changes, p.steps, p.errors
 * const { result } = await apply('spec.yaml');        // result.ok, result.results
 * const w = watch('spec.yaml').on('drift', (d) => console.log(d.changes));
 * await w.start();
 * const tor = await connect({ control: 'unix:/run/tor/control' });
 * console.log(await tor.getInfo('version'));
 * ```
 */

// The reconciler. `status` (issue #14 part 4: each declared service's address and state) joins these.
export { loadSpec, plan, apply, watch, SpecWatch } from './reconcile/library/index.js';
export type { SpecFiles, ReconcilerOptions, ApplyCallOptions, Applied, SpecWatchOptions, WatchEvents, WatchChange } from './reconcile/library/index.js';
export type { WatchHealth, WatchMetrics, WatchLogEntry, Trigger, OnionHealthOptions, OnionHealthReport, OnionServiceHealth } from './reconcile/watch.js';
export type { Plan, PlanProblem, PlanSummary, Change, ChangeKind, Action, Step, StepOp, StepResult, StepStatus, ApplyResult } from './reconcile/types.js';
export { ReconcileError, PlanBlockedError, StalePlanError, StateFileError, StateLockedError, PublishTimeoutError } from './reconcile/errors.js';
export { SpecErrors, formatDiagnostic } from './spec/index.js';
export type { SpecDiagnostic, LoadOptions, LoadResult, DesiredState } from './spec/index.js';

// The control-protocol client.
export { connect, TorClient, addOnionCommand, delOnionCommand, clientAuthAddCommand, clientAuthRemoveCommand } from './tor/client.js';
export type { ConnectOptions, ConfInput, Keys, Signal, OnionPort, AddOnionOptions, ClientAuthAddOptions } from './tor/client.js';
export { launch, LaunchedTor, stopTor } from './tor/launch.js';
export type { LaunchOptions, BootstrapStatus } from './tor/launch.js';
export { authenticate } from './tor/auth.js';
export type { AuthMethod, AuthOptions } from './tor/auth.js';
export { ControlConnection } from './tor/connection.js';
export type { ConnectionOptions, SendOptions } from './tor/connection.js';
export { parseControlAddress, formatControlAddress } from './tor/address.js';
export type { ControlAddress } from './tor/address.js';
export * from './tor/errors.js';
export { UNRECOGNIZED_WARNING } from './tor/warn.js';
export { Secret, isSecret } from './tor/secret.js';
export { buildCommand, buildDataCommand, commands } from './tor/protocol/encoder.js';
export type { Command, ConfValue } from './tor/protocol/encoder.js';
export { ReplyReader } from './tor/protocol/reader.js';
export type { ReaderLimits } from './tor/protocol/reader.js';
export type { Reply, ReplyLine } from './tor/protocol/reply.js';
export { quoteString, unquoteString, tokenize } from './tor/protocol/quoting.js';
export * from './tor/replies.js';
export * from './tor/events.js';
export * from './tor/onion/index.js';
export { OptionTable } from './tor/config/types.js';
export type { OptionInfo, OptionType } from './tor/config/types.js';
export { toTor, canonical, sameValue, ValueError } from './tor/config/normalize.js';
export { IMMUTABLE_OPTIONS } from './tor/config/immutable.js';
export * from './tor/state/index.js';
export { torConnect, socksConnect, resolve as torResolve, resolvePtr as torResolvePtr, connectVia, torFetch } from './tor/socks/index.js';
export * from './tor/socks/errors.js';
export { StreamAttacher } from './tor/attacher.js';
export type { AttachDecision, AttachHandler, AttacherOptions } from './tor/attacher.js';
