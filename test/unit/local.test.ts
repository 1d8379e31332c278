import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileDigest, persistKeys, probeKeyFile, readRecords, recordFinder, recordKey, writeRecords } from '../../src/reconcile/local.js';
import { StateFileError } from '../../src/reconcile/errors.js';
import { generateServiceKey } from '../../src/tor/onion/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-local-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key files and the record of what tor served', () => {
  it('trusts a record only for the exact bytes tor served, and parses anything else', async () => {
    const file = path.join(dir, 'keys/a.key');
    const key = generateServiceKey();
    await persistKeys([{ file, key }]);
    const digest = createHash('sha256').update(await readFile(file)).digest('hex');
    expect(await keyFileDigest(file)).toBe(digest);
    const record = { target: 'unix:/t', spec: 's', name: 'a', address: 'x'.repeat(56), keyFile: file, config: 'c', keyDigest: digest };
    // Same bytes: the recorded address (tor's answer) is taken as is.
    expect(await probeKeyFile(file, record)).toEqual({ address: 'x'.repeat(56) });
    // Other bytes: parsed, and a different key gives its own address.
    const other = generateServiceKey();
    await writeFile(file, other.toAddOnionBlob().reveal() + '\n');
    expect(await probeKeyFile(file, record)).toEqual({ address: other.address });
    await writeFile(file, 'ED25519-V3:garbage\n');
    expect((await probeKeyFile(file, record)).error).toMatch(/ED25519-V3/);
  });
});

describe('the state file', () => {
  const addr = 'a'.repeat(56);
  const rec = { spec: '/spec.yaml', name: 'web', address: addr, keyFile: '/s/keys/web.key', config: 'c', keyDigest: 'd' };
  async function stateDir(name: string, body: unknown): Promise<string> {
    const d = path.join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'state.json'), JSON.stringify(body));
    return d;
  }

  it('keys records by tor, spec and service, and writes format 3', async () => {
    const d = path.join(dir, 'v3');
    const mine = { ...rec, target: 'unix:/a' };
    const theirs = { ...rec, target: 'unix:/b', address: 'b'.repeat(56) };
    await writeRecords(d, new Map([[recordKey(mine.target, mine.spec, mine.name), mine], [recordKey(theirs.target, theirs.spec, theirs.name), theirs]]));
    expect(JSON.parse(await readFile(path.join(d, 'state.json'), 'utf8'))).toMatchObject({ format_version: 3 });
    const records = await readRecords(d);
    expect(records.size).toBe(2);
    expect(recordFinder(records, 'unix:/a', '/spec.yaml')('web')).toEqual(mine);
    expect(recordFinder(records, 'unix:/b', '/spec.yaml')('web')).toEqual(theirs);
    expect(recordFinder(records, 'unix:/c', '/spec.yaml')('web')).toBeUndefined();
  });

  it('writes records in code-unit order of tor, spec and name (not the locale\'s)', async () => {
    const d = path.join(dir, 'ordered');
    const named = ['api', 'Web', '_x', 'b'].map((name) => ({ ...rec, name, target: 'unix:/a' }));
    await writeRecords(d, new Map(named.map((r) => [recordKey(r.target, r.spec, r.name), r])));
    const written = JSON.parse(await readFile(path.join(d, 'state.json'), 'utf8')) as { ephemeral: Array<{ name: string }> };
    expect(written.ephemeral.map((r) => r.name)).toEqual(['Web', '_x', 'api', 'b']);
  });

  it('finds the records of many services of one spec as recordKey keyed them, whatever their names', () => {
    const awkward = ['web', 'a"b', 'a\\b', 'é', 'x,y', ']'];
    const specs = ['/spec.yaml', '/a "b"/spec.yaml\n/other.yaml'];
    const all = specs.flatMap((spec) => awkward.map((name, i) => ({ ...rec, spec, name, target: i % 2 ? '' : 'unix:/a', address: String(i).repeat(56) })));
    const records = new Map(all.map((r) => [recordKey(r.target, r.spec, r.name), r]));
    for (const spec of specs) {
      const find = recordFinder(records, 'unix:/a', spec);
      // Its own record, else the one of a format without targets ('').
      for (const name of awkward) expect(find(name)).toBe(all.find((r) => r.spec === spec && r.name === name));
      expect(find('missing')).toBeUndefined();
      expect(recordFinder(records, 'unix:/b', spec)('web')).toBeUndefined();
    }
  });

  it.each([
    ['format 2 (records per spec)', { format_version: 2, ephemeral: [rec] }],
    ['format 1 (records by name)', { format_version: 1, ephemeral: { web: { spec: rec.spec, address: addr, keyFile: rec.keyFile, config: 'c', keyDigest: 'd' } } }],
  ])('still reads %s: its records stand for any tor until rewritten', async (name, body) => {
    const records = await readRecords(await stateDir(name.replace(/\W/g, ''), body));
    expect([...records.values()]).toEqual([{ ...rec, target: '' }]);
    expect(recordFinder(records, 'unix:/any', '/spec.yaml')('web')).toEqual({ ...rec, target: '' });
  });

  it('a file read or written once is parsed again only when it changed, and every caller gets its own map', async () => {
    const d = path.join(dir, 'cached');
    const a = { ...rec, target: 'unix:/a' };
    await writeRecords(d, new Map([[recordKey(a.target, a.spec, a.name), a]]));
    const first = await readRecords(d);
    expect([...first.values()]).toEqual([a]);
    // Apply changes the map it was given: the next read must not see that.
    first.clear();
    expect([...(await readRecords(d)).values()]).toEqual([a]);
    // Another process rewrites the file, same size: the new content is read.
    const b = { ...a, address: 'b'.repeat(56) };
    await writeFile(path.join(d, 'state.json'), JSON.stringify({ format_version: 3, ephemeral: [b] }, null, 2) + '\n');
    expect([...(await readRecords(d)).values()]).toEqual([b]);
    await rm(path.join(d, 'state.json'));
    expect((await readRecords(d)).size).toBe(0);
  });

  it('refuses a newer format rather than misread it', async () => {
    await expect(readRecords(await stateDir('v4', { format_version: 4, ephemeral: [] }))).rejects.toThrow(StateFileError);
  });
});
