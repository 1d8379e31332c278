/**
 * The last normalizer section when loading confines file references (LoadOptions.confine, ../confine.ts):
 * every path of the desired state a command reads or writes — given in the spec or a default — must lead
 * inside the roots, and so must every symlink directly inside the directories plan reads (a committed
 * `hostname -> /etc/shadow`, `keys -> /root/.ssh`). Reported at the spec's place for the path (the nearest
 * written node for a default), before any of these files is opened.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { DesiredState } from '../model.js';
import type { Path } from '../diagnostics.js';
import { outsideRoots, type Confinement } from '../confine.js';
import { locate, pathLabel } from '../tree.js';
import type { SpecReader } from './reader.js';

interface Reference {
  abs: string;
  /** Where the spec says it (or the nearest written place, for a default). */
  p: Path;
  /** A directory whose symlinked entries are checked too. */
  dir?: boolean;
}

export function confinePaths(r: SpecReader, state: DesiredState, servicePaths: readonly Path[], c: Confinement): void {
  const refs: Reference[] = [
    { abs: state.stateDirectory, p: ['stateDirectory'], dir: true },
    { abs: path.join(state.stateDirectory, 'keys'), p: ['stateDirectory'], dir: true },
  ];
  if (state.tor.cookieFile) refs.push({ abs: state.tor.cookieFile, p: ['tor', 'cookieFile'] });
  if (state.tor.launch) refs.push({ abs: state.tor.launch.dataDirectory, p: ['tor', 'launch', 'dataDirectory'], dir: true });
  if (state.persist?.mode === 'file') refs.push({ abs: state.persist.file, p: state.tor.launch ? ['tor', 'launch', 'dataDirectory'] : ['persist', 'file'] });
  state.onionServices.forEach((s, i) => {
    const p = servicePaths[i] ?? ['onionServices', i];
    if (s.type === 'filesystem') {
      if (!s.directory) return;
      refs.push({ abs: s.directory, p: [...p, 'directory'], dir: true }, { abs: path.join(s.directory, 'authorized_clients'), p: [...p, 'directory'], dir: true });
    } else if (s.keyFile) {
      refs.push({ abs: s.keyFile, p: [...p, 'key'] }, { abs: path.dirname(s.keyFile), p: [...p, 'key'], dir: true });
    }
  });
  // One error per place in the spec: a directory outside the tree need not be reported again for its keys/.
  const reported = new Set<string>();
  const report = (ref: Reference, why: string) => {
    const label = pathLabel(ref.p);
    if (reported.has(label)) return;
    reported.add(label);
    r.error(locate(r.root, ref.p).node.loc, `${label}: ${why}`, ref.p);
  };
  // Thousands of key files usually share one directory: list each directory once.
  const listed = new Map<string, string[]>();
  for (const ref of refs) {
    const why = outsideRoots(c, ref.abs);
    if (why) {
      report(ref, why);
      continue;
    }
    if (!ref.dir) continue;
    let links = listed.get(ref.abs);
    if (!links) listed.set(ref.abs, (links = symlinksIn(ref.abs)));
    for (const entry of links) {
      const inner = outsideRoots(c, entry);
      if (inner) report(ref, `the symlink ${inner}`);
    }
  }
}

/** The symlinks directly inside `dir` (none when it does not exist yet). Lists the directory; opens no file. */
function symlinksIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isSymbolicLink())
      .map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}
