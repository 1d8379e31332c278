// loadSpec keeps the last specs it read by content (issue #16: parsing is most of a load, and watch and
// re-plans read the same text again): what it gives back must be what a fresh load would give.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec, loadSpecSources, SpecErrors } from '../../src/spec/index.js';
import { reveal, type MaybeSecret } from '../../src/tor/secret.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'spec-cache-'));
  await mkdir(path.join(dir, 'a'));
  await mkdir(path.join(dir, 'b'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const spec = (name: string, extra = '') =>
  `version: 1\nstateDirectory: ./state\n${extra}onionServices:\n  - { name: ${name}, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }\n`;

describe('loading an unchanged spec again', () => {
  it('reuses the first load of the same text, and gives the same result', async () => {
    const file = path.join(dir, 'same.yaml');
    await writeFile(file, spec('web'));
    const first = await loadSpec([file]);
    const again = await loadSpec([file]);
    expect(again).toEqual(first);
    // The same normalized service, not a second parse of it.
    expect(again.state.onionServices[0]).toBe(first.state.onionServices[0]);
  });

  it('reads a changed file anew', async () => {
    const file = path.join(dir, 'changed.yaml');
    await writeFile(file, spec('one'));
    expect((await loadSpec([file])).state.onionServices.map((s) => s.name)).toEqual(['one']);
    await writeFile(file, spec('two'));
    expect((await loadSpec([file])).state.onionServices.map((s) => s.name)).toEqual(['two']);
  });

  it('resolves relative paths against where each copy lives', async () => {
    const text = spec('web');
    const a = await loadSpecSources([{ name: 'spec.yaml', path: path.join(dir, 'a', 'spec.yaml'), text }]);
    const b = await loadSpecSources([{ name: 'spec.yaml', path: path.join(dir, 'b', 'spec.yaml'), text }]);
    expect(a.state.stateDirectory).toBe(path.join(dir, 'a', 'state'));
    expect(b.state.stateDirectory).toBe(path.join(dir, 'b', 'state'));
  });

  it('reads ${env:} and ${file:} again each time: their values are not in the text', async () => {
    const text = spec('web', 'options:\n  ContactInfo: ${env:CONTACT}\n');
    const source = { name: 'env.yaml', path: path.join(dir, 'env.yaml'), text };
    const one = await loadSpecSources([source], { env: { CONTACT: 'one@example.org' } });
    const two = await loadSpecSources([source], { env: { CONTACT: 'two@example.org' } });
    const contact = (s: typeof one) => s.state.options.find((o) => o.name === 'ContactInfo')!.value!.map((v: MaybeSecret) => reveal(v)).join();
    expect([contact(one), contact(two)]).toEqual(['one@example.org', 'two@example.org']);
  });

  it('reports a spec with errors every time it is loaded', async () => {
    const source = { name: 'bad.yaml', path: path.join(dir, 'bad.yaml'), text: 'version: 1\nonionServices: 3\n' };
    await expect(loadSpecSources([source])).rejects.toBeInstanceOf(SpecErrors);
    await expect(loadSpecSources([source])).rejects.toBeInstanceOf(SpecErrors);
  });
});
