/**
 * Issue #17, balanced onion services end to end on the loopback private Tor network:
 * examples/specs/balanced.yaml applied to two backend tors, Onionbalance (Debian's, `--is-testnet`) run on a
 * third tor with the config.yaml tor-reconcile wrote, and the frontend address fetched through a client tor.
 * Then one backend tor is stopped and the frontend must still answer, from the other backend.
 *
 * Figures are printed: apply → frontend answering, backend stopped → answering again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { torFetch } from '../../src/tor/socks/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { startNetwork, type NetNode, type PrivateNetwork } from '../net/network.js';

const root = path.join(import.meta.dirname, '../..');
const hasOnionbalance = spawnSync('sh', ['-c', 'command -v onionbalance'], { encoding: 'utf8' }).status === 0;

let net: PrivateNetwork;
let work: string;
let spec: string;
let server: http.Server;
let onionbalance: ChildProcess | undefined;
let obLog = '';
let backends: Record<string, NetNode>;
let frontendTor: NetNode;
/** HS_DESC events of the client and of Onionbalance's tor, shown when the frontend does not answer. */
const hsDesc: string[] = [];

const cli = (...argv: string[]) => cliInProcess(argv, { NO_COLOR: '1' });
const socketOf = (n: NetNode) => (n.tor.controlAddress as { path: string }).path;

beforeAll(async () => {
  // client1 fetches; client2 and the onion tor are the backends; client3 is Onionbalance's own tor.
  net = await startNetwork({ clients: 3, onionService: true, timeout: 240_000 });
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms (${net.dir})`);
  backends = { 'backend-1': net.clients[1]!, 'backend-2': net.onion! };
  frontendTor = net.clients[2]!;
  for (const [who, node] of [['client', net.client], ['frontend-tor', frontendTor]] as const) {
    await node.client.on('HS_DESC', (e) => hsDesc.push(`${new Date().toISOString()} ${who} ${e.action} ${e.address} ${e.hsDir?.fingerprint ?? ''} ${e.descriptorId ?? ''} ${e.reason ?? ''}`));
  }
  server = http.createServer((_req, res) => res.end('balanced hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-balanced-'));
  spec = path.join(work, 'balanced.yaml');
  // The example as written, but for the web server's port (8080 may be taken on a shared machine).
  const text = await readFile(path.join(root, 'examples/specs/balanced.yaml'), 'utf8');
  expect(text).toContain('127.0.0.1:8080');
  await writeFile(spec, text.replace('127.0.0.1:8080', `127.0.0.1:${port}`));
  // The example's targets are ./.balanced/<name>/control.sock: point them at the network's backends.
  for (const [name, node] of Object.entries(backends)) {
    await mkdir(path.join(work, '.balanced', name), { recursive: true, mode: 0o700 });
    await symlink(socketOf(node), path.join(work, '.balanced', name, 'control.sock'));
  }
}, 300_000);

afterAll(async () => {
  onionbalance?.kill('SIGTERM');
  server?.close();
  await net?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Fetch through the client until it answers or `ms` pass; a failed lookup is cached until NEWNYM. */
async function fetchUntil(url: string, ms: number): Promise<{ body: string; tries: number }> {
  const deadline = Date.now() + ms;
  let tries = 0;
  let last: unknown;
  while (Date.now() < deadline) {
    tries++;
    try {
      const res = await torFetch(url, { socks: net.socks, timeout: Math.min(45_000, Math.max(5_000, deadline - Date.now())) });
      return { body: res.body.toString(), tries };
    } catch (err) {
      last = err;
      await net.client.client.signal('NEWNYM').catch(() => {});
      await new Promise((r) => setTimeout(r, 3_000));
    }
  }
  throw new Error(`${url} did not answer within ${ms / 1000}s (${tries} tries): ${(last as Error)?.message}\nHS_DESC:\n${hsDesc.slice(-60).join('\n')}\nonionbalance:\n${obLog.slice(-6000)}`);
}

describe.skipIf(!hasOnionbalance)('a balanced onion service on the private network', () => {
  let frontend: string;
  let appliedAt: number;

  it('apply: each backend gets its service with ob_config, Onionbalance its config.yaml and key; re-plan is empty', async () => {
    appliedAt = Date.now();
    const applied = await cli('apply', spec, '--json');
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    const json = JSON.parse(applied.stdout) as { frontends: Array<{ address: string; backends: Array<{ target: string; address: string | null }>; applied: boolean }> };
    const [front] = json.frontends;
    expect(front!.applied).toBe(true);
    frontend = front!.address;
    expect(frontend).toMatch(/^[a-z2-7]{56}$/);
    expect(front!.backends.map((b) => b.target)).toEqual(['backend-1', 'backend-2']);
    for (const b of front!.backends) expect(b.address).toMatch(/^[a-z2-7]{56}$/);
    for (const name of Object.keys(backends)) {
      expect(await readFile(path.join(work, '.balanced', name, 'hs/shop/ob_config'), 'utf8')).toBe(`MasterOnionAddress ${frontend}.onion\n`);
    }
    const config = await readFile(path.join(work, '.onionbalance/config.yaml'), 'utf8');
    for (const b of front!.backends) expect(config).toContain(`address: ${b.address}`);
    expect(config).toContain(`key: "${path.join(work, '.onionbalance/shop.key')}"`);
    const again = await cli('plan', spec, '--detailed-exitcode');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('config.yaml: in sync');
  }, 180_000);

  it('the frontend answers through the client once Onionbalance runs with that config', async () => {
    onionbalance = spawn('onionbalance', ['--is-testnet', '-v', 'info', '-s', socketOf(frontendTor), '-c', path.join(work, '.onionbalance/config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    onionbalance.stdout!.on('data', (d) => (obLog += d));
    onionbalance.stderr!.on('data', (d) => (obLog += d));
    const { body, tries } = await fetchUntil(`http://${frontend}.onion/`, 150_000);
    expect(body).toBe('balanced hello');
    console.log(`FIGURE apply -> frontend answering: ${((Date.now() - appliedAt) / 1000).toFixed(1)} s (${tries} tries)`);
    const status = await cli('status', spec, '--json');
    const report = JSON.parse(status.stdout) as { frontends: Array<{ address: string; backends: Array<{ running: boolean; descriptor: boolean | null }> }> };
    expect(report.frontends[0]!.address).toBe(frontend);
    expect(report.frontends[0]!.backends.every((b) => b.running && b.descriptor === true)).toBe(true);
  }, 300_000);

  it('one backend tor stopped: the frontend still answers, from the other', async () => {
    const stoppedAt = Date.now();
    await backends['backend-1']!.tor.stop();
    // A fresh circuit and descriptor fetch: what a new visitor would do.
    await net.client.client.signal('NEWNYM').catch(() => {});
    const { body, tries } = await fetchUntil(`http://${frontend}.onion/`, 240_000);
    expect(body).toBe('balanced hello');
    console.log(`FIGURE backend stopped -> frontend answering: ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s (${tries} tries)`);
    const plan = await cli('plan', spec, '--format', 'json');
    expect(plan.code, 'the stopped backend is a failed target').toBe(1);
    const json = JSON.parse(plan.stdout) as { targets: Array<{ name: string; ok: boolean }> };
    expect(json.targets.map((t) => [t.name, t.ok])).toEqual([
      ['backend-1', false],
      ['backend-2', true],
    ]);
  }, 300_000);
});
