// Start-up cost (issue #16): each command loads what it needs and nothing else. The built CLI (the bundle of
// scripts/build-cli.mjs) runs under a module hook (test/helpers/module-trace.mjs) that lists every file it
// loads; the `// path` comment esbuild writes before each module says which sources a loaded chunk holds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands/index.js';

const root = path.join(import.meta.dirname, '../..');
const mainJs = path.join(root, 'dist/cli/main.js');
const hook = path.join(root, 'test/helpers/module-trace.mjs');

let dir: string;
let spec: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cli-startup-'));
  spec = path.join(dir, 'one.yaml');
  await writeFile(spec, 'version: 1\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * The modules `tor-reconcile ARGS` loads: packages by name, own modules by their compiled name (`src/a/b.ts`
 * as `a/b.js`), whether a file outside the bundle or a source inside a loaded chunk.
 */
async function loaded(...args: string[]) {
  if (!existsSync(mainJs)) throw new Error('dist/cli/main.js is missing: run `npm run build` first');
  const trace = path.join(dir, `trace-${args[0]}`);
  const r = spawnSync(process.execPath, ['--import', hook, mainJs, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, MODULE_TRACE: trace } });
  const urls = (await readFile(trace, 'utf8')).trim().split('\n');
  await rm(trace);
  const sources: string[] = [];
  for (const url of urls) {
    if (!url.includes('/dist/cli/')) sources.push(url);
    else for (const m of (await readFile(new URL(url), 'utf8')).matchAll(/^\/\/ ((?:src|node_modules)\/\S+)$/gm)) sources.push(m[1]!);
  }
  const packages = new Set(sources.flatMap((s) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1] ?? []));
  const own = sources.flatMap((s) => /^src\/(.+)\.ts$/.exec(s)?.[1] ?? /\/dist\/(.+)\.js$/.exec(s)?.[1] ?? []).map((m) => `${m}.js`);
  const outsideBundle = urls.filter((u) => !u.includes('/dist/cli/'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, packages, own, outsideBundle };
}

const otherCommands = (name: string) => Object.keys(commands).filter((c) => c !== name).map((c) => `cli/commands/${c}.js`);

describe('what each command loads', () => {
  it('--version: no package at all, and a handful of its own modules', async () => {
    const r = await loaded('--version');
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect([...r.packages]).toEqual([]);
    expect(r.own.length).toBeLessThanOrEqual(10);
  });

  it('validate: yaml, zod and commander, but no other command, no reconciler, no key or diff code', async () => {
    const r = await loaded('validate', spec);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.packages].sort()).toEqual(['commander', 'yaml', 'zod']);
    // The packages come inlined in the bundle's chunks, not as files of node_modules.
    expect(r.outsideBundle).toEqual([]);
    expect(r.own).toContain('cli/commands/validate.js');
    for (const other of otherCommands('validate')) expect(r.own).not.toContain(other);
    expect(r.own.filter((m) => m.startsWith('reconcile/') && m !== 'reconcile/errors.js')).toEqual([]);
  });

  it('plan: not the modules of other commands, nor watch, SOCKS or diff rendering', async () => {
    const r = await loaded('plan', spec, '--control', `unix:${path.join(dir, 'no-such-socket')}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no-such-socket/);
    for (const other of otherCommands('plan').filter((c) => c !== 'cli/commands/session.js')) expect(r.own).not.toContain(other);
    expect([...r.packages].sort()).toEqual(['commander', 'yaml', 'zod']);
  });

  it('the overall help still lists every command', async () => {
    const r = await loaded('--help');
    for (const name of Object.keys(commands)) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });
});
