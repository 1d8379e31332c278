/**
 * Everything in a spec that is judged against one tor's option table: the top-level `options`,
 * `tor.launch.options` and each filesystem service's `options` get tor's names and value forms here, and
 * nowhere else, so the same spec can be checked again against another tor's table.
 */
import type { DesiredOption } from '../model.js';
import { toTor, ValueError, type InputValue } from '../../tor/config/normalize.js';
import type { OptionInfo, OptionTable } from '../../tor/config/types.js';
import { Secret } from '../../tor/secret.js';
import type { Loc, Path } from '../diagnostics.js';
import { closest } from '../issues.js';
import { BURST_RULES, onionOption, onionOptions, onionOptionValue, refusedOnionOption } from '../onion-options.js';
import { pathLabel, toPlain, type MapNode, type ScalarNode, type SpecNode } from '../tree.js';
import { pos, where, type SpecReader } from './reader.js';
import { LAUNCH_OPTIONS } from '../../tor/launch-layout.js';

/** Options that belong to one controller connection or process: set from a spec they outlive it and hurt tor. */
const CONTROLLER_ONLY = new Map<string, string>([
  ['__OwningControllerProcess', 'tor exits when that process ends'],
  ['__OwningControllerFD', 'tor exits when that connection closes'],
  ['__LeaveStreamsUnattached', 'new streams hang while nobody attaches them; use attach policies, whose engine sets and resets it'],
]);

interface OptionEntry {
  info: OptionInfo;
  value: SpecNode;
  keyLoc: Loc;
  path: Path;
}

export class OptionChecker {
  /** `allowUnknownOptions`: options `table` does not know are left out rather than refused (LoadOptions). */
  constructor(
    readonly r: SpecReader,
    readonly table: OptionTable,
    readonly allowUnknownOptions: boolean,
  ) {}

  launchOptions(): Record<string, string[]> {
    const options: Record<string, string[]> = {};
    const map = this.r.node(['tor', 'launch', 'options']);
    if (map?.kind !== 'map') return options;
    for (const o of this.optionEntries(map, ['tor', 'launch', 'options'])) {
      const owned = LAUNCH_OPTIONS.get(o.info.name);
      if (owned) {
        this.r.error(o.keyLoc, `${o.info.name} cannot be set in tor.launch.options: ${owned}`, o.path);
        continue;
      }
      const lines = this.optionLines(o.info, o.value, o.path);
      if (lines) options[o.info.name] = lines;
    }
    return options;
  }

  /** `base`: the top-level options, or a fleet target's overrides (`targets[i].options`). */
  options(launched: boolean, base: Path = ['options']): DesiredOption[] {
    const map = this.r.node(base);
    if (map?.kind !== 'map') return [];
    const out: DesiredOption[] = [];
    for (const o of this.optionEntries(map, base)) {
      const controllerOnly = CONTROLLER_ONLY.get(o.info.name);
      if (controllerOnly) {
        this.r.error(o.keyLoc, `${o.info.name} cannot be managed from a spec: ${controllerOnly}`, o.path);
        continue;
      }
      if (o.value.kind === 'scalar' && o.value.value === null) {
        out.push({ name: o.info.name, value: null, immutable: o.info.immutable, source: pos(o.keyLoc) });
      } else {
        const lines = this.optionLines(o.info, o.value, o.path);
        if (!lines) continue;
        const secret = isSecret(o.value) || (o.value.kind === 'seq' && o.value.items.some(isSecret));
        out.push({ name: o.info.name, value: lines.map((l) => (secret ? new Secret(l) : l)), immutable: o.info.immutable, source: pos(o.keyLoc) });
      }
      if (o.info.immutable) {
        const hint = launched ? '; with tor.launch, set it under tor.launch.options' : '';
        this.r.diags.warn(o.keyLoc, `${o.info.name} needs a tor restart to change: tor refuses a new value while it runs${hint}`);
      }
    }
    return out;
  }

  /**
   * The entries of a mapping of tor options with their canonical names: unknown names (with suggestions),
   * the same option twice in different case, and per-service options are reported and left out.
   */
  optionEntries(map: MapNode, base: Path): OptionEntry[] {
    const out: OptionEntry[] = [];
    const seen = this.r.uniqueBy<string>(
      (name, first) => `${name} is given twice (also as "${first.source.text.slice(first.start, first.end)}" at ${where(first)}); option names ignore case`,
    );
    for (const [key, e] of map.entries) {
      const p = [...base, key];
      if (this.r.diags.isBroken(p)) continue;
      const info = this.table.get(key);
      const isServiceOption = refusedOnionOption(key) !== undefined || (info !== undefined && info.name.startsWith('HiddenService') && (info.type === 'Dependent' || info.type === 'Virtual'));
      if (isServiceOption) {
        this.r.error(e.keyLoc, `${info?.name ?? key} is an onion service option: declare onion services under onionServices`, p);
        continue;
      }
      if (!info && this.allowUnknownOptions) {
        this.r.diags.leaveOut(p);
        continue;
      }
      if (!info) {
        const guesses = this.table.suggest(key);
        const hint = guesses.length ? `; did you mean ${guesses.join(' or ')}?` : '';
        const version = this.table.torVersion ? ` (tor ${this.table.torVersion})` : '';
        this.r.error(e.keyLoc, `unknown tor option "${key}"${version}${hint}`, p);
        continue;
      }
      if (!seen.add(info.name, e.keyLoc, p, e.keyLoc)) continue;
      out.push({ info, value: e.value, keyLoc: e.keyLoc, path: p });
    }
    return out;
  }

