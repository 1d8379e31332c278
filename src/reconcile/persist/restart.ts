/**
 * `persist: none`: would tor still match the spec after its next restart or reload (SIGHUP)? Both make tor
 * read its torrc files again and drop what was set over the control port, so a plan that finds tor in sync
 * is only true until then for whatever tor holds in memory alone.
 *
 * What tor would run with is worked out from the files it names (`GETINFO config-file`,
 * `config-defaults-file`), as tor combines them: an option's lines in the torrc (its `%include`s followed in
 * place) replace the defaults file's, and an option in neither has tor's default; the HiddenService block is
 * the torrc's, else the defaults file's. The spec is then planned against that state by the same sections
 * that plan it against the live tor: an option or a filesystem service they would change is one that the
 * restart would revert. Options given on tor's command line, which override both files, are not seen.
 */
import type { DesiredOption, DesiredState } from '../../spec/model.js';
import type { ConfEntry } from '../../tor/replies.js';
import { changeId } from '../desired.js';
import { parseServiceBlock } from '../hsblock.js';
import { Builder, type PlanContext } from '../plan-common.js';
import { planFilesystemServices } from '../plan-filesystem.js';
import { planOptions } from '../plan-options.js';
import type { LiveState } from '../types.js';

/** The option lines tor reads at its start: its torrc's, includes expanded in place, and its defaults file's. */
export interface TorrcConfig {
  torrc: ConfEntry[];
  defaults: ConfEntry[];
}

/** The live state with tor's options and HiddenService block as its torrc files would make them. */
function afterRestart(live: LiveState, config: TorrcConfig, ctx: PlanContext): LiveState {
  const canon = (entries: ConfEntry[]) => entries.map(([k, v]): ConfEntry => [ctx.table.canonical(k) ?? k, v]);
  const torrc = canon(config.torrc);
  const defaults = canon(config.defaults);
  const valuesOf = (entries: ConfEntry[], name: string) => entries.filter(([k]) => k === name).map(([, v]) => v ?? '');
  const options = new Map<string, string[]>();
  for (const name of live.options.keys()) {
    const fromTorrc = valuesOf(torrc, name);
    const fromDefaults = valuesOf(defaults, name);
    options.set(name, fromTorrc.length ? fromTorrc : fromDefaults.length ? fromDefaults : [...(ctx.table.get(name)?.defaults ?? [])]);
  }
  const block = (entries: ConfEntry[]) => entries.filter(([k]) => k.startsWith('HiddenService'));
  const services = parseServiceBlock(block(torrc).length ? block(torrc) : block(defaults));
  return { ...live, options, services };
}

/**
 * The managed items (`kind:id`) that tor's next restart or reload would change: planned against what its
 * torrc files give, they would not be in sync.
 */
export function lostOnRestart(desired: DesiredState, options: readonly DesiredOption[], live: LiveState, config: TorrcConfig, ctx: PlanContext): string[] {
  const after = afterRestart(live, config, ctx);
  const b = new Builder();
  planOptions(options, after, ctx, b);
  planFilesystemServices(desired, after, ctx, b);
  return b.changes.filter((c) => c.action !== 'noop' && (c.kind === 'option' || c.kind === 'filesystem-service')).map((c) => changeId(c.kind, c.id));
}
