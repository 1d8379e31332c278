/**
 * Issue #17, balanced onion services on the loopback private Tor network: examples/specs/balanced.yaml applied
 * to two backend tors. Each backend runs the service with HiddenServiceOnionBalanceInstance 1 and an ob_config
 * naming the frontend (written before tor loaded the service), Onionbalance's config.yaml lists both backends'
 * addresses with the frontend key beside it, apply starts Debian's Onionbalance on a tor of its own
 * (`onionbalance: { manage: true }`), and a re-plan is empty. Then Onionbalance serves the frontend address to
 * a client, and still does when the backend that answered stops.
 *
 * The network is shaped for Onionbalance 0.2.2's `--is-testnet` (its source, hs_v3/): it computes time periods
 * (blinded keys) for a 20 s voting interval, so the authorities vote every 20 s. Its hash ring
 * (hashring.get_responsible_hsdirs) loops forever with fewer than 5 HSDirs: the second replica finds only HSDirs
 * the first took and never stops looking. Only authorities are HSDirs here, and Onionbalance sometimes leaves one
 * out of its ring ("Could not find microdesc for rs" while its tor had that microdescriptor; cause not found):
 * with 5 authorities its ring had 4 once and it hung. So 7 authorities, and no middle relay: the authorities are
 * the middles. Details and figures: docs/fleet.md, "Status of the end-to-end test".
 */
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TorClient } from '../../src/tor/client.js';
import type { HsDescEvent } from '../../src/tor/events.js';
import { torFetch } from '../../src/tor/socks/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { startNetwork, type NetNode, type PrivateNetwork } from '../net/network.js';
import { startWhoHttpTarget, type Target } from '../net/targets.js';

const root = path.join(import.meta.dirname, '../..');

let net: PrivateNetwork;
let work: string;
let spec: string;
let backends: Record<string, NetNode>;
/** The frontend tor: Onionbalance's own, hosting no onion service. */
let frontendTor: NetNode;
let web: Target;
/** The frontend tor's descriptor uploads, watched from before apply starts Onionbalance. */
let uploads: Awaited<ReturnType<typeof watchUploads>> | undefined;
/** Set by the apply test, read by the serving test. */
let frontend: string | undefined;
let appliedAt = 0;

const cli = (...argv: string[]) => cliInProcess(argv, { NO_COLOR: '1' });

beforeAll(async () => {
  // client2 and the onion tor are the backends, client3 the frontend tor (client1 stays the network's client).
  net = await startNetwork({ authorities: 7, relays: 0, clients: 3, onionService: true, votingInterval: 20, timeout: 240_000 });
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms (${net.dir})`);
  backends = { 'backend-1': net.clients[1]!, 'backend-2': net.onion! };
  frontendTor = net.clients[2]!;
  web = await startWhoHttpTarget(new Map(Object.entries(backends).map(([name, node]) => [node.tor.pid, name])));
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-balanced-'));
  spec = path.join(work, 'balanced.yaml');
  // The example's backends forward to 127.0.0.1:8080; here to the test's server on a free port.
  const example = await readFile(path.join(root, 'examples/specs/balanced.yaml'), 'utf8');
  expect(example).toContain('target: 127.0.0.1:8080');
  // Onionbalance's time periods match a test network's only with --is-testnet.
  expect(example).toContain('      manage: true\n');
  await writeFile(
    spec,
    example.replace('target: 127.0.0.1:8080', `target: 127.0.0.1:${web.port}`).replace('      manage: true\n', '      manage: true\n      isTestnet: true\n'),
  );
  // The example's control sockets are ./.balanced/<name>/control.sock: point them at the network's tors.
  for (const [name, node] of [...Object.entries(backends), ['frontend', frontendTor] as const]) {
    await mkdir(path.join(work, '.balanced', name), { recursive: true, mode: 0o700 });
    await symlink((node.tor.controlAddress as { path: string }).path, path.join(work, '.balanced', name, 'control.sock'));
  }
}, 300_000);

afterAll(async () => {
  await uploads?.stop();
  await stopManagedOnionbalance();
  await web?.close();
  await net?.stop();
  // TOR_NET_KEEP=1 keeps the network's data directories (test/net/network.ts), and then Onionbalance's log too.
  if (work && process.env.TOR_NET_KEEP !== '1') await rm(work, { recursive: true, force: true });
});

describe('a balanced onion service on the private network', () => {
  it('apply: each backend gets its service with ob_config, Onionbalance its config.yaml and key; re-plan is empty', async () => {
    const planned = await cli('plan', spec, '--detailed-exitcode');
    expect(planned.code, planned.stderr + planned.stdout).toBe(2);
    expect(planned.stdout).toMatch(/=== Onionbalance frontend shop: [a-z2-7]{56}\.onion \(new key, kept on apply\) ===/);
    uploads = await watchUploads(frontendTor.client);
    const applied = await cli('apply', spec, '--json');
    appliedAt = Date.now();
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    const json = JSON.parse(applied.stdout) as { frontends: Array<{ address: string; backends: Array<{ target: string; address: string | null }>; applied: boolean }> };
    const [front] = json.frontends;
    expect(front!.applied).toBe(true);
    frontend = front!.address;
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
    const record = JSON.parse(await readFile(path.join(work, '.onionbalance/onionbalance.pid'), 'utf8')) as { pid: number; argv: string[] };
    expect(record.argv).toContain('--is-testnet');
    expect(again.stdout).toContain(`config.yaml: in sync; onionbalance running (pid ${record.pid}), config.yaml loaded`);
    const status = JSON.parse((await cli('status', spec, '--json')).stdout) as { frontends: Array<{ address: string; backends: Array<{ target: string; address: string; running: boolean }> }> };
    expect(status.frontends[0]!.address).toBe(frontend);
    expect(status.frontends[0]!.backends.map((b) => [b.target, b.address, b.running])).toEqual(front!.backends.map((b) => [b.target, b.address, true]));
  }, 180_000);

  it('Onionbalance serves the frontend through the client, and still does from the other backend when the one that answered stops', async () => {
    expect(frontend, 'the apply test ran first').toBeDefined();
    const logPath = path.join(work, '.onionbalance/onionbalance.log');
    try {
      await uploads!.settled(150_000);
      const published = Date.now();
      const { name: first, failures } = await answer(frontend!, published + 120_000);
      const answered = Date.now();
      expect(Object.keys(backends)).toContain(first);
      console.log(
        `Onionbalance: apply → frontend answers ${answered - appliedAt} ms (→ descriptors uploaded ${published - appliedAt} ms; ` +
          `answer from ${first}; failed tries: ${failures.join('; ') || 'none'})`,
      );

      await backends[first]!.tor.stop();
      const stopped = Date.now();
      const other = Object.keys(backends).find((name) => name !== first)!;
      const after = await answer(frontend!, stopped + 120_000);
      expect(after.name).toBe(other);
      console.log(`Onionbalance: ${first} stopped → the frontend answers from ${other} after ${Date.now() - stopped} ms (failed tries: ${after.failures.join('; ') || 'none'})`);
    } catch (err) {
      console.log(`Onionbalance's log (${logPath}):\n${await readFile(logPath, 'utf8').catch((e: Error) => e.message)}`);
      throw err;
    }
  }, 420_000);
});

