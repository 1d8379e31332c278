import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { cliInProcess } from '../helpers/cli.js';

const root = path.join(import.meta.dirname, '../..');
const quickstart = path.join(root, 'examples/specs/quickstart.yaml');
const schemaFile = path.join(root, 'schema/tor-reconcile.schema.json');
const mainJs = path.join(root, 'dist/cli/main.cjs');

let dir: string;
let bad: string;
let warned: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cli-spec-test-'));
  bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'version: 1\noptions:\n  StrictNodes: maybe\n  Bogus: 1\n  Sandbox: 0\n');
  warned = path.join(dir, 'warned.yaml');
  await writeFile(warned, 'version: 1\noptions:\n  Sandbox: 0\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]) => cliInProcess(argv);

describe('tor-reconcile validate', () => {
  it('exits 0 for a valid spec, with a summary on stdout and nothing on stderr', async () => {
    const r = await cli('validate', quickstart);
    expect(r).toEqual({ code: 0, stdout: `${quickstart}: valid (4 options, 2 onion services (1 filesystem, 1 ephemeral), 0 client authorizations)\n`, stderr: '' });
  });

  it('counts the targets of a fleet spec and its balanced services in the summary', async () => {
    const fleet = path.join(root, 'examples/specs/fleet.yaml');
    const balanced = path.join(root, 'examples/specs/balanced.yaml');
    expect((await cli('validate', fleet)).stdout).toBe(`${fleet}: valid (3 targets, 2 options, 2 onion services (0 filesystem, 2 ephemeral), 0 client authorizations)\n`);
    expect((await cli('validate', balanced)).stdout).toBe(`${balanced}: valid (2 targets, 0 options, 1 onion service (0 filesystem, 0 ephemeral, 1 balanced), 0 client authorizations)\n`);
  });

  it('exits 1 for an invalid spec, with every error and warning on stderr, positioned, and no stack trace', async () => {
    const r = await cli('validate', bad);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      [
        `${bad}:3:16: options.StrictNodes: expected true or false (or 1/0), got \`maybe\``,
        '    StrictNodes: maybe',
        '                 ^',
        `${bad}:4:3: unknown tor option "Bogus" (tor 0.4.9.11)`,
        '    Bogus: 1',
        '    ^',
        `${bad}:5:3: warning: Sandbox needs a tor restart to change: tor refuses a new value while it runs`,
        '    Sandbox: 0',
        '    ^',
        '2 errors, 1 warning',
        '',
      ].join('\n'),
    );
  });

  it('prints warnings of a valid spec on stderr and still exits 0', async () => {
    const r = await cli('validate', warned);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
    expect(r.stderr).toMatch(/:3:3: warning: Sandbox needs a tor restart to change.*\n[\s\S]*1 warning\n$/);
  });

  it('merges several files in order', async () => {
    const over = path.join(dir, 'over.yaml');
    await writeFile(over, 'options:\n  StrictNodes: true\n  Bogus: null\n');
    const r = await cli('validate', bad, over);
    expect(r.stderr).not.toContain('StrictNodes');
    expect(r.stderr).toContain(`${over}:3:3: unknown tor option "Bogus"`);
  });

  it('--json gives machine output on stdout only, with the same exit codes', async () => {
    const ok = await cli('validate', '--json', warned);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toEqual({ valid: true, errors: [], warnings: [{ file: warned, line: 3, col: 3, message: expect.stringContaining('Sandbox needs a tor restart'), excerpt: '  Sandbox: 0', severity: 'warning' }] });
    const ko = await cli('validate', bad, '--json');
    expect(ko.code).toBe(1);
    expect(ko.stderr).toBe('');
    const out = JSON.parse(ko.stdout) as { valid: boolean; errors: Array<{ line: number; col: number; severity: string }>; warnings: unknown[] };
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => [e.line, e.col, e.severity])).toEqual([
      [3, 16, 'error'],
      [4, 3, 'error'],
    ]);
    expect(out.warnings).toHaveLength(1);
  });

  it('reports a missing file as an error of the spec, exit 1', async () => {
    const r = await cli('validate', path.join(dir, 'nope.yaml'));
    expect(r).toEqual({ code: 1, stdout: '', stderr: `${path.join(dir, 'nope.yaml')}: cannot read spec file: no such file\n1 error\n` });
  });
});

describe('tor-reconcile schema', () => {
  it('prints the committed JSON Schema', async () => {
    const r = await cli('schema');
    expect(r.code).toBe(0);
    expect(r.stdout, 'run `tor-reconcile schema > schema/tor-reconcile.schema.json`').toBe(await readFile(schemaFile, 'utf8'));
  });
});

