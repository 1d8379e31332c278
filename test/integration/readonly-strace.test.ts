/**
 * Issue #21, the proof: `validate`, `plan` (against a real tor, and offline for a tor.launch spec whose tor is
 * not running) and `diff` run under `strace -f`, over every example spec and over hostile specs, and the trace
 * shows nothing but reading: no process started besides node itself, no file opened to write or create (but
 * `plan --out`'s), no connection but to the control socket, no rename, unlink, mkdir, chmod or chown. A hostile
 * spec's references outside its tree are not even opened for reading.
 */
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliInProcess } from '../helpers/cli.js';
import { changes, STRACE, touched, traced } from '../helpers/strace.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');
const main = path.join(root, 'dist/cli/main.cjs');
const node = process.execPath;

let work: string;
let tor: TestTor;
let socket: string;
let lint = false;

beforeAll(async () => {
  // Not skipped when missing: CI installs it (.ci/run), and a proof that never runs proves nothing.
  if (!STRACE) throw new Error('strace is not installed: apt-get install strace (.ci/run installs it)');
  if (!existsSync(main)) throw new Error(`${main} is missing: npm run build first`);
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-strace-'));
  await cp(path.join(root, 'examples'), path.join(work, 'examples'), { recursive: true });
  // Among the commands --help lists (an unknown command's --help shows the top-level help, exit 0).
  lint = /^ {2}lint\b/m.test((await cliInProcess(['--help'])).stdout);
  tor = await startTestTor();
  if (tor.controlAddress.type !== 'unix') throw new Error('the test tor listens on a control socket');
  socket = tor.controlAddress.path;
}, 60_000);

