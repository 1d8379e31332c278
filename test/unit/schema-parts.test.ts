// A spec is checked with a schema in which only the parts it has are built (schemaFor, issue #16): it must
// report exactly what the whole schema reports, for valid specs and broken ones alike.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { schemaFor, specSchema } from '../../src/spec/schema.js';
import { propertyRuns } from '../helpers/property.js';

const issues = (schema: { safeParse(v: unknown, p?: { jitless?: boolean }): { success: boolean; error?: { issues: unknown[] } } }, value: unknown) =>
  JSON.parse(JSON.stringify(schema.safeParse(value, { jitless: true }).error?.issues ?? [])) as unknown[];

function same(value: unknown): void {
  expect(issues(schemaFor(value), value)).toEqual(issues(specSchema(), value));
}

const ephemeral = { name: 'web', type: 'ephemeral', key: { generate: true }, ports: [{ port: 80 }] };

describe('schemaFor', () => {
  it('reports what the whole schema reports for every example spec', async () => {
    const dir = path.join(import.meta.dirname, '../../examples/specs');
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
      const value: unknown = parse(await readFile(path.join(dir, file), 'utf8'));
      expect(issues(schemaFor(value), value), file).toEqual([]);
      same(value);
    }
  });

  it.each([
    ['not a mapping', ['version', 1]],
    ['no version', { onionServices: [ephemeral] }],
    ['an unknown top-level key', { version: 1, attachh: {} }],
    ['an unknown kind of service', { version: 1, onionServices: [{ ...ephemeral, type: 'ephemral' }] }],
    ['a service without a type', { version: 1, onionServices: [{ name: 'x' }, ephemeral] }],
    ['a service that is no mapping', { version: 1, onionServices: ['web'] }],
    ['a filesystem service beside an ephemeral one, broken', { version: 1, onionServices: [ephemeral, { name: 'fs', type: 'filesystem', ports: [] }] }],
    ['a balanced service missing its frontend', { version: 1, onionServices: [{ name: 'b', type: 'balanced', backends: ['a'] }] }],
    ['attach with a bad policy', { version: 1, attach: { policies: [{ name: 'p', match: { port: 'x' } }] } }],
    ['health of the wrong type', { version: 1, health: 5 }],
    ['persist unknown', { version: 1, persist: 'sometimes' }],
    ['targets empty', { version: 1, targets: [] }],
    ['tor.launch options of the wrong type', { version: 1, tor: { launch: { options: [1] } } }],
    ['onionServices not a list', { version: 1, onionServices: { web: ephemeral } }],
  ])('reports what the whole schema reports: %s', (_, value) => {
    expect(issues(specSchema(), value).length).toBeGreaterThan(0);
    same(value);
  });

  it('property: the same issues as the whole schema, whatever the spec holds', () => {
    const keys = ['version', 'tor', 'targets', 'stateDirectory', 'prune', 'options', 'onionServices', 'clientAuth', 'attach', 'persist', 'health', 'other'];
    const service = fc.record(
      { name: fc.string(), type: fc.constantFrom('filesystem', 'ephemeral', 'balanced', 'other', 3), ports: fc.anything(), key: fc.anything(), directory: fc.anything() },
      { requiredKeys: [] },
    );
    const value = fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.anything(), fc.array(service, { maxLength: 4 })), { maxKeys: 6 });
    fc.assert(fc.property(value, (v) => {
        same(v);
      }), { numRuns: propertyRuns(300) });
  });
});
