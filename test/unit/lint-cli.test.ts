/**
 * `tor-reconcile lint` as a user runs it: exit status and --max-warnings, the three formats, SARIF checked
 * against a SARIF 2.1.0 schema (test/data: a subset written from the standard, see its $comment), the
 * generated rule docs kept current, and lint writing nothing.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRuleDocs, renderRuleDocs } from '../../src/lint/index.js';
import { cliInProcess } from '../helpers/cli.js';

const root = path.join(import.meta.dirname, '../..');

async function sarifValidator() {
  const schema = JSON.parse(await readFile(path.join(root, 'test/data/sarif-2.1.0-subset.schema.json'), 'utf8'));
  // strictRequired off: `anyOf: [{ required: [text] }, { required: [id] }]` names properties defined beside it, as SARIF's own schema does.
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  // ajv-formats is not a dependency: the two formats the schema uses, by the WHATWG URL parser.
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  ajv.addFormat('uri-reference', (s: string) => URL.canParse(s, 'http://base.invalid/') && !/[\s\\]/.test(s));
  return ajv.compile(schema);
}

let dir: string;
const spec = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lint-cli-'));
  await writeFile(spec('bad.yaml'), 'version: 1\noptions:\n  SocksPort: 0.0.0.0:9050\n  ExcludeNodes: "{ru}"\n');
  await writeFile(spec('warn.yaml'), 'version: 1\noptions:\n  ExcludeNodes: "{ru}"\n  UseEntryGuards: false\n');
  await writeFile(
    spec('mixed.yaml'),
    'version: 1\noptions:\n  # tor-reconcile: ignore TR001 -- a LAN gateway behind a firewall\n  SocksPort: 0.0.0.0:9050\n  ControlPort: 9051 # tor-reconcile: ignore TR002\n' +
      'onionServices:\n  - name: web\n    type: filesystem\n    directory: ./hs/web\n    ports: [{ port: 80, target: "192.0.2.7:80" }]\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tor-reconcile lint', () => {
  it('human output: file:line:col, rule, excerpt and caret; exit 1 on an error-level finding', async () => {
    const r = await cliInProcess(['lint', spec('bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `${spec('bad.yaml')}:3:14: error TR001: SocksPort 0.0.0.0:9050 listens on 0.0.0.0, beyond this host, and no SocksPolicy ends with \`reject *\`\n    SocksPort: 0.0.0.0:9050\n               ^\n` +
        `${spec('bad.yaml')}:4:17: warning TR020: ExcludeNodes {ru} without StrictNodes 1: tor may still use these nodes\n    ExcludeNodes: "{ru}"\n                  ^\n` +
        '1 error, 1 warning, 0 notes\n',
    );
  });

  it('warnings alone exit 0, unless there are more than --max-warnings', async () => {
    expect((await cliInProcess(['lint', spec('warn.yaml')])).code).toBe(0);
    expect((await cliInProcess(['lint', spec('warn.yaml'), '--max-warnings', '2'])).code).toBe(0);
    expect((await cliInProcess(['lint', spec('warn.yaml'), '--max-warnings', '1'])).code).toBe(1);
    expect((await cliInProcess(['lint', spec('warn.yaml'), '--max-warnings', 'x'])).code).toBe(2);
    expect((await cliInProcess(['lint', spec('warn.yaml'), '--format', 'xml'])).code).toBe(2);
  });

  it('json: every finding, suppressed ones with their reason, and a summary', async () => {
    const r = await cliInProcess(['lint', spec('mixed.yaml'), '--format', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { findings: Array<{ ruleId: string; line: number; suppression?: { reason: string } }>; summary: unknown };
    expect(out.findings.map((f) => [f.ruleId, f.line, f.suppression?.reason])).toEqual([
      ['TR001', 4, 'a LAN gateway behind a firewall'],
      ['TR002', 5, undefined],
      ['TR900', 5, undefined],
      ['TR004', 10, undefined],
      ['TR014', 7, undefined],
      ['TR015', 7, undefined],
    ].sort((a, b) => (a[1] as number) - (b[1] as number)));
    expect(out.summary).toEqual({ errors: 1, warnings: 3, notes: 1, suppressed: 1 });
  });

  it('sarif: valid SARIF 2.1.0 with the rules, locations relative to the working directory, in-source suppressions', async () => {
    const validate = await sarifValidator();
    // Code scanning wants repository paths: a spec under the working directory gets a relative URI.
    // dist-check/ is git-ignored (typecheck's output directory).
    await mkdir(path.join(process.cwd(), 'dist-check'), { recursive: true });
    const near = await mkdtemp(path.join(process.cwd(), 'dist-check', 'lint-sarif-'));
    try {
      await writeFile(path.join(near, 'mixed.yaml'), await readFile(spec('mixed.yaml'), 'utf8'));
      const rel = path.relative(process.cwd(), path.join(near, 'mixed.yaml'));
      const sarif = JSON.parse((await cliInProcess(['lint', rel, '--format', 'sarif'])).stdout);
      expect(validate(sarif), JSON.stringify(validate.errors)).toBe(true);
      const run = sarif.runs[0];
      expect(run.tool.driver.rules.map((d: { id: string }) => d.id)).toEqual(allRuleDocs.map((d) => d.id));
      expect(run.results[0]).toEqual({
        ruleId: 'TR001',
        ruleIndex: 0,
        level: 'error',
        message: { text: expect.stringContaining('SocksPort 0.0.0.0:9050') },
        locations: [{ physicalLocation: { artifactLocation: { uri: rel.split(path.sep).join('/') }, region: { startLine: 4, startColumn: 14 } } }],
        suppressions: [{ kind: 'inSource', justification: 'a LAN gateway behind a firewall' }],
      });
      expect(run.results.every((x: { ruleIndex: number; ruleId: string }) => run.tool.driver.rules[x.ruleIndex].id === x.ruleId)).toBe(true);
      // Outside the working directory: an absolute file: URI.
      const far = JSON.parse((await cliInProcess(['lint', spec('mixed.yaml'), '--format', 'sarif'])).stdout);
      expect(validate(far)).toBe(true);
      expect(far.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe(`file://${spec('mixed.yaml')}`);
    } finally {
      await rm(near, { recursive: true, force: true });
    }
  });

  it('the schema check can fail: a wrong level, a missing message or a column 0 are rejected', async () => {
    const validate = await sarifValidator();
    const r = await cliInProcess(['lint', spec('bad.yaml'), '--format', 'sarif']);
    const good = JSON.parse(r.stdout);
    expect(validate(good)).toBe(true);
    const broken = [
      (s: any) => (s.runs[0].results[0].level = 'fatal'),
      (s: any) => delete s.runs[0].results[0].message,
      (s: any) => (s.runs[0].results[0].locations[0].physicalLocation.region.startColumn = 0),
      (s: any) => (s.version = '2.0.0'),
      (s: any) => (s.runs[0].results[0].suppressions = [{ kind: 'inline' }]),
    ];
    for (const breakIt of broken) {
      const copy = structuredClone(good);
      breakIt(copy);
      expect(validate(copy), breakIt.toString()).toBe(false);
    }
  });

  it('an invalid or unreadable spec is reported as validate reports it (exit 1)', async () => {
    await writeFile(spec('invalid.yaml'), 'version: 1\noptions:\n  NoSuchOption: 1\n');
    const r = await cliInProcess(['lint', spec('invalid.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${spec('invalid.yaml')}:3:3:`);
    const missing = await cliInProcess(['lint', spec('missing.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read spec file');
  });

  it('is read-only: no state directory, key or data directory is created, and ${file:} secrets are not read', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'lint-ro-'));
    try {
      await writeFile(
        path.join(work, 'spec.yaml'),
        'version: 1\ntor:\n  launch: { dataDirectory: ./tor-data }\nstateDirectory: ./state\n' +
          'clientAuth:\n  - privateKey: ${file:./absent.auth_private}\n' +
          'onionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 8000 }], maxStreams: 5 }\n',
      );
      const r = await cliInProcess(['lint', path.join(work, 'spec.yaml')]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await readdir(work)).toEqual(['spec.yaml']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('docs/lint-rules.md', () => {
  it('is the generated text for the current rules (regenerate: npm run build && node scripts/gen-lint-rules.mjs)', async () => {
    expect(await readFile(path.join(root, 'docs/lint-rules.md'), 'utf8')).toBe(renderRuleDocs(allRuleDocs));
  });
});
