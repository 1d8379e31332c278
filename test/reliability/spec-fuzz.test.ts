/**
 * Mutated real specs through the CLI. test/unit/spec.test.ts feeds random YAML and mutated objects to the
 * loader; here the input is the text of the commented examples, broken the way people break YAML (a lost
 * indent, a stray quote, a tab, a duplicated line), and the judge is what a user sees: the exit code of
 * `validate` and its stderr.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { figures, ROOT } from './helpers.js';

let work: string;
let examples: Array<{ name: string; text: string }>;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-specfuzz-'));
  // A copy, so that ${file:./secrets/…} in the examples resolves and nothing writes into the repository.
  await cp(path.join(ROOT, 'examples/specs'), work, { recursive: true });
  const names = (await readdir(work)).filter((n) => n.endsWith('.yaml')).sort();
  examples = await Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(work, name), 'utf8') })));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function validate(file: string, json: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { A: 'x', NO_COLOR: '1' } };
  const code = await run(['validate', file, ...(json ? ['--json'] : [])], io);
  return { code, stdout, stderr };
}

/** What people type into YAML by mistake, and what YAML has that a spec never uses. */
const PIECES = [
  ': ', '- ', '-', ':', '[', ']', '{', '}', ',', '&a ', '*a', '<<: *a', '!!binary ', '!!str ', '!x ', '|', '>-', '"', "'", '#', '\t', '\n', '\r\n', '\r',
  '%YAML 1.1\n', '---\n', '...\n', '? ', '${env:A}', '${env:NOPE}', '${file:/etc/hostname}', '${file:./nope}', '$${', '${', '}', '\0', '\ufeff', '\u2028',
  '~', 'null', '1e999', '0x1F', '-.inf', '.nan', '2001-12-14', '99999999999999999999', '-1', '0', 'yes', 'on', '"\\u0000"', '"\\ud800"', 'é', '😀', ' ', '  ',
];

const mutation = fc.record({
  op: fc.constantFrom('insert', 'deleteLine', 'duplicateLine', 'swapLines', 'indent', 'dedent', 'deleteChars', 'replaceWord', 'truncate'),
  pos: fc.nat(),
  pos2: fc.nat(),
  len: fc.integer({ min: 1, max: 20 }),
  piece: fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 8 })),
});

type Mutation = { op: string; pos: number; pos2: number; len: number; piece: string };

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n');
  const li = m.pos % lines.length;
  const at = text.length ? m.pos % text.length : 0;
  switch (m.op) {
    case 'insert':
      return text.slice(0, at) + m.piece + text.slice(at);
    case 'deleteLine':
      lines.splice(li, 1);
      return lines.join('\n');
    case 'duplicateLine':
      lines.splice(li, 0, lines[li]!);
      return lines.join('\n');
    case 'swapLines': {
      const lj = m.pos2 % lines.length;
      [lines[li], lines[lj]] = [lines[lj]!, lines[li]!];
      return lines.join('\n');
    }
    case 'indent':
      lines[li] = '  ' + lines[li];
      return lines.join('\n');
    case 'dedent':
      lines[li] = lines[li]!.replace(/^ {1,2}/, '');
      return lines.join('\n');
    case 'deleteChars':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'replaceWord':
      return text.slice(0, at) + text.slice(at).replace(/[^\s:,[\]{}]+/, m.piece);
    case 'truncate':
      return text.slice(0, at);
  }
  return text;
}

describe('spec fuzzing: mutated example specs through `validate`', () => {
  it('exit 0 or 1, never 70; never a stack trace; every error has a file:line:col position', async () => {
    const seed = Number(process.env.TOR_RECONCILE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const counts = { cases: 0, valid: 0, invalid: 0, diagnostics: 0 };
    const file = path.join(work, 'mutated.yaml');
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 5 }), fc.boolean(), async (which, muts, json) => {
        const example = examples[which % examples.length]!;
        let text = example.text;
        for (const m of muts) text = mutate(text, m);
        await writeFile(file, text);
        const r = await validate(file, json);
        counts.cases++;
        expect([0, 1], `exit ${r.code} for:\n${text}\n${r.stderr}`).toContain(r.code);
        expect(r.stderr).not.toMatch(/internal error/);
        expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
        if (r.code === 0) {
          counts.valid++;
          return;
        }
        counts.invalid++;
        if (json) {
          const report = JSON.parse(r.stdout) as { valid: boolean; errors: Array<{ file: string; line: number; col: number; message: string }> };
          expect(report.valid).toBe(false);
          expect(report.errors.length).toBeGreaterThan(0);
          for (const e of report.errors) {
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.col).toBeGreaterThanOrEqual(1);
            expect(e.message.length).toBeGreaterThan(0);
          }
          counts.diagnostics += report.errors.length;
        } else {
          const positioned = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`) && /^.+:\d+:\d+: /.test(l));
          expect(positioned.length, r.stderr).toBeGreaterThan(0);
          counts.diagnostics += positioned.length;
        }
      }),
      { numRuns: Number(process.env.TOR_RECONCILE_FUZZ_RUNS ?? 1200), seed },
    );
    // Mutations that never break anything would prove nothing.
    expect(counts.invalid).toBeGreaterThan(counts.cases / 4);
    figures('spec fuzzing (validate)', { seed, examples: examples.length, ...counts, exit70: 0, stackTraces: 0 });
  }, 120_000);
});
