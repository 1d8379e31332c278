/**
 * README's commands, run as written by a shell: the set-up's quickstart and every offline command of "Using
 * it". `tor-reconcile` is found on PATH as `npm link` puts it there (a temporary bin directory here, so the
 * test never touches npm's global one); every embedded tor starts with DisableNetwork 1 (assertOfflineSpec).
 */
import { spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertOfflineSpec } from '../helpers/offline.mjs';

const root = path.join(import.meta.dirname, '../..');

/** The ```sh blocks of README.md, in order. */
async function shellBlocks(): Promise<string[]> {
  const text = await readFile(path.join(root, 'README.md'), 'utf8');
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** Lines of "Using it" that need what a test must not have; each says why. Every other line is run. */
const NOT_RUN: Array<[RegExp, string]> = [
  [/--wait-published/, 'waits for a descriptor upload: needs the Tor network'],
  [/^tor-reconcile export --control unix:\/run\/tor\/control/, "needs Debian's system tor"],
  [/^tor-reconcile watch /, 'runs until stopped (tested in test/integration/watch.test.ts)'],
  [/^tor-reconcile check /, 'connects to onion services: needs the Tor network'],
  [/^tor-reconcile keys generate\|/, 'a list of subcommands, not a command'],
];

describe("README's commands, as written", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let holder: net.Server | undefined;
  const sh = (command: string) => spawnSync('sh', ['-c', command], { cwd: work, env, encoding: 'utf8', timeout: 90_000 });

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'tr-readme-'));
    const bin = path.join(work, '.bin');
    await mkdir(bin);
    // What `npm link` installs: the package's bin under its name on PATH.
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    await writeFile(path.join(bin, 'tor-reconcile'), `#!/bin/sh\nexec node ${JSON.stringify(path.join(root, pkg.bin['tor-reconcile']!))} "$@"\n`);
    await chmod(path.join(bin, 'tor-reconcile'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.GITHUB_STEP_SUMMARY;
    delete env.TOR_RECONCILE_TRACE;
    await cp(path.join(root, 'examples'), path.join(work, 'examples'), { recursive: true });
    await cp(path.join(root, 'examples/specs/quickstart.yaml'), path.join(work, 'spec.yaml'));
    assertOfflineSpec(path.join(work, 'examples/specs/quickstart.yaml'));
    assertOfflineSpec(path.join(work, 'spec.yaml'));
    // The quickstart must work beside Debian's tor on 9050: hold the port when nothing else does.
    const h = net.createServer();
    holder = await new Promise<net.Server | undefined>((resolve) => {
      h.once('error', () => resolve(undefined));
      h.listen(9050, '127.0.0.1', () => resolve(h));
    });
  });
  afterAll(async () => {
    // Whatever failed, no embedded tor outlives the test.
    sh('tor-reconcile stop examples/specs/quickstart.yaml; tor-reconcile stop spec.yaml');
    holder?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('set-up: links the bin, then the quickstart applies, beside a process on 127.0.0.1:9050', async () => {
    const [setup] = await shellBlocks();
    const after = setup!.trim().split(' && npm run build && ')[1];
    expect(after, 'the set-up command builds, links the bin, then applies the quickstart').toBe('npm link && tor-reconcile apply examples/specs/quickstart.yaml');
    const r = sh(after!.replace(/^npm link && /, ''));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the embedded tor started by this apply keeps running: pid \d+/);
    expect(r.stderr).toMatch(/network +off \(DisableNetwork 1\)/);
    expect(r.stdout).toMatch(/Apply complete/);
  }, 120_000);

  it('"Using it": every line runs with its documented exit status, or says why it cannot run here', async () => {
    const usage = (await shellBlocks()).find((b) => b.includes('tor-reconcile validate spec.yaml'))!;
    const lines = usage.split('\n').filter((l) => l.startsWith('tor-reconcile '));
    let ran = 0;
    for (const line of lines) {
      const command = line.replace(/\s+#.*$/, '');
      if (NOT_RUN.some(([re]) => re.test(command))) continue;
      const r = sh(command);
      // --detailed-exitcode: 2 = changes; diff: 1 = different (both documented on the same lines).
      const ok = command.includes('--detailed-exitcode') ? [0, 2] : command.startsWith('tor-reconcile diff') ? [0, 1] : [0];
      expect(ok, `${command}\n${r.stdout}${r.stderr}`).toContain(r.status);
      ran++;
    }
    // The list of lines not run is the only way out: a line that can run offline must not hide there.
    expect(ran).toBeGreaterThanOrEqual(lines.length - NOT_RUN.length);
    expect(ran).toBeGreaterThanOrEqual(10);
  }, 300_000);

  it('every command has --help with examples', () => {
    const top = sh('tor-reconcile --help');
    expect(top.status).toBe(0);
    const names = [...top.stdout.matchAll(/^ {2}(\w+)\b.*$/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
    expect(names).toEqual(expect.arrayContaining(['validate', 'plan', 'apply', 'diff', 'export', 'watch', 'check', 'stop', 'keys', 'schema']));
    for (const name of names) {
      const r = sh(`tor-reconcile ${name} --help`);
      expect(r.status, name).toBe(0);
      // A command group (keys) lists its commands, each with its own examples.
      expect(r.stdout, name).toMatch(/Examples?:|^Commands:/m);
    }
  });
});
