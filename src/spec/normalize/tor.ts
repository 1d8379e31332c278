/** The `tor:` block: how to reach the tor (control address, password, cookie) or how to launch one. */
import path from 'node:path';
import type { LaunchSpec, TorTarget } from '../model.js';
import { formatControlAddress, parseControlAddress } from '../../tor/address.js';
import { TorError } from '../../tor/errors.js';
import { Secret } from '../../tor/secret.js';
import type { SpecReader } from './reader.js';

/** `firstDir`: the directory of the first spec file, where a launched tor's data lives unless told otherwise. */
export function torTarget(r: SpecReader, firstDir: string): TorTarget {
  const out: TorTarget = {};
  const control = r.scalar(['tor', 'control']);
  const launchEntry = r.entry(['tor', 'launch']);
  if (control && launchEntry) {
    r.error(launchEntry.keyLoc, 'give either tor.control (connect to a running tor) or tor.launch (start one), not both', ['tor', 'launch']);
  }
  if (control) {
    try {
      const address = parseControlAddress(String(control.value));
      if (address.type === 'unix') address.path = path.resolve(control.loc.source.dir, address.path);
      out.control = formatControlAddress(address);
    } catch (err) {
      if (!(err instanceof TorError)) throw err;
      r.error(control.loc, `tor.control: ${err.message}`, ['tor', 'control']);
    }
  }
  const password = r.scalar(['tor', 'password']);
  if (password) {
    out.password = new Secret(String(password.value));
    if (!password.secret) r.diags.warn(password.loc, 'tor.password is written in the spec; prefer ${env:…} or ${file:…} so it stays out of version control');
  }
  const cookie = r.scalar(['tor', 'cookieFile']);
  if (cookie) out.cookieFile = r.resolvePath(cookie, ['tor', 'cookieFile']);
  if (launchEntry) {
    for (const key of ['password', 'cookieFile'] as const) {
      if (r.entry(['tor', key])) {
        r.error(r.keyLoc(['tor', key]), `tor.${key} is for connecting to a running tor (tor.control); a launched tor is reached through its own cookie`, ['tor', key]);
      }
    }
    if (!r.diags.hasErrorAt(['tor', 'launch'])) out.launch = launch(r, firstDir);
  }
  return out;
}

/** Without its `options`: those are checked against a tor's option table (options.ts). */
function launch(r: SpecReader, firstDir: string): LaunchSpec {
  const dataDir = r.scalar(['tor', 'launch', 'dataDirectory']);
  const binary = r.scalar(['tor', 'launch', 'binary']);
  const binaryText = binary ? String(binary.value) : 'tor';
  return {
    dataDirectory: (dataDir && r.resolvePath(dataDir, ['tor', 'launch', 'dataDirectory'])) || path.join(firstDir, '.tor-data'),
    // A bare name is looked up on PATH, as a shell would; only a path is relative to the spec file.
    binary: binary && binaryText.includes('/') ? path.resolve(binary.loc.source.dir, binaryText) : binaryText,
    options: {},
  };
}
