/**
 * The control connection watch works through: connect (starting the embedded tor of `tor.launch` as a child
 * when it is not running), and on any loss reconnect with jittered exponential backoff — which also restarts
 * an embedded tor that died. Stopping leaves tor as it is: a tor this process started stops with it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DesiredState } from '../../spec/model.js';
import { openTarget, type Target } from '../target.js';
import type { LogFn } from './types.js';

export interface ConnectionOptions {
  /** Overrides tor.control. */
  control?: string;
  timeoutMs?: number;
  reconnect: { initialMs: number; maxMs: number };
  /** The spec in force: which tor to reach (tor.control, tor.launch). */
  desired: () => DesiredState;
  /** Readies a new connection before it is taken into use; throwing closes it and fails this connect. */
  prepare: (target: Target) => Promise<void>;
  /** The new connection is in use (after a reconnect, `reconnected` follows). */
  connected: (target: Target) => Promise<void>;
  reconnected: () => void;
  lost: (err: Error) => void;
  log: LogFn;
}

export class ConnectionSupervisor {
  readonly #o: ConnectionOptions;
  #target: Target | undefined;
  #reconnecting: Promise<void> | undefined;
  #stopping = false;
  readonly #abort = new AbortController();

  constructor(options: ConnectionOptions) {
    this.#o = options;
  }

  get target(): Target | undefined {
    return this.#target;
  }

  /** Connect; failing that, keep trying in the background (in a deployment tor may come up after us). */
  async start(): Promise<void> {
    try {
      await this.#connect();
    } catch (err) {
      this.#lost(err as Error);
    }
  }

  /** Stop reconnecting; resolves when the attempt in progress, if any, is over. The connection stays open. */
  halt(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    return this.#reconnecting?.catch(() => {}) ?? Promise.resolve();
  }

  /** Disconnect, stopping the tor this process started, if any. */
  async close(): Promise<void> {
    const target = this.#target;
    this.#target = undefined;
    if (target?.launched) await target.launched.stop();
    else await target?.client.close();
  }

  async #connect(): Promise<void> {
    const target = await openTarget(this.#o.desired(), {
      ...(this.#o.control ? { control: this.#o.control } : {}),
      ...(this.#o.timeoutMs ? { timeout: this.#o.timeoutMs } : {}),
      start: true,
      child: true,
      log: (m) => this.#o.log('info', 'tor', m),
    });
    try {
      await this.#o.prepare(target);
    } catch (err) {
      await target.client.close();
      throw err;
    }
    this.#target = target;
    target.client.connection.onClose((err) => this.#lost(err));
    await this.#o.connected(target);
  }

  #lost(err: Error): void {
    this.#o.lost(err);
    if (this.#stopping) return;
    this.#o.log('warn', 'tor', `lost the control connection: ${err.message}; reconnecting`);
    this.#reconnecting ??= this.#reconnectLoop().finally(() => (this.#reconnecting = undefined));
  }

  async #reconnectLoop(): Promise<void> {
    let delay = this.#o.reconnect.initialMs;
    for (;;) {
      if (this.#stopping) return;
      // Jitter: many watchers restarting together must not hammer one tor in lockstep.
      await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal: this.#abort.signal }).catch(() => {});
      if (this.#stopping) return;
      try {
        await this.#connect();
        if (!this.#target?.client.connection.isClosed) {
          this.#o.reconnected();
          return;
        }
        // Lost again while connecting: #lost() found this loop still running and left the retry to it.
        this.#o.log('warn', 'tor', `the control connection closed again while connecting; retrying in ${Math.round(delay / 1000)}s`);
      } catch (err) {
        this.#o.log('warn', 'tor', `reconnect failed: ${(err as Error).message}; retrying in ${Math.round(delay / 1000)}s`);
      }
      delay = Math.min(delay * 2, this.#o.reconnect.maxMs);
    }
  }
}
