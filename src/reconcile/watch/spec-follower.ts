/**
 * Follows the spec files: their directories are watched (so that editors' rename-on-save and Kubernetes
 * ConfigMap `..data` symlink swaps are seen like plain writes), and the content is acted on by hash. A new
 * valid spec is handed on once; the same invalid content is reported once, not at every resync.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { watch as watchFiles, type FSWatcher } from 'chokidar';
import type { DesiredState } from '../../spec/model.js';

export interface SpecFollowerOptions {
  files: string[];
  /** Quiet period after the last file event before the content is read (ms). */
  quietMs: number;
  load: () => Promise<DesiredState>;
  /** Runs each check; the watcher serializes them with its other spec-dependent work. */
  serialize: (task: () => Promise<void>) => Promise<void>;
  /** A new valid spec (by content). */
  changed: (next: DesiredState) => Promise<void>;
  /** New content that does not load; the last good spec stays in force. */
  invalid: (err: Error) => void;
  /** After invalid content, the files hold the spec in force again (nothing to reload). */
  restored: () => void;
  watchError: (err: Error) => void;
}

export class SpecFollower {
  readonly #o: SpecFollowerOptions;
  #files: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #goodHash = '';
  #badHash = '';
  #closed = false;
  #unready: (() => void) | undefined;

  constructor(options: SpecFollowerOptions) {
    this.#o = options;
  }

  /** Take the content as it is now as the spec in force (its loading is the caller's). */
  async remember(): Promise<void> {
    this.#goodHash = await this.#hash();
  }

  /**
   * Start watching the spec directories. Resolves once the watch is in place: until then an edit goes
   * unnoticed (up to the next resync), and callers take start() to mean that edits are followed.
   */
  watch(): Promise<void> {
    // Closed while the watcher was still starting: a watch opened now would never be closed.
    if (this.#closed) return Promise.resolve();
    const files = watchFiles([...new Set(this.#o.files.map((f) => path.dirname(path.resolve(f))))], { ignoreInitial: true, depth: 0 });
    this.#files = files;
    files.on('all', () => this.#touched());
    files.on('error', (err) => this.#o.watchError(err as Error));
    return new Promise((resolve) => {
      // close() before the watch is in place must not leave start() waiting.
      this.#unready = resolve;
      files.once('ready', resolve);
    });
  }

  /** Load the spec if its content changed since the last check. */
  check(): Promise<void> {
    return this.#o.serialize(async () => {
      if (this.#closed) return;
      const hash = await this.#hash().catch(() => '');
      if (this.#closed || !hash || hash === this.#badHash) return;
      if (hash === this.#goodHash) {
        if (this.#badHash) {
          this.#badHash = '';
          this.#o.restored();
        }
        return;
      }
      let next: DesiredState;
      try {
        next = await this.#o.load();
      } catch (err) {
        this.#badHash = hash;
        this.#o.invalid(err as Error);
        return;
      }
      if (this.#closed) return;
      this.#goodHash = hash;
      this.#badHash = '';
      await this.#o.changed(next);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unready?.();
    clearTimeout(this.#timer);
    await this.#files?.close();
  }

  #touched(): void {
    clearTimeout(this.#timer);
    // Editors save in bursts (write, rename, chmod); ConfigMaps swap a symlink: wait for quiet, then hash.
    this.#timer = setTimeout(() => void this.check(), this.#o.quietMs);
  }

  async #hash(): Promise<string> {
    const h = createHash('sha256');
    for (const f of this.#o.files) h.update(await readFile(f)).update('\0');
    return h.digest('hex');
  }
}
