// lint places findings by parsing the spec files again (src/lint/locate.ts); `plan` lints every spec it
// plans, so that second parse must happen only when there is a finding to place. yaml's parseDocument is
// spied on (the real one runs) to count the parses.
import * as yaml from 'yaml';
import { describe, expect, it, vi } from 'vitest';
import { activeFindings, lintState } from '../../src/lint/index.js';
import { loadSpecSources } from '../../src/spec/index.js';

vi.mock('yaml', async (importOriginal) => {
  const real = await importOriginal<typeof import('yaml')>();
  return { ...real, parseDocument: vi.fn(real.parseDocument) };
});

const parses = vi.mocked(yaml.parseDocument);

async function lintText(text: string) {
  const files = [{ name: 'spec.yaml', text }];
  const { state } = await loadSpecSources(files, { env: {}, skipSecrets: true });
  parses.mockClear();
  return lintState(state, files);
}

describe('where lint findings are placed', () => {
  it('parses nothing again for a spec without findings', async () => {
    const clean = 'version: 1\noptions:\n  SocksPort: 0\n';
    expect(activeFindings(await lintText(clean))).toEqual([]);
    expect(parses).not.toHaveBeenCalled();
  });

  it('parses each file once to place findings, at the line they were written on', async () => {
    const text = 'version: 1\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n';
    const findings = activeFindings(await lintText(text));
    expect(findings.map((f) => [f.ruleId, f.line])).toContainEqual(['TR014', 3]);
    expect(parses).toHaveBeenCalledTimes(1);
  });
});
