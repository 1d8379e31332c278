// Start-up cost (issue #16). The bin compiles the command line's bundle (dist/cli/cli.cjs, or spec.cjs for the
// commands that only read specs; scripts/build-cli.mjs) with the code cache the build made for it, and never
// with a cache made for other bytes; and each command still initialises only the modules it needs. Which ones ran is read from V8's coverage (NODE_V8_COVERAGE):
// esbuild keeps each lazily imported module behind an init function named by its source path.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_FILE, BUNDLE_HEAD, bundleFor, CACHE_FILE, DIGEST_BYTES, SPEC_BUNDLE_FILE, SPEC_CACHE_FILE } from '../../src/cli/bundle.js';
import { commands } from '../../src/cli/commands/index.js';
import { specCommands } from '../../src/cli/commands/spec-commands.js';

const root = path.join(import.meta.dirname, '../..');
const cliDir = path.join(root, 'dist/cli');
const mainJs = path.join(cliDir, 'main.cjs');

let dir: string;
let spec: string;
beforeAll(async () => {
  if (!existsSync(path.join(cliDir, 'cli.cjs'))) throw new Error('dist/cli/cli.cjs is missing: run `npm run build` first');
  dir = await mkdtemp(path.join(os.tmpdir(), 'cli-startup-'));
  spec = path.join(dir, 'one.yaml');
  await writeFile(spec, 'version: 1\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Coverage {
  result: Array<{ url: string; functions: Array<{ functionName: string; ranges: Array<{ count: number }> }> }>;
}

/**
 * What `tor-reconcile ARGS` ran: the files it loaded (node's own aside), and the modules of the bundle whose
 * init ran — packages by name, own modules by their compiled name (`src/a/b.ts` as `a/b.js`).
 */
async function loaded(...args: string[]) {
  const coverage = await mkdtemp(path.join(dir, `coverage-${args[0]}-`));
  const r = spawnSync(process.execPath, [mainJs, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, NODE_V8_COVERAGE: coverage } });
  const scripts: Coverage['result'] = [];
  for (const f of await readdir(coverage)) scripts.push(...(JSON.parse(await readFile(path.join(coverage, f), 'utf8')) as Coverage).result);
  const files = [...new Set(scripts.map((s) => s.url).filter((u) => u.startsWith('file:')))].map((u) => new URL(u).pathname);
  const builtins = new Set(scripts.map((s) => s.url).filter((u) => u.startsWith('node:') && !u.startsWith('node:internal/')));
  const bundle = scripts.find((s) => s.url.endsWith(`/dist/cli/${BUNDLE_FILE}`) || s.url.endsWith(`/dist/cli/${SPEC_BUNDLE_FILE}`));
  const inits = (bundle?.functions ?? []).filter((f) => f.ranges[0]!.count > 0).flatMap((f) => /(?:^|\/)((?:src|node_modules)\/.+)$/.exec(f.functionName)?.[1] ?? []);
  const packages = new Set(inits.flatMap((s) => /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1] ?? []));
  const own = inits.flatMap((s) => /^src\/(.+)\.ts$/.exec(s)?.[1] ?? []).map((m) => `${m}.js`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, files, builtins, packages, own };
}

const otherCommands = (name: string) => Object.keys(commands).filter((c) => c !== name).map((c) => `cli/commands/${c}.js`);

