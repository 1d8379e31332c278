/**
 * The live state the embedded tor of a tor.launch spec would have right after `apply` started it, computed
 * without starting it (issue #21): `plan` and `diff` must start no process and write no file, so for a spec
 * whose tor is not running they plan against this and say that apply will launch tor.
 *
 * launch.ts starts the embedded tor with startup.ts's options in its defaults file and a torrc that
 * `%include`s the drop-in apply persisted (tor-reconcile.torrc in the data directory), whose lines win. So a
 * managed option's value is the drop-in's, else the start-up option's, else the option table's default;
 * the HiddenService block is the drop-in's; a fresh tor has no detached onions and no client credentials.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DesiredState } from '../spec/model.js';
import { canonical } from '../tor/config/normalize.js';
import type { OptionTable } from '../tor/config/types.js';
import { DATA_DIRECTORY_FILES } from '../tor/launch-layout.js';
import { resolveDesired } from './desired.js';
import { parseServiceBlock } from './hsblock.js';
import { fingerprint, readLocal } from './live.js';
import { passwdEntry } from './persist/live.js';
import { torrcEntries } from './persist/torrc.js';
import { startupOptions } from './startup.js';
import type { LiveState } from './types.js';

export async function wouldStartWith(desired: DesiredState, table: OptionTable): Promise<LiveState> {
  const launch = desired.tor.launch;
  if (!launch) throw new TypeError('wouldStartWith needs a tor.launch spec');
  const dropInFile = path.join(launch.dataDirectory, DATA_DIRECTORY_FILES.persisted);
  const dropIn = await readFile(dropInFile, 'utf8').catch(() => null);
  const persisted = torrcEntries(dropIn ?? '', table);
  const startup = new Map(Object.entries(startupOptions(desired)).map(([k, v]) => [table.canonical(k) ?? k, v]));
  const options = new Map<string, string[]>();
  for (const name of new Set(resolveDesired(desired).options.map((o) => o.name))) {
    const fromDropIn = persisted.filter(([k]) => k === name).map(([, v]) => v ?? '');
    const info = table.get(name);
    // A default as tor reads it back (`600`, not the table's `10 minutes`), as GETCONF would answer.
    options.set(name, fromDropIn.length ? fromDropIn : (startup.get(name) ?? (info ? canonical(info, info.defaults) : [])));
  }
  const uid = process.getuid?.();
  const [local, account] = await Promise.all([readLocal(desired), uid === undefined ? undefined : passwdEntry(uid)]);
  const state: Omit<LiveState, 'fingerprint'> = {
    torVersion: table.torVersion ?? 'unknown',
    ...(uid !== undefined ? { torUid: uid } : {}),
    options,
    services: parseServiceBlock(persisted.filter(([k]) => k.startsWith('HiddenService'))),
    serviceFiles: local.serviceFiles,
    detachedOnions: [],
    clientAuth: [],
    ephemeralKeys: local.ephemeralKeys,
    records: local.records,
    // The torrc launch writes always %includes the drop-in; its defaults file always exists.
    persist: {
      // launch creates the drop-in, empty, before tor's first start.
      dropIn: dropIn ?? '',
      included: true,
      configFile: path.join(launch.dataDirectory, DATA_DIRECTORY_FILES.torrc),
      defaultsFile: path.join(launch.dataDirectory, DATA_DIRECTORY_FILES.torrcDefaults),
      ...(account ? { torUser: account.name, torGid: account.gid } : {}),
    },
  };
  return { ...state, fingerprint: fingerprint(state) };
}
