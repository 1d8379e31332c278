/**
 * `tor-reconcile apply` on the private network's onion-service tor, then `tor-reconcile check` through the
 * client tor: every declared service reachable; a client-authorized one only with the spec's key lent.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { persistKeys } from '../../src/reconcile/local.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';
import { startHttpTarget, type Target } from '../net/targets.js';

let net: PrivateNetwork;
let web: Target;
let dir: string;

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: {} });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  net = await startNetwork({ onionService: true });
  web = await startHttpTarget();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-check-'));
});
afterAll(async () => {
  await web?.close();
  await net?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tor-reconcile check on a private network', () => {
  it('reports every service reachable, using the spec client-auth key for the private one', async () => {
    const privateKey = generateServiceKey();
    await persistKeys([{ file: path.join(dir, 'keys/private.key'), key: privateKey }]);
    const alice = generateClientAuthKeyPair();
    await mkdir(path.join(dir, 'secrets'), { recursive: true });
    await writeFile(path.join(dir, 'secrets/alice'), clientAuthPrivateLine(privateKey.address, alice.privateKey).reveal(), { mode: 0o600 });
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(
      spec,
      [
        'version: 1',
        `tor: { control: ${formatControlAddress(net.onion!.tor.controlAddress)} }`,
        'onionServices:',
        `  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:${web.port} }] }`,
        `  - { name: files, type: filesystem, directory: ./hs/files, ports: [{ port: 80, target: 127.0.0.1:${web.port} }] }`,
        `  - { name: private, type: ephemeral, key: { file: ./keys/private.key }, ports: [{ port: 80, target: 127.0.0.1:${web.port} }],`,
        `      authorizedClients: [{ name: alice, publicKey: ${alice.publicKey} }] }`,
        'clientAuth:',
        '  - { privateKey: "${file:./secrets/alice}" }',
        '',
      ].join('\n'),
    );
    const applied = await cli(['apply', spec, '--wait-published', '60s']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stderr).toMatch(/published 3\/3 descriptors/);

    const client = formatControlAddress(net.client.tor.controlAddress);
    const socks = `${net.socks.host}:${net.socks.port}`;
    const ok = await cli(['check', spec, '--socks', socks, '--client-control', client, '--json']);
    const results = JSON.parse(ok.stdout).results as Array<{ name: string; ok: boolean; latencyMs?: number; error?: string }>;
    expect(results.map((r) => [r.name, r.ok, r.error])).toEqual([
      ['web', true, undefined],
      ['files', true, undefined],
      ['private', true, undefined],
    ]);
    expect(ok.code).toBe(0);
    console.log(`check latencies: ${results.map((r) => `${r.name} ${r.latencyMs} ms`).join(', ')}`);
    // The key was lent for the check only.
    expect(await net.client.client.onionClientAuthView()).toEqual([]);

    // Without the key, the private service is refused with tor's reason, and check exits 1.
    const without = await cli(['check', spec, '--socks', socks]);
    expect(without.code).toBe(1);
    expect(without.stdout).toMatch(/^ok\s+web /m);
    expect(without.stdout).toMatch(/^FAIL\s+private .*client auth/im);
    expect(without.stdout).toMatch(/2 of 3 onion services reachable/);
  });
});
