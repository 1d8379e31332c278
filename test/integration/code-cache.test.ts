// The build's code-cache warm-up (scripts/code-cache.mjs, issue #16): with tor installed it also runs the main
// job on an embedded, offline tor, and stops it; without tor it still makes a cache, and says what it left out.
// It runs on a copy of dist/ inside node_modules/.cache, so that the bundle's packages still resolve.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(import.meta.dirname, '../..');
let work: string;

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/cli/cli.cjs'))) throw new Error('dist/cli/cli.cjs is missing: run `npm run build` first');
  await mkdir(path.join(root, 'node_modules/.cache'), { recursive: true });
  work = await mkdtemp(path.join(root, 'node_modules/.cache/tr-code-cache-test-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** Runs the warm-up on its own copy of dist with PATH = `pathDirs`; the caches' sizes, and what it printed. */
async function warmUp(name: string, pathDirs: string[]) {
  const dist = path.join(work, name);
  await cp(path.join(root, 'dist'), dist, { recursive: true });
  for (const cache of ['cli.cjs.cache', 'spec.cjs.cache']) await rm(path.join(dist, 'cli', cache));
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/code-cache.mjs'), dist], { encoding: 'utf8', env: { ...process.env, PATH: pathDirs.join(path.delimiter) } });
  expect(r.status, r.stderr).toBe(0);
  // Each cache is the bundle's own: a fresh node compiles the bundle with it.
  for (const bundle of ['cli.cjs', 'spec.cjs']) {
    const probe = `import(${JSON.stringify(path.join(dist, 'cli/bundle.js'))}).then((m) => console.log(m.loadBundle(${JSON.stringify(path.join(dist, 'cli'))}, '${bundle}').cached))`;
    expect(spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).stdout.trim(), bundle).toBe('true');
  }
  const size = async (cache: string) => (await stat(path.join(dist, 'cli', cache))).size;
  return { size: await size('cli.cjs.cache'), specSize: await size('spec.cjs.cache'), stderr: r.stderr };
}

/** tor processes started from the warm-up's temporary directory (its torrc is under tr-code-cache-*). */
function warmUpTors(): string[] {
  const r = spawnSync('pgrep', ['-af', `tor -f ${os.tmpdir()}/tr-code-cache-`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describe('the code cache the build makes', () => {
  it('holds the main job where tor is installed, and leaves no tor running; without tor it says what it left out', async () => {
    const noTor = path.join(work, 'bin');
    await mkdir(noTor);
    await symlink(process.execPath, path.join(noTor, 'node'));
    const offline = await warmUp('offline', [noTor]);
    expect(offline.stderr).toMatch(/tor is not installed, so only offline commands warmed the cache/);

    const withTor = await warmUp('with-tor', (process.env.PATH ?? '').split(path.delimiter));
    expect(withTor.stderr).toBe('');
    // What apply and plan compile once connected is in it too.
    expect(withTor.size).toBeGreaterThan(offline.size * 1.1);
    // The spec cache holds validate and lint only, with or without tor.
    expect(offline.specSize).toBeLessThan(offline.size);
    expect(Math.abs(withTor.specSize - offline.specSize)).toBeLessThan(0.02 * offline.specSize);
    expect(warmUpTors()).toEqual([]);
    // Nothing is left in the temporary directory either.
    expect((await readdir(os.tmpdir())).filter((n) => n.startsWith('tr-code-cache-'))).toEqual([]);
  });
});
