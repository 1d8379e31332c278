/** Expected failures of reconciling (not bugs): the CLI prints their message, without a stack trace. */
export class ReconcileError extends Error {
  override name = 'ReconcileError';
}

/** The plan has blocking problems (unmanaged services in the way, a key that doesn't match its pin…). */
export class PlanBlockedError extends ReconcileError {
  override name = 'PlanBlockedError';
}

/** A saved plan no longer describes what applying would do. */
export class StalePlanError extends ReconcileError {
  override name = 'StalePlanError';
}

/** tor-reconcile's own state file is unreadable or not ours. */
export class StateFileError extends ReconcileError {
  override name = 'StateFileError';
}

/** `--wait-published`: some descriptors were not uploaded in time. */
export class PublishTimeoutError extends ReconcileError {
  override name = 'PublishTimeoutError';
}

/** Another tor-reconcile holds the state directory's lock (it is applying a plan there). */
export class StateLockedError extends ReconcileError {
  override name = 'StateLockedError';
}

/** What apply persists would not hold: tor refuses the new drop-in (verify), or cannot write its torrc (SAVECONF). */
export class PersistError extends ReconcileError {
  override name = 'PersistError';
}
