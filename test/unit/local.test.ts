import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileDigest, persistKeys, probeKeyFile } from '../../src/reconcile/local.js';
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
