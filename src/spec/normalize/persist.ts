/**
 * `persist:`: how what apply sets outlives a tor restart. `none` (an external tor's default), `saveconf`, or
 * `{ file: PATH, include?: bool }`, PATH relative to the spec file. The embedded tor (`tor.launch`) is always
 * persistent: its torrc is ours and `%include`s the drop-in in its data directory, so `persist` is refused there.
 */
import path from 'node:path';
import type { LaunchSpec, PersistSpec } from '../model.js';
import { DATA_DIRECTORY_FILES } from '../../tor/launch-layout.js';
import { pos, type SpecReader } from './reader.js';

export function persist(r: SpecReader, launch: LaunchSpec | undefined): PersistSpec {
  const entry = r.entry(['persist']);
  if (launch) {
    if (entry) r.error(entry.keyLoc, 'persist is for a tor tor-reconcile does not start: the embedded tor (tor.launch) always keeps what apply sets, in its data directory', ['persist']);
    return { mode: 'file', file: path.join(launch.dataDirectory, DATA_DIRECTORY_FILES.persisted), include: false };
  }
  if (!entry) return { mode: 'none' };
  const source = pos(r.keyLoc(['persist']));
  const mode = r.scalar(['persist']);
  // The schema has refused any other word already.
  if (mode) return { mode: mode.value === 'saveconf' ? 'saveconf' : 'none', source };
  const file = r.scalar(['persist', 'file']);
  const at = file && r.resolvePath(file, ['persist', 'file']);
  if (!at) return { mode: 'none', source };
  return { mode: 'file', file: at, include: r.scalar(['persist', 'include'])?.value === true, source };
}
