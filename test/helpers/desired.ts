import path from 'node:path';
import type { PlanContext } from '../../src/reconcile/plan.js';
import type { LiveState } from '../../src/reconcile/types.js';
import type { ClientAuthSpec, DesiredOption, DesiredState, EphemeralService, FilesystemService } from '../../src/spec/model.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { toTor, type InputValue } from '../../src/tor/config/normalize.js';

const at = { file: 'test.yaml', line: 1, col: 1 };

/** A DesiredState built in code, for reconciler tests that must not depend on the spec loader. */
export function desiredState(stateDirectory: string, parts: Partial<Omit<DesiredState, 'options'>> & { options?: Record<string, InputValue> } = {}): DesiredState {
  const table = OptionTable.bundled();
  const options: DesiredOption[] = Object.entries(parts.options ?? {}).map(([k, v]) => {
    const info = table.get(k)!;
    return { name: info.name, value: v === null ? null : toTor(info, v), immutable: info.immutable, source: at };
  });
  return {
    version: 1,
    files: ['test.yaml'],
    tor: {},
    stateDirectory,
    onionServices: parts.onionServices ?? [],
    prune: parts.prune ?? false,
    clientAuth: parts.clientAuth ?? [],
    ...parts,
    options,
  };
}

export function fsService(name: string, directory: string, ports: Array<[number, string]>, extra: Partial<FilesystemService> = {}): FilesystemService {
  return { type: 'filesystem', name, directory, ports: ports.map(([port, target]) => ({ port, target })), options: [], authorizedClients: [], source: at, ...extra };
}

export function ephService(name: string, stateDirectory: string, ports: Array<[number, string]>, extra: Partial<EphemeralService> = {}): EphemeralService {
  return { type: 'ephemeral', name, keyFile: path.join(stateDirectory, 'keys', `${name}.key`), ports: ports.map(([port, target]) => ({ port, target })), maxStreamsCloseCircuit: false, authorizedClients: [], source: at, ...extra };
}

export function clientAuth(address: string, privateKey: ClientAuthSpec['privateKey'], extra: Partial<ClientAuthSpec> = {}): ClientAuthSpec {
  return { address, privateKey, permanent: false, source: at, ...extra };
}

/** The plan context of the planner's unit tests: the bundled table, root, a fixed salt. */
export const planCtx: PlanContext = { table: OptionTable.bundled(), target: 'unix:/test', uid: 0, salt: 'salt' };

/** A LiveState of a tor with nothing set, and `parts` on top: what the planner's unit tests plan against. */
export function liveState(parts: Partial<LiveState> = {}): LiveState {
  return {
    torVersion: '0.4.9.11',
    torUid: 0,
    options: new Map(),
    services: [],
    serviceFiles: new Map(),
    detachedOnions: [],
    clientAuth: [],
    ephemeralKeys: new Map(),
    records: new Map(),
    fingerprint: 'fp',
    ...parts,
  };
}