describe('what each command loads', () => {
  it('--version: answered without reading the bundle', async () => {
    const r = await loaded('--version');
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(r.files).toEqual([mainJs]);
  });

  it('validate: yaml, zod and commander, but no other command, no reconciler, no key or diff code', async () => {
    const r = await loaded('validate', spec);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.packages].sort()).toEqual(['commander', 'yaml', 'zod']);
    // The packages come inlined in the spec bundle, not as files of node_modules.
    expect(r.files.sort()).toEqual([mainJs, path.join(cliDir, SPEC_BUNDLE_FILE)]);
    expect(r.own).toContain('cli/commands/validate.js');
    for (const other of otherCommands('validate')) expect(r.own).not.toContain(other);
    expect(r.own.filter((m) => m.startsWith('reconcile/') && m !== 'reconcile/errors.js')).toEqual([]);
    // Node's modules that only keys, processes or ${file:} need: ~6 ms of start-up together (issue #16).
    for (const builtin of ['node:crypto', 'node:child_process', 'node:fs/promises']) expect(r.builtins).not.toContain(builtin);
    expect(r.own).not.toContain('tor/onion/keys.js');
    expect(r.own).not.toContain('tor/launch.js');
  });

  it('plan: not the modules of other commands, nor watch, SOCKS or diff rendering', async () => {
    const r = await loaded('plan', spec, '--control', `unix:${path.join(dir, 'no-such-socket')}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no-such-socket/);
    expect(r.own).toContain('cli/commands/plan.js');
    for (const other of otherCommands('plan').filter((c) => c !== 'cli/commands/session.js')) expect(r.own).not.toContain(other);
    expect(r.own.filter((m) => /^(reconcile\/watch|tor\/socks)/.test(m))).toEqual([]);
    expect([...r.packages].sort()).toEqual(['commander', 'yaml', 'zod']);
    expect(r.files.sort()).toEqual([path.join(cliDir, BUNDLE_FILE), mainJs]);
  });

  it('validate and lint run from the spec bundle, which holds nothing of the other commands', async () => {
    expect(Object.keys(specCommands)).toEqual(['validate', 'lint']);
    for (const name of Object.keys(commands)) expect(bundleFor([name, 'x.yaml']), name).toBe(name in specCommands ? SPEC_BUNDLE_FILE : BUNDLE_FILE);
    for (const argv of [['--help'], ['help', 'validate'], []]) expect(bundleFor(argv)).toBe(BUNDLE_FILE);
    // What each bundle holds: the sources its source map names.
    const sources = async (bundle: string) => (JSON.parse(await readFile(path.join(cliDir, `${bundle}.map`), 'utf8')) as { sources: string[] }).sources.map((s) => s.replace(/^(\.\.\/)+/, ''));
    const inSpec = await sources(SPEC_BUNDLE_FILE);
    const inFull = await sources(BUNDLE_FILE);
    const under = (list: string[], dir: string) => new Set(list.filter((s) => s.startsWith(`src/${dir}/`)));
    expect(under(inSpec, 'cli/commands')).toEqual(new Set(['src/cli/commands/spec-commands.ts', 'src/cli/commands/validate.ts', 'src/cli/commands/lint.ts']));
    // The spec's attach rules are checked with the attach engine's matcher; nothing else of the reconciler.
    expect(under(inSpec, 'reconcile')).toEqual(new Set(['src/reconcile/errors.ts', 'src/reconcile/attach/match.ts']));
    for (const dir of ['fleet', 'tor/state', 'tor/socks']) expect(under(inFull, dir).size, dir).toBeGreaterThan(0);
    for (const dir of ['fleet', 'tor/state', 'tor/socks']) expect(under(inSpec, dir), dir).toEqual(new Set());
    expect(inFull).toContain('src/tor/client.ts');
    expect(inSpec).not.toContain('src/tor/client.ts');
    // Half the bytes to read and check on every validate.
    const size = async (f: string) => (await readFile(path.join(cliDir, f))).length;
    expect(await size(SPEC_BUNDLE_FILE)).toBeLessThan(0.6 * (await size(BUNDLE_FILE)));
    const lint = spawnSync(process.execPath, [mainJs, 'lint', spec], { encoding: 'utf8' });
    expect(lint.status, lint.stderr).toBe(0);
    expect(lint.stdout + lint.stderr).toMatch(/TR014/);
    expect(spawnSync(process.execPath, [mainJs, 'validate', '--help'], { encoding: 'utf8' }).stdout).toMatch(/^Usage: tor-reconcile validate/);
  });

  it('the overall help still lists every command', async () => {
    const r = await loaded('--help');
    for (const name of Object.keys(commands)) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });
});

/** loadBundle(DIR, BUNDLE) in a fresh node (the flags of vitest's workers would make V8 reject any cache): `cached`. */
function cachedIn(bundleDir: string, bundle = BUNDLE_FILE): string {
  const probe = `import(${JSON.stringify(path.join(cliDir, 'bundle.js'))}).then((m) => console.log(m.loadBundle(${JSON.stringify(bundleDir)}, ${JSON.stringify(bundle)}).cached))`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("the bundle's code cache", () => {
  it('is the one V8 compiles the bundle with', () => {
    expect(cachedIn(cliDir)).toBe('true');
    expect(cachedIn(cliDir, SPEC_BUNDLE_FILE)).toBe('true');
  });

  it('is the smaller spec cache for the commands that only read specs', async () => {
    const size = async (f: string) => (await readFile(path.join(cliDir, f))).length;
    // What V8 deserializes in full on every start: the spec cache must not hold plan's and apply's code.
    expect(await size(SPEC_CACHE_FILE)).toBeLessThan(0.85 * (await size(CACHE_FILE)));
  });

  it('compiles ASCII bundles in strict mode, as their modules were written', async () => {
    for (const bundle of [BUNDLE_FILE, SPEC_BUNDLE_FILE]) {
      const source = await readFile(path.join(cliDir, bundle), 'latin1');
      // A non-ASCII character anywhere (a comment is enough) makes node decode the whole file into a two-byte string.
      expect(source.match(/[^\0-\x7f]/g) ?? []).toEqual([]);
      // The directive must open the function the bundle's module is wrapped in: after any other statement it is none.
      expect(source.startsWith(`${BUNDLE_HEAD}"use strict";`)).toBe(true);
    }
    expect((await readFile(mainJs, 'utf8')).split('\n')[1]).toMatch(/^"use strict";/);
  });

  it('is not used for other bytes of the same length, which V8 alone would accept', async () => {
    const other = await mkdtemp(path.join(dir, 'edited-'));
    const source = await readFile(path.join(cliDir, 'cli.cjs'), 'utf8');
    // One letter of a message: the same length, other code.
    const at = source.indexOf('please report it');
    expect(at).toBeGreaterThan(0);
    await writeFile(path.join(other, 'cli.cjs'), `${source.slice(0, at)}P${source.slice(at + 1)}`);
    await copyFile(path.join(cliDir, 'cli.cjs.cache'), path.join(other, 'cli.cjs.cache'));
    // V8 checks the source's length, not its bytes: without the checksum it would take this cache.
    const v8Alone = `const vm = require('node:vm'); const fs = require('node:fs');
      const s = fs.readFileSync(${JSON.stringify(path.join(other, 'cli.cjs'))}, 'utf8');
      const data = fs.readFileSync(${JSON.stringify(path.join(other, 'cli.cjs.cache'))}).subarray(${DIGEST_BYTES});
      const script = new vm.Script(s, { filename: ${JSON.stringify(path.join(other, 'cli.cjs'))}, cachedData: data });
      console.log(script.cachedDataRejected);`;
    const r = spawnSync(process.execPath, ['-e', v8Alone], { encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('false');
    expect(cachedIn(other)).toBe('false');
  });

  it('is not used when damaged, which V8 alone would abort on', async () => {
    const other = await mkdtemp(path.join(dir, 'damaged-'));
    for (const f of ['main.cjs', BUNDLE_FILE, SPEC_BUNDLE_FILE]) await copyFile(path.join(cliDir, f), path.join(other, f));
    for (const name of [CACHE_FILE, SPEC_CACHE_FILE]) {
      const cache = await readFile(path.join(cliDir, name));
      // The checksums at its head kept, bytes of V8's data flipped: what a bad disk or a bad copy leaves.
      for (let i = 1000; i < cache.length; i += 997) cache[i]! ^= 0x5a;
      await writeFile(path.join(other, name), cache);
    }
    const v8Alone = `const vm = require('node:vm'); const fs = require('node:fs');
      const s = fs.readFileSync(${JSON.stringify(path.join(other, 'cli.cjs'))}, 'utf8');
      new vm.Script(s, { filename: ${JSON.stringify(path.join(other, 'cli.cjs'))}, cachedData: fs.readFileSync(${JSON.stringify(path.join(other, 'cli.cjs.cache'))}).subarray(${DIGEST_BYTES}) });`;
    expect(spawnSync(process.execPath, ['-e', v8Alone]).status).not.toBe(0);
    for (const args of [['validate', spec], ['--help']]) {
      const r = spawnSync(process.execPath, [path.join(other, 'main.cjs'), ...args], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(cachedIn(other)).toBe('false');
    expect(cachedIn(other, SPEC_BUNDLE_FILE)).toBe('false');
  });
});
