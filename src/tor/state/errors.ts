import { TorError } from '../errors.js';

/** A circuit did not get built, or closed while someone waited for it; carries tor's reasons. */
export class CircuitError extends TorError {
  override name = 'CircuitError';
  constructor(
    readonly circuitId: string,
    /** FAILED or CLOSED, or TIMEOUT when we stopped waiting. */
    readonly status: string,
    /** Tor's REASON (e.g. TIMEOUT, DESTROYED, CONNECTFAILED, NOPATH, REQUESTED). */
    readonly reason?: string,
    /** REMOTE_REASON: what the relay that tore it down said. */
    readonly remoteReason?: string,
    message?: string,
  ) {
    super(message ?? `circuit ${circuitId} ${status}${reason ? `: ${reason}` : ''}${remoteReason ? ` (remote: ${remoteReason})` : ''}`);
  }
}

/** A stream closed or failed before what we were waiting for (e.g. attaching it). */
export class StreamError extends TorError {
  override name = 'StreamError';
  constructor(
    readonly streamId: string,
    readonly status: string,
    readonly reason?: string,
    readonly remoteReason?: string,
    message?: string,
  ) {
    super(message ?? `stream ${streamId} ${status}${reason ? `: ${reason}` : ''}${remoteReason ? ` (remote: ${remoteReason})` : ''}`);
  }
}