  /** The value in tor's form, or undefined after reporting why tor would refuse it (secrets redacted). */
  optionLines(info: OptionInfo, node: SpecNode, p: Path): string[] | undefined {
    const secrets: string[] = [];
    const input = inputValue(node, secrets);
    try {
      return toTor(info, input);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      // ValueError messages start with the option name; the section in front makes them read like the others.
      const section = pathLabel(p.slice(0, -1));
      this.r.error(node.loc, `${section}.${redact(err.message, secrets, `${info.name}: the interpolated value is not a valid ${info.type} value`)}`, p);
      return undefined;
    }
  }

  /** The per-service HiddenService* options, in spec order, with tor's joint checks of rate and burst. */
  serviceOptions(service: Path): Array<[string, string]> {
    const map = this.r.node([...service, 'options']);
    if (map?.kind !== 'map') return [];
    const out: Array<[string, string]> = [];
    const keyLocs = this.r.uniqueBy<string>((name, first) => `${name} is given twice in this service (first at ${where(first)}); option names ignore case`);
    for (const [key, e] of map.entries) {
      const p = [...service, 'options', key];
      if (this.r.diags.hasErrorAt(p)) continue;
      const refused = refusedOnionOption(key);
      if (refused) {
        this.r.error(e.keyLoc, `${key} cannot be set here: ${refused}`, p);
        continue;
      }
      const info = onionOption(key);
      if (!info) {
        const global = this.table.get(key);
        if (global && !global.name.startsWith('HiddenService')) {
          this.r.error(e.keyLoc, `${global.name} is not a per-service option; set it under the top-level options`, p);
        } else {
          const guess = closest(key, onionOptions().map((o) => o.name));
          this.r.error(e.keyLoc, `unknown onion service option "${key}"${guess ? `; did you mean ${guess}?` : ''}`, p);
        }
        continue;
      }
      if (!this.table.get(info.name) && this.allowUnknownOptions) {
        this.r.diags.leaveOut(p);
        continue;
      }
      if (!this.table.get(info.name)) {
        this.r.error(e.keyLoc, `${info.name} is not known to this tor${this.table.torVersion ? ` (${this.table.torVersion})` : ''}`, p);
        continue;
      }
      if (!keyLocs.add(info.name, e.keyLoc, p, e.keyLoc)) continue;
      const value = onionOptionValue(info, toPlain(e.value) as string | number | boolean);
      if (typeof value !== 'string') {
        this.r.error(e.value.loc, value.error, p);
        continue;
      }
      out.push([info.name, value]);
    }
    const values = new Map(out);
    for (const rule of BURST_RULES) {
      if (values.get(rule.enabled) !== '1') continue;
      const rate = Number(values.get(rule.rate) ?? onionOption(rule.rate)!.default);
      const burst = Number(values.get(rule.burst) ?? onionOption(rule.burst)!.default);
      if (burst < rate) {
        const at = keyLocs.seen.get(rule.burst) ?? keyLocs.seen.get(rule.rate)!;
        this.r.error(at, `${rule.burst} (${burst}) is below ${rule.rate} (${rate}) while ${rule.enabled} is on; tor refuses that`, [...service, 'options']);
      }
    }
    return out;
  }
}

/** A value the desired state must hold as a Secret: interpolated, or a secret even when written literally. */
function isSecret(node: SpecNode): boolean {
  return node.kind === 'scalar' && (node.secret || node.sensitive);
}

/**
 * What toTor gets for a YAML value. Integers beyond 2^53 are passed as their digits, which YAML's numbers
 * would round. Secret texts are collected so messages can be redacted.
 */
function inputValue(node: SpecNode, secrets: string[]): InputValue {
  const one = (n: SpecNode): string | number | boolean => {
    const s = n as ScalarNode;
    if (typeof s.value === 'number' && Number.isInteger(s.value) && !Number.isSafeInteger(s.value) && s.text !== undefined) return s.text;
    if (isSecret(s) && typeof s.value === 'string') secrets.push(s.value);
    return s.value as string | number | boolean;
  };
  if (node.kind === 'seq') return node.items.map(one);
  if (node.kind === 'scalar' && node.value === null) return null;
  return one(node);
}

/**
 * `message` with secret values replaced by `<redacted>` where toTor quotes them; if a secret still shows
 * (say it is `1`, and the message mentions `1/0`), the whole message is replaced by `fallback`.
 */
function redact(message: string, secrets: readonly string[], fallback: string): string {
  let out = message;
  for (const s of secrets) out = out.split(`\`${s}\``).join('<redacted>').split(JSON.stringify(s)).join('<redacted>');
  return secrets.some((s) => s !== '' && out.includes(s)) ? fallback : out;
}
