/**
 * The tor configuration a spec declares, as rules ask about it: an option's lines wherever the spec sets
 * them (top-level `options` win over `tor.launch.options`, as they do when apply sets them over the
 * start-up torrc), where each line was written, and the onion services. A rule can judge only what the
 * spec says: an option the spec leaves unmanaged is tor's default or whatever the tor's own torrc says.
 */
import type { DesiredState, OnionServiceSpec, SourcePos } from '../spec/model.js';
import { isSecret } from '../tor/secret.js';
import type { RuleHit, SpecPath } from './types.js';

export interface OptionLine {
  /** tor's form (`127.0.0.1:9050 IsolateDestAddr`); a `${env:}`/`${file:}` value is never read here. */
  value: string;
  at: SpecPath;
  source?: SourcePos;
}

export class ConfigView {
  readonly #lines = new Map<string, OptionLine[]>();

  constructor(readonly state: DesiredState) {
    for (const [name, values] of Object.entries(state.tor.launch?.options ?? {})) {
      this.#lines.set(name.toLowerCase(), values.map((value, i) => ({ value, at: ['tor', 'launch', 'options', name, i] })));
    }
    for (const o of state.options) {
      // Reset to tor's default (null): no line of the spec's own.
      const lines = (o.value ?? []).flatMap((v, i) => (isSecret(v) ? [] : [{ value: v, at: ['options', o.name, i], source: o.source }]));
      this.#lines.set(o.name.toLowerCase(), lines);
    }
  }

  /** The lines the spec gives `name` (any case); `[]` when it gives none or resets it to the default. */
  lines(name: string): OptionLine[] {
    return this.#lines.get(name.toLowerCase()) ?? [];
  }

  /** Whether the spec manages `name` at all (a reset to tor's default counts). */
  declares(name: string): boolean {
    return this.#lines.has(name.toLowerCase()) || this.state.options.some((o) => o.name.toLowerCase() === name.toLowerCase());
  }

  /** The last line's value (tor keeps the last for a single-valued option). */
  value(name: string): string | undefined {
    return this.lines(name).at(-1)?.value;
  }

  /** `1`/`0` options: true, false, or undefined when the spec does not set it. */
  flag(name: string): boolean | undefined {
    const v = this.value(name);
    return v === undefined ? undefined : v === '1';
  }

  get services(): OnionServiceSpec[] {
    return this.state.onionServices;
  }

  /** tor-reconcile starts this tor itself (and then always turns on cookie authentication). */
  get launched(): boolean {
    return this.state.tor.launch !== undefined;
  }

  /** The spec declares onion services (filesystem or ephemeral) on this tor. */
  get hostsOnionServices(): boolean {
    return this.state.onionServices.length > 0;
  }
}

/** A filesystem service's HiddenService* option (any case), undefined when not given. */
export function serviceOption(service: OnionServiceSpec, name: string): string | undefined {
  if (service.type !== 'filesystem') return undefined;
  return service.options.findLast(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

export function serviceIndex(config: ConfigView, service: OnionServiceSpec): number {
  return config.services.indexOf(service);
}

/** A finding at one option line. */
export function lineHit(line: OptionLine, message: string): RuleHit {
  return { message, at: line.at, ...(line.source ? { source: line.source } : {}) };
}