describe('the command line', () => {
  it('shows the version of package.json', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await cli('--version')).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it.each([[[]], [['validate', '--help']], [['schema', '--help']], [['--help']]])('%j shows help with an example', async (argv) => {
    const r = await cli(...argv);
    expect(r.stdout + r.stderr).toMatch(/Examples?:\n {2}\$ tor-reconcile /);
    expect(r.code).toBe(argv.length === 0 ? 2 : 0);
  });

  it.each([
    [['valdate', 'x.yaml'], /unknown command 'valdate'[\s\S]*Did you mean validate\?/],
    [['validate'], /missing required argument 'spec'/],
    [['validate', '--jsn', 'x.yaml'], /unknown option '--jsn'/],
    // Checked by the command itself, not by commander: these once exited 1, like a spec error.
    [['plan', 'x.yaml', '--format', 'bogus'], /^tor-reconcile: unknown format bogus: use human, json, markdown or github\n$/],
    [['apply', 'x.yaml', '--timeout', 'soon'], /^tor-reconcile: --timeout: soon is not a duration/],
    [['watch', 'x.yaml', '--mode', 'loud'], /^tor-reconcile: --mode loud: use enforce or warn\n$/],
  ])('%j is a usage error: exit 2', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('a usage error with --detailed-exitcode exits 1, since 2 means "changes" there', async () => {
    const r = await cli('plan', 'x.yaml', '--format', 'bogus', '--detailed-exitcode');
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(/unknown format bogus/);
  });

  it('reports a bug with its stack trace and exit 70', async () => {
    const io: CliIo = {
      stdout: () => {
        throw new Error('stdout is gone');
      },
      stderr: (s) => void (stderr += s),
      env: {},
    };
    let stderr = '';
    expect(await run(['schema'], io)).toBe(70);
    expect(stderr).toMatch(/^tor-reconcile: internal error, please report it:\nError: stdout is gone\n {4}at /);
  });
});

describe('the built CLI (npm run build)', () => {
  function node(...args: string[]) {
    if (!existsSync(mainJs)) throw new Error('dist/cli/main.cjs is missing: run `npm run build` first');
    return spawnSync(process.execPath, [mainJs, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  }

  it("reports a bug's stack trace in positions of src/, though the bundle has no whitespace", async () => {
    // The bundle as the bin loads it, in a fresh node; its stdout throws, as in the in-process test above.
    const probe = `import(${JSON.stringify(path.join(root, 'dist/cli/bundle.js'))}).then(async ({ loadBundle }) => {
      const { cli } = loadBundle(${JSON.stringify(path.join(root, 'dist/cli'))});
      const code = await cli.run(['schema'], { stdout: () => { throw new Error('stdout is gone'); }, stderr: (s) => process.stderr.write(s), env: {} });
      process.exitCode = code;
    })`;
    const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(70);
    // The frame of schema.ts names the line that writes to stdout.
    const line = (await readFile(path.join(root, 'src/cli/commands/schema.ts'), 'utf8')).split('\n').findIndex((l) => l.includes('io.stdout(')) + 1;
    expect(r.stderr).toMatch(new RegExp(`\\n {4}at .*\\(src/cli/commands/schema\\.ts:${line}:\\d+\\)\\n`));
    expect(r.stderr).toMatch(/\(node_modules\/commander\/lib\/command\.js:\d+:\d+\)/);
    // No position of the bundle is left: every frame of ours was mapped.
    expect(r.stderr).not.toMatch(/cli\.cjs:\d/);
  });

  /** The bin with `stream` (1 stdout, 2 stderr) a pipe whose reader is gone before the command writes much. */
  function closedReader(stream: 1 | 2, ...args: string[]): Promise<{ status: number | null; other: string }> {
    const child = spawn(process.execPath, [mainJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdio[stream]!.destroy();
    let other = '';
    child.stdio[stream === 1 ? 2 : 1]!.on('data', (d: Buffer) => (other += d));
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, other })));
  }

  it('a reader that goes away (`| head`) is no crash: the output is dropped and the command ends as it would', async () => {
    // The schema (~100 kB) is more than a pipe holds: its write meets the closed pipe.
    const schema = await closedReader(1, 'schema');
    expect(schema.other).toBe('');
    expect(schema.status).toBe(0);
    // Diagnostics of 800 unknown options on stderr (~80 kB): exit 1 for an invalid spec, as with a reader.
    const many = path.join(dir, 'many-errors.yaml');
    await writeFile(many, `version: 1\noptions:\n${Array.from({ length: 800 }, (_, i) => `  NoSuchOption${i}: 1\n`).join('')}`);
    const invalid = await closedReader(2, 'validate', many);
    expect(invalid.other).toBe('');
    expect(invalid.status).toBe(1);
  });

  it('starts with a shebang so it runs as the package bin', async () => {
    expect((await readFile(mainJs, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('validates: exit 0, and exit 1 without a stack trace', () => {
    const ok = node('validate', quickstart);
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toContain(': valid (');
    const ko = node('validate', bad);
    expect(ko.status).toBe(1);
    expect(ko.stderr).toContain(`${bad}:3:16: options.StrictNodes`);
    expect(ko.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints the schema to stdout', async () => {
    const r = node('schema');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(await readFile(schemaFile, 'utf8'));
  });
});
