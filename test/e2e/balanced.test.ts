/**
 * Issue #17, balanced onion services on the loopback private Tor network: examples/specs/balanced.yaml applied
 * to two backend tors. Each backend runs the service with HiddenServiceOnionBalanceInstance 1 and an ob_config
 * naming the frontend (written before tor loaded the service), Onionbalance's config.yaml lists both backends'
 * addresses with the frontend key beside it, and a re-plan is empty.
 *
 * Not here yet: Onionbalance itself serving the frontend address to a client (see docs/fleet.md, "Status of
 * the end-to-end test").
 */
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliInProcess } from '../helpers/cli.js';
import { startNetwork, type NetNode, type PrivateNetwork } from '../net/network.js';

const root = path.join(import.meta.dirname, '../..');

let net: PrivateNetwork;
let work: string;
let spec: string;
let backends: Record<string, NetNode>;

const cli = (...argv: string[]) => cliInProcess(argv, { NO_COLOR: '1' });

beforeAll(async () => {
  // client2 and the onion tor are the backends (client1 stays the network's client).
  net = await startNetwork({ clients: 2, onionService: true, timeout: 240_000 });
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms (${net.dir})`);
  backends = { 'backend-1': net.clients[1]!, 'backend-2': net.onion! };
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-balanced-'));
  spec = path.join(work, 'balanced.yaml');
  await writeFile(spec, await readFile(path.join(root, 'examples/specs/balanced.yaml'), 'utf8'));
  // The example's targets are ./.balanced/<name>/control.sock: point them at the network's backends.
  for (const [name, node] of Object.entries(backends)) {
    await mkdir(path.join(work, '.balanced', name), { recursive: true, mode: 0o700 });
    await symlink((node.tor.controlAddress as { path: string }).path, path.join(work, '.balanced', name, 'control.sock'));
  }
}, 300_000);

afterAll(async () => {
  await net?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a balanced onion service on the private network', () => {
  it('apply: each backend gets its service with ob_config, Onionbalance its config.yaml and key; re-plan is empty', async () => {
    const planned = await cli('plan', spec, '--detailed-exitcode');
    expect(planned.code, planned.stderr + planned.stdout).toBe(2);
    expect(planned.stdout).toMatch(/=== Onionbalance frontend shop: [a-z2-7]{56}\.onion \(new key, kept on apply\) ===/);
    const applied = await cli('apply', spec, '--json');
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    const json = JSON.parse(applied.stdout) as { frontends: Array<{ address: string; backends: Array<{ target: string; address: string | null }>; applied: boolean }> };
    const [front] = json.frontends;
    expect(front!.applied).toBe(true);
    const frontend = front!.address;
    expect(frontend).toMatch(/^[a-z2-7]{56}$/);
    expect(front!.backends.map((b) => b.target)).toEqual(['backend-1', 'backend-2']);
    for (const b of front!.backends) expect(b.address).toMatch(/^[a-z2-7]{56}$/);
    expect(front!.backends[0]!.address).not.toBe(front!.backends[1]!.address);
    for (const [name, node] of Object.entries(backends)) {
      const dir = path.join(work, '.balanced', name, 'hs/shop');
      expect(await readFile(path.join(dir, 'ob_config'), 'utf8')).toBe(`MasterOnionAddress ${frontend}.onion\n`);
      const conf = await node.client.getConf(['HiddenServiceOnionBalanceInstance']);
      expect(conf.get('HiddenServiceOnionBalanceInstance')).toEqual(['1']);
    }
    const config = await readFile(path.join(work, '.onionbalance/config.yaml'), 'utf8');
    for (const b of front!.backends) expect(config).toContain(`address: ${b.address}\n        name: "${b.target}"`);
    expect(config).toContain(`key: "${path.join(work, '.onionbalance/shop.key')}"`);
    expect((await stat(path.join(work, '.onionbalance/shop.key'))).mode & 0o777).toBe(0o600);
    const again = await cli('plan', spec, '--detailed-exitcode');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('config.yaml: in sync');
    const status = JSON.parse((await cli('status', spec, '--json')).stdout) as { frontends: Array<{ address: string; backends: Array<{ target: string; address: string; running: boolean }> }> };
    expect(status.frontends[0]!.address).toBe(frontend);
    expect(status.frontends[0]!.backends.map((b) => [b.target, b.address, b.running])).toEqual(front!.backends.map((b) => [b.target, b.address, true]));
  }, 180_000);
});
