import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LaunchError } from '../../src/tor/errors.js';
import { DATA_DIRECTORY_FILES, LAUNCH_OPTIONS, launch } from '../../src/tor/launch.js';

// launch writes its torrc before it starts tor: a binary that does not exist shows the torrc without a tor.
async function torrcOf(dataDirectory: string, options: { control?: 'socket' | 'port'; detached?: boolean; options?: Record<string, string> } = {}): Promise<Array<[string, string]>> {
  const err = await launch({ binary: path.join(dataDirectory, 'no-such-tor'), dataDirectory, ...options }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LaunchError);
  const text = await readFile(path.join(dataDirectory, DATA_DIRECTORY_FILES.torrc), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]);
}

describe('launch options', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'tr-launch-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('LAUNCH_OPTIONS names exactly the options launch writes itself, each with a reason', async () => {
    const written = new Set<string>();
    for (const [i, options] of [{}, { control: 'port' as const }, { detached: true }].entries()) {
      for (const [name] of await torrcOf(path.join(root, `d${i}`), options)) written.add(name);
    }
    written.delete('Log'); // Log lines add up: a spec may add its own.
    written.delete('%include'); // Not an option: the drop-in apply persists into (DATA_DIRECTORY_FILES.persisted).
    expect([...LAUNCH_OPTIONS.keys()].sort()).toEqual([...written].sort());
    for (const why of LAUNCH_OPTIONS.values()) expect(why).toMatch(/\w{3}/);
  });

  it('puts its files in the data directory under the names DATA_DIRECTORY_FILES gives', async () => {
    const dir = path.join(root, 'files');
    const torrc = new Map(await torrcOf(dir, { options: { SocksPort: '0' } }));
    expect(torrc.get('DataDirectory')).toBe(dir);
    expect(torrc.get('PidFile')).toBe(path.join(dir, DATA_DIRECTORY_FILES.pid));
    expect(torrc.get('ControlSocket')).toBe(path.join(dir, DATA_DIRECTORY_FILES.controlSocket));
    expect(torrc.get('Log')).toBe(`notice file ${path.join(dir, DATA_DIRECTORY_FILES.log)}`);
    expect(torrc.get('__OwningControllerProcess')).toBe(String(process.pid));
    expect(torrc.get('SocksPort')).toBe('0');
    // Last, so that what apply persisted is read after everything launch writes; created empty so tor starts.
    expect([...torrc].at(-1)).toEqual(['%include', path.join(dir, DATA_DIRECTORY_FILES.persisted)]);
    expect(await readFile(path.join(dir, DATA_DIRECTORY_FILES.persisted), 'utf8')).toBe('');
    const port = new Map(await torrcOf(path.join(root, 'port'), { control: 'port', detached: true }));
    expect(port.get('ControlPortWriteToFile')).toBe(path.join(root, 'port', DATA_DIRECTORY_FILES.controlPortFile));
    expect(port.has('ControlSocket') || port.has('__OwningControllerProcess')).toBe(false);
  });
});