/**
 * The frontend tor's descriptor uploads (HSPOST by Onionbalance; it hosts no service of its own). `settled`
 * resolves once one has been accepted and none is in flight: a client asks one responsible HSDir at random and
 * keeps a "not found" until NEWNYM. Subscribed before Onionbalance starts so that no event is missed.
 */
async function watchUploads(client: TorClient): Promise<{ settled(timeout: number): Promise<void>; stop(): Promise<void> }> {
  const pending = new Map<string, number>();
  let accepted = 0;
  let wake = () => {};
  const off = await client.on('HS_DESC', (e: HsDescEvent) => {
    const dir = e.hsDir?.fingerprint;
    if (!dir) return;
    if (e.action === 'UPLOAD') pending.set(dir, (pending.get(dir) ?? 0) + 1);
    else if (e.action === 'UPLOADED' || (e.action === 'FAILED' && pending.has(dir))) {
      pending.set(dir, (pending.get(dir) ?? 0) - 1);
      if (e.action === 'UPLOADED') accepted++;
    } else return;
    wake();
  });
  return {
    settled: (timeout) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frontend descriptor accepted by every HSDir within ${timeout} ms`)), timeout);
        wake = () => {
          if (accepted === 0 || [...pending.values()].some((n) => n > 0)) return;
          clearTimeout(timer);
          resolve();
        };
        wake();
      }),
    stop: off,
  };
}

/**
 * GET http://<address>.onion/ through the network's client until it answers (the name of the backend tor that
 * carried it, and the failed tries before, for the log) or `deadline` passes. A try gives up after 20 s: with a
 * backend stopped, tor can get an INTRODUCE_ACK and then wait for a rendezvous that never comes (seen for 60 s).
 * After a failure the client is sent NEWNYM: it forgets the descriptor, its failed lookups and the intro points
 * it tried (tor delays a NEWNYM that follows another within 10 s, so the next try waits 2 s rather than failing
 * again at once on what the client still remembers).
 */
async function answer(address: string, deadline: number): Promise<{ name: string; failures: string[] }> {
  const failures: string[] = [];
  const t0 = Date.now();
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${address}.onion did not answer in time: ${failures.join('; ')}`);
    try {
      const res = await torFetch(`http://${address}.onion/`, { socks: net.socks, timeout: Math.min(left, 20_000) });
      return { name: res.body.toString(), failures };
    } catch (err) {
      failures.push(`after ${Date.now() - t0} ms: ${(err as Error).message}`);
      await net.client.client.signal('NEWNYM');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

/** SIGTERM to the Onionbalance that apply started (its pid file), so that it does not outlive the test. */
async function stopManagedOnionbalance(): Promise<void> {
  if (!work) return;
  const pidFile = path.join(work, '.onionbalance/onionbalance.pid');
  const record = await readFile(pidFile, 'utf8').then((t) => JSON.parse(t) as { pid: number }, () => undefined);
  if (!record) return;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(record.pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.kill(record.pid, 'SIGKILL');
}
