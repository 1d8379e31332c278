/**
 * From a spec that has the right shape to the DesiredState: tor's option names and value forms, absolute
 * paths, parsed onion addresses and keys, and every check that needs knowledge of tor rather than of YAML.
 * Parts of the spec already reported as broken are skipped, so each mistake is reported once.
 *
 * In two steps: normalizeSpec does all that needs no tor (paths, names, ports, keys, client auth, attach),
 * once per spec; normalizeOptions then checks the spec's tor options against one tor's option table, and
 * can do so again for another table without going through the rest.
 */
import path from 'node:path';
import type { DesiredState } from '../model.js';
import type { OptionTable } from '../../tor/config/types.js';
import type { Diagnostics, Path, SourceFile } from '../diagnostics.js';
import type { SpecNode } from '../tree.js';
import type { Confinement } from '../confine.js';
import { attach } from './attach.js';
import { confinePaths } from './confine.js';
import { clientAuth } from './client-auth.js';
import { OptionChecker } from './options.js';
import { health } from './health.js';
import { persist } from './persist.js';
import { SpecReader } from './reader.js';
import { onionServices } from './services.js';
import { balancedServices, fleetTargets, serviceTargets } from './targets.js';
import { torTarget } from './tor.js';

/** A spec normalized as far as it can be without a tor. */
export interface SpecDraft {
  root: SpecNode;
  /** The desired state with no tor options yet: `options`, `tor.launch.options` and services' `options` empty. */
  state: DesiredState;
  /** Where each of `state.onionServices` is written. */
  servicePaths: Path[];
  /** Where each of `state.targets` is written (for its `options`). */
  targetPaths: Path[];
  /** Where each of `state.balanced` is written (for its `options`). */
  balancedPaths: Path[];
}

export function normalizeSpec(root: SpecNode, sources: readonly SourceFile[], diags: Diagnostics, confine?: Confinement): SpecDraft {
  const firstDir = sources[0]!.dir;
  const state: DesiredState = {
    version: 1,
    files: sources.map((s) => s.path),
    tor: {},
    stateDirectory: path.join(firstDir, '.tor-reconcile'),
    options: [],
    onionServices: [],
    prune: false,
    clientAuth: [],
  };
  const draft: SpecDraft = { root, state, servicePaths: [], targetPaths: [], balancedPaths: [] };
  if (root.kind !== 'map') return draft;
  const r = new SpecReader(root, diags);
  const stateDir = r.scalar(['stateDirectory']);
  if (stateDir) state.stateDirectory = r.resolvePath(stateDir, ['stateDirectory']) ?? state.stateDirectory;
  const prune = r.scalar(['prune']);
  if (prune) state.prune = prune.value === true;
  state.tor = torTarget(r, firstDir);
  const fleet = fleetTargets(r);
  if (fleet) {
    state.targets = fleet.targets;
    draft.targetPaths = fleet.paths;
  }
  state.persist = persist(r, state.tor.launch);
  const services = onionServices(r, state.stateDirectory);
  state.onionServices = services.map((s) => s.service);
  draft.servicePaths = services.map((s) => s.p);
  serviceTargets(r, state.onionServices, draft.servicePaths, fleet?.targets);
  const balanced = balancedServices(r, state.stateDirectory, fleet?.targets, state.onionServices);
  if (balanced.length) {
    state.balanced = balanced.map((b) => b.service);
    draft.balancedPaths = balanced.map((b) => b.p);
  }
  state.clientAuth = clientAuth(r);
  const policies = attach(r);
  if (policies) state.attach = policies;
  const checks = health(r);
  if (checks) state.health = checks;
  // Last: the defaults (stateDirectory, the embedded tor's data directory, generated key files) count too.
  if (confine) confinePaths(r, state, draft.servicePaths, confine);
  return draft;
}

/**
 * `draft`'s desired state with its tor options checked against `table`; `diags` should start as the
 * spec's own (Diagnostics.fork) so that what is already broken stays skipped. The draft is left as it was.
 * `allowUnknownOptions`: options `table` does not know are left out rather than refused (LoadOptions).
 */
export function normalizeOptions(draft: SpecDraft, table: OptionTable, diags: Diagnostics, allowUnknownOptions = false): DesiredState {
  const { state } = draft;
  const checker = new OptionChecker(new SpecReader(draft.root, diags), table, allowUnknownOptions);
  const launch = state.tor.launch && { ...state.tor.launch, options: checker.launchOptions() };
  return {
    ...state,
    ...(launch ? { tor: { ...state.tor, launch } } : {}),
    options: checker.options(launch !== undefined),
    ...(state.balanced ? { balanced: state.balanced.map((s, i) => ({ ...s, options: checker.serviceOptions(draft.balancedPaths[i]!) })) } : {}),
    ...(state.targets ? { targets: state.targets.map((t, i) => ({ ...t, options: checker.options(false, [...draft.targetPaths[i]!, 'options']) })) } : {}),
    onionServices: state.onionServices.map((s, i) => (s.type === 'filesystem' ? { ...s, options: checker.serviceOptions(draft.servicePaths[i]!) } : s)),
  };
}