afterAll(async () => {
  await tor?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => traced([node, main, ...args], { cwd: work, env: { ...process.env, NO_COLOR: '1', GITHUB_STEP_SUMMARY: '', ...env } });

/** What docs/gitops.md says plan sends after authenticating. */
const READS = new Set(['GETINFO', 'GETCONF', 'ONION_CLIENT_AUTH_VIEW']);

describe('the checker itself', () => {
  it('catches a write, a new process, a mkdir and a connection', async () => {
    const file = path.join(work, 'deliberate');
    const script = `require('fs').writeFileSync(${JSON.stringify(file)}, 'x'); require('fs').mkdirSync(${JSON.stringify(`${file}-dir`)}); require('child_process').execFileSync('true'); require('net').connect(9, '127.0.0.1').on('error', () => {});`;
    const r = traced([node, '-e', script]);
    expect(r.status).toBe(0);
    const found = changes(r.calls, { controlSocket: socket }).join('\n');
    expect(found).toMatch(/opened to write: .*deliberate"/);
    expect(found).toMatch(/mkdir.*deliberate-dir/);
    expect(found).toMatch(/started a process: execve\("\/(usr\/)?bin\/true"/);
    expect(found).toMatch(/connected: .*htons\(9\)/);
  });
});

describe('validate, plan and diff only read', () => {
  it('every example spec, against a real tor', async () => {
    const dir = path.join(work, 'examples/specs');
    const specs = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
    expect(specs.length).toBeGreaterThanOrEqual(4);
    const control = `unix:${socket}`;
    for (const name of specs) {
      const spec = path.join(dir, name);
      const out = path.join(work, `${name}.plan.json`);
      // A spec with targets: names its own tors (none of which runs here) and refuses --control: validate
      // and lint only. Its plan connects to the declared targets, which this single test tor cannot stand in for.
      const fleet = /^targets:/m.test(await readFile(spec, 'utf8'));
      const commands: Array<[string[], number[]]> = fleet ? [[['validate', spec], [0]], ...(lint ? [[['lint', spec], [0, 1]] as [string[], number[]]] : [])] : [
        [['validate', spec], [0]],
        [['plan', spec, '--control', control], [0]],
        [['plan', spec, '--control', control, '--format', 'github', '--out', out], [0]],
        [['diff', spec, '--control', control], [0, 1]],
        [['status', spec, '--control', control], [0]],
        // `lint` (issue #19) reads the spec alone: held to the same proof once the command exists.
        ...(lint ? [[['lint', spec], [0, 1]] as [string[], number[]]] : []),
      ];
      for (const [args, codes] of commands) {
        const r = run(args, { TOR_RECONCILE_TRACE: '1' });
        const sent = r.stderr.split('\n').filter((l) => l.startsWith('> ') && !l.includes(' round trips ')).map((l) => l.slice(2).split(' ')[0]!);
        expect(sent.filter((c) => !READS.has(c)), args.join(' ')).toEqual([]);
        if (['plan', 'diff'].includes(args[0]!)) expect(sent, args.join(' ')).toContain('GETINFO');
        expect(codes, `${args.join(' ')}\n${r.stdout}${r.stderr}`).toContain(r.status);
        expect(changes(r.calls, { controlSocket: socket, outFile: out }), args.join(' ')).toEqual([]);
      }
      if (!fleet) expect(existsSync(out), `${name}: plan --out wrote its file`).toBe(true);
    }
    // Nothing any example names was created: no state directory, no service directory, no data directory.
    for (const made of ['.tor-data', '.tor-reconcile']) expect(existsSync(path.join(dir, made)), made).toBe(false);
  }, 240_000);

  it('a tor.launch spec whose tor is not running: planned offline, no tor started, nothing created, no connection', async () => {
    const spec = path.join(work, 'examples/specs/quickstart.yaml');
    for (const args of [['plan', spec], ['plan', spec, '--detailed-exitcode'], ['diff', spec]]) {
      const r = run(args);
      expect([0, 1, 2], r.stderr).toContain(r.status);
      expect(changes(r.calls, {}), args.join(' ')).toEqual([]);
      if (args[0] === 'plan') expect(r.stdout).toContain('tor will be launched by apply');
    }
    expect(existsSync(path.join(work, 'examples/specs/.tor-data'))).toBe(false);
  }, 120_000);
});

describe('a hostile spec', () => {
  let repo: string;
  let outside: string;

  beforeAll(async () => {
    repo = path.join(work, 'pr');
    outside = path.join(work, 'ci-secrets');
    await mkdir(path.join(repo, 'hs', 'web'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'token'), 'do-not-read\n');
    // Symlinks committed into the pull request, pointing out of its tree.
    await symlink(outside, path.join(repo, 'state-link'));
    await symlink(outside, path.join(repo, 'keys-link'));
    await symlink(path.join(outside, 'token'), path.join(repo, 'hs', 'web', 'hostname'));
    // A tor binary of the pull request's own: plan must never run it.
    const evil = path.join(repo, 'evil-tor');
    await writeFile(evil, `#!/bin/sh\ntouch ${JSON.stringify(path.join(outside, 'pwned'))}\nexec tor "$@"\n`);
    await chmod(evil, 0o755);
  });

  const hostile = (extra: string) =>
    [
      'version: 1',
      'tor:',
      '  launch: { binary: ./evil-tor, dataDirectory: ./.tor-data, options: { DisableNetwork: 1 } }',
      extra,
    ].join('\n');

  it('references out of the tree: refused at their place, not even opened, nothing run or written', async () => {
    const spec = path.join(repo, 'refs.yaml');
    await writeFile(
      spec,
      hostile(
        [
          'stateDirectory: ./state-link',
          'options:',
          '  ContactInfo: ${file:../ci-secrets/token}',
          '  Nickname: ${file:/etc/shadow}',
          'onionServices:',
          '  - { name: api, type: ephemeral, key: { file: ./keys-link/api.key }, ports: [{ port: 80 }] }',
          '  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 80 }] }',
          '',
        ].join('\n'),
      ),
    );
    for (const args of [['validate', spec], ['plan', spec], ['plan', spec, '--control', `unix:${socket}`], ['diff', spec]]) {
      const r = run(args);
      expect(r.status, r.stdout + r.stderr).not.toBe(0);
      for (const [line, what] of [[6, 'ContactInfo'], [7, 'Nickname'], [4, 'stateDirectory'], [9, 'key'], [10, 'directory']] as const) {
        expect(r.stderr, `${args.join(' ')}: ${what}`).toMatch(new RegExp(`refs\\.yaml:${line}:\\d+: .*outside the spec's directory tree`));
      }
      expect(changes(r.calls, { controlSocket: socket }), args.join(' ')).toEqual([]);
      expect(touched(r.calls, outside).map((c) => `${c.name}(${c.args}`), `${args.join(' ')} opened a file outside the tree`).toEqual([]);
      expect(touched(r.calls, '/etc/shadow')).toEqual([]);
    }
    expect(existsSync(path.join(outside, 'pwned'))).toBe(false);
  }, 120_000);

  it('a valid tor.launch spec with its own tor binary: plan and diff run nothing, create nothing', async () => {
    const spec = path.join(repo, 'launch.yaml');
    await writeFile(spec, hostile('options:\n  ContactInfo: pr@example.org\n'));
    for (const args of [['plan', spec], ['diff', spec]]) {
      const r = run(args);
      expect([0, 1], r.stdout + r.stderr).toContain(r.status);
      expect(changes(r.calls, {}), args.join(' ')).toEqual([]);
    }
    expect(existsSync(path.join(outside, 'pwned'))).toBe(false);
    expect(existsSync(path.join(repo, '.tor-data'))).toBe(false);
  }, 120_000);
});
