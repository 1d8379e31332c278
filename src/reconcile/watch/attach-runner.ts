/**
 * The live attach-policy engine, run exactly while the spec has policies tor cannot enforce by itself
 * (native ones are plain options the plan sets).
 */
import type { DesiredState } from '../../spec/model.js';
import type { TorClient } from '../../tor/client.js';
import { TorState } from '../../tor/state/index.js';
import { AttachEngine } from '../attach/engine.js';
import { resolveDesired } from '../desired.js';
import type { LogFn } from './types.js';

export class AttachRunner {
  #running: { state: TorState; engine: AttachEngine } | undefined;
  readonly #log: LogFn;

  constructor(log: LogFn) {
    this.#log = log;
  }

  get engine(): AttachEngine | undefined {
    return this.#running?.engine;
  }

  /**
   * Start, update or stop the engine for `desired`. Calls must not overlap (the watcher serializes them);
   * `stopping` may turn true at any await, and no engine may start after it.
   */
  async sync(desired: DesiredState, client: TorClient | undefined, stopping: () => boolean): Promise<void> {
    const spec = desired.attach;
    const live = spec !== undefined && resolveDesired(desired).attach.livePolicies.length > 0;
    if (live && this.#running) {
      this.#running.engine.update(spec);
      return;
    }
    if (!live || stopping()) return this.stop();
    if (!client) return;
    const state = await TorState.create(client);
    let engine: AttachEngine | undefined;
    try {
      if (!stopping()) engine = await AttachEngine.start(state, spec, this.#log);
    } catch (err) {
      await state.close().catch(() => {});
      throw err;
    }
    if (!engine || stopping()) {
      await engine?.stop().catch(() => {});
      await state.close().catch(() => {});
      return;
    }
    this.#running = { state, engine };
    this.#log('info', 'attach', `enforcing attach policies ${spec.policies.map((p) => p.name).join(', ')} (default ${spec.default})`);
  }

  async stop(): Promise<void> {
    const r = this.#running;
    this.#running = undefined;
    if (!r) return;
    await r.engine.stop().catch(() => {});
    await r.state.close().catch(() => {});
  }
}
