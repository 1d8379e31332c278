/**
 * Tor sends no event when another controller deletes a detached onion service (DEL_ONION), so watch asks:
 * one `GETINFO onions/detached` every `intervalMs`, and a reconcile only when a declared service is missing
 * from the answer. The same poll, reading ONION_CLIENT_AUTH_VIEW, finds client credentials tor forgot without
 * a CONF_CHANGED (a SETCONF or RESETCONF that changed no value: client-auth.ts). The poll plans nothing and
 * reads nothing else; with nothing expected it sends nothing at all.
 */
import type { TorClient } from '../../tor/client.js';

export interface OnionPollOptions {
  /** 0 disables the poll. */
  intervalMs: number;
  /** The addresses tor should have now (the declared ephemeral services whose keys are known, or credentials). */
  expected: () => ReadonlySet<string>;
  /** What tor has, one address a line (`GETINFO onions/detached`'s form). */
  read: (client: TorClient) => Promise<string>;
  /** The connection to ask through; undefined while there is none, or while a reconcile is running or due. */
  client: () => TorClient | undefined;
  /** Expected addresses tor no longer has. */
  missing: (addresses: string[]) => void;
  failed: (err: Error) => void;
}

export class OnionPoll {
  readonly #o: OnionPollOptions;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;
  /**
   * The missing set last reported: a service that stays missing (warn mode, a failed restore) is reported
   * once, until `rearm()`.
   */
  #reported = '';

  constructor(options: OnionPollOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#o.intervalMs > 0) this.#arm();
  }

  /** No further polls; resolves when the one in flight, if any, is over. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  /**
   * Watch changed tor's onion services (a restore): whatever is missing at the next poll is news, even if it
   * is what was reported last, since the service may have been restored and deleted again between two polls.
   */
  rearm(): void {
    this.#reported = '';
  }

  /** One poll now. */
  async poll(): Promise<void> {
    const expected = this.#o.expected();
    const client = this.#o.client();
    if (!expected.size || !client) return;
    let have: string;
    try {
      have = await this.#o.read(client);
    } catch (err) {
      // A lost connection is the reconnect loop's to handle, and its reconcile restores everything.
      if (!client.connection.isClosed) this.#o.failed(err as Error);
      return;
    }
    const missing = missingOnions(expected, have);
    const key = missing.join(',');
    if (key === this.#reported || this.#stopped) return;
    this.#reported = key;
    if (missing.length) this.#o.missing(missing);
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#polling = this.poll().finally(() => {
        this.#polling = undefined;
        if (!this.#stopped) this.#arm();
      });
    }, this.#o.intervalMs);
    this.#timer.unref();
  }
}

/** The expected addresses absent from a `GETINFO onions/detached` answer (one address a line), sorted. */
export function missingOnions(expected: ReadonlySet<string>, detached: string): string[] {
  const running = new Set(detached.split('\n').map((s) => s.trim()));
  return [...expected].filter((a) => !running.has(a)).sort();
}
