/**
 * Stream-attach policies on a private network whose exits the GeoIP file maps to distinct countries: the
 * exit that carried a stream is read from our own TorState (STREAM SUCCEEDED → circuit → last hop).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { tableFor } from '../../src/reconcile/reconcile.js';
import { Watcher } from '../../src/reconcile/watch.js';
import { loadSpec } from '../../src/spec/index.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { torFetch } from '../../src/tor/socks/index.js';
import { TorState, type Stream } from '../../src/tor/state/index.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';
import { startHttpTarget, type Target } from '../net/targets.js';

const root = path.join(import.meta.dirname, '../..');
const HOSTS = Object.fromEntries(['www.bank.test', 'api.test', 'a.iso.test', 'b.iso.test', 'blocked.test', 'other.test', 'late.test'].map((h) => [h, ['127.0.0.1']]));

let net: PrivateNetwork;
let web: Target;
let observer: TorState;
let work: string;
let control: string;
const watchers: Watcher[] = [];

beforeAll(async () => {
  net = await startNetwork({ hosts: HOSTS });
  web = await startHttpTarget();
  observer = await TorState.create(net.client.client, { microdescriptors: false });
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-attach-'));
  control = formatControlAddress(net.client.tor.controlAddress);
});
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
});
afterAll(async () => {
  await observer?.close();
  await web?.close();
  await net?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const nodeOf = (fp: string | undefined) => net.nodes.find((n) => n.fingerprint === fp);

/** Fetch through the client's SOCKS port and report the stream's circuit and the exit's country. */
async function fetchThrough(host: string, isolation?: string) {
  let stream: Stream | undefined;
  // After tor resolves the name, STREAM events show the address: recognise the stream by its NEW event.
  const ours = new Set<string>();
  const off = observer.on('stream', (s, e) => {
    if (e.status === 'NEW' && e.target.host === host) ours.add(s.id);
    if (e.status === 'SUCCEEDED' && ours.has(s.id)) stream = s;
  });
  try {
    const res = await torFetch(`http://${host}:${web.port}/${host}`, { socks: net.socks, timeout: 30_000, ...(isolation ? { isolation } : {}) });
    expect(res.text()).toBe(`hello /${host}`);
    await expect.poll(() => stream).toBeDefined();
    const circuit = observer.circuit(stream!.circuitId)!;
    const exit = nodeOf(circuit.path.at(-1)?.fingerprint);
    return { circuit: circuit.id, path: circuit.path.map((h) => h.fingerprint), exitCountry: exit?.country };
  } finally {
    off();
  }
}

async function watch(name: string, attach: string): Promise<Watcher> {
  const spec = path.join(work, `${name}.yaml`);
  await writeFile(spec, `version: 1\nstateDirectory: ./${name}-state\nattach:\n${attach}`);
  const w = new Watcher({
    specFiles: [spec],
    control,
    debounceMs: 20,
    table: tableFor,
    log: (e) => (process.env.ATTACH_DEBUG ? console.log(JSON.stringify(e)) : undefined),
    load: async (table) => (await loadSpec([spec], table ? { table } : {})).state,
  });
  watchers.push(w);
  await w.start();
  expect(w.attachEngine).toBeDefined();
  return w;
}

describe('attach policies enforced by watch', () => {
  it('routes matched streams through an exit in the policy country, pins paths, isolates per host', async () => {
    const [exitUs, exitDe] = [net.exits.find((e) => e.country === 'us')!, net.exits.find((e) => e.country === 'de')!];
    const middle = net.relays[0]!;
    const w = await watch(
      'policies',
      [
        '  policies:',
        '    - name: bank-via-de',
        '      match: { host: "*.bank.test" }',
        '      circuit: { exitCountry: [de] }',
        '    - name: pinned',
        '      match: { host: api.test }',
        `      circuit: { path: ["*", "$${middle.fingerprint}", "$${exitUs.fingerprint}"] }`,
        '    - name: isolated',
        '      match: { host: "*.iso.test" }',
        '      circuit: { isolate: per-host }',
        '  default: tor',
        '',
      ].join('\n'),
    );
    for (let i = 0; i < 3; i++) expect((await fetchThrough('www.bank.test')).exitCountry).toBe('de');
    const pinned = await fetchThrough('api.test');
    expect(pinned.path.slice(1)).toEqual([middle.fingerprint, exitUs.fingerprint]);
    const a1 = await fetchThrough('a.iso.test');
    const b = await fetchThrough('b.iso.test');
    const a2 = await fetchThrough('a.iso.test');
    expect(a1.circuit).toBe(a2.circuit);
    expect(b.circuit).not.toBe(a1.circuit);
    expect(exitDe.country).toBe('de');
    const stats = w.attachEngine!.stats;
    expect(stats.circuitsBuilt).toBeGreaterThanOrEqual(4);
    console.log(`attach decisions: ${stats.attached} attached, p50 ${[...stats.latencies].sort((x, y) => x - y)[Math.floor(stats.latencies.length / 2)]?.toFixed(1)} ms`);
  });

  it('closes streams a policy or the default rejects, with a reason', async () => {
    await watch('reject', ['  policies:', '    - { name: no-blocked, match: { host: blocked.test }, action: reject }', '  default: reject', ''].join('\n'));
    await expect(torFetch(`http://blocked.test:${web.port}/`, { socks: net.socks, timeout: 20_000 })).rejects.toThrow();
    await expect(torFetch(`http://other.test:${web.port}/`, { socks: net.socks, timeout: 20_000 })).rejects.toThrow();
  });

  it('resets __LeaveStreamsUnattached on a clean stop', async () => {
    const w = await watch('reset', ['  policies:', '    - { name: p, match: { host: other.test }, circuit: { exitCountry: [us] } }', ''].join('\n'));
    expect((await net.client.client.getConf(['__LeaveStreamsUnattached'])).get('__LeaveStreamsUnattached')).toEqual(['1']);
    await w.stop();
    watchers.splice(watchers.indexOf(w), 1);
    expect((await net.client.client.getConf(['__LeaveStreamsUnattached'])).get('__LeaveStreamsUnattached')).toEqual(['0']);
    expect((await fetchThrough('other.test')).exitCountry).toBeDefined();
  });

  it('a killed watcher leaves streams waiting, and a restarted one attaches them', async () => {
    const spec = path.join(work, 'killed.yaml');
    await writeFile(spec, `version: 1\nstateDirectory: ./killed-state\nattach:\n  policies:\n    - { name: late, match: { host: late.test }, circuit: { exitCountry: [us] } }\n`);
    const child = spawn('node', [path.join(root, 'dist/cli/main.cjs'), 'watch', spec, '--control', control], { stdio: 'ignore' });
    await expect.poll(async () => (await net.client.client.getConf(['__LeaveStreamsUnattached'])).get('__LeaveStreamsUnattached'), { timeout: 20_000 }).toEqual(['1']);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Nobody attaches now: the stream waits (it does not fail, and tor does not attach it itself).
    const pending = fetchThrough('late.test');
    await new Promise((r) => setTimeout(r, 1500));
    try {
      const waiting = [...observer.streams.values()].filter((s) => s.isOpen && s.circuitId === '0');
      expect(waiting.map((s) => s.status)).toContain('CONTROLLER_WAIT');
      await watch('killed-restart', ['  policies:', '    - { name: late, match: { host: late.test }, circuit: { exitCountry: [us] } }', ''].join('\n'));
      expect((await pending).exitCountry).toBe('us');
    } finally {
      pending.catch(() => {});
      if (!watchers.length) await net.client.client.resetConf(['__LeaveStreamsUnattached']);
    }
  });
});

describe('attach policies compiled natively', () => {
  it('one exit country for every stream is applied with apply alone (ExitNodes + StrictNodes)', async () => {
    const spec = path.join(work, 'native.yaml');
    await writeFile(spec, 'version: 1\nstateDirectory: ./native-state\nattach:\n  policies:\n    - { name: all-via-us, circuit: { exitCountry: [us] } }\n');
    let out = '';
    const code = await run(['apply', spec, '--control', control], { stdout: (s) => void (out += s), stderr: (s) => void (out += s), env: {} });
    expect(code, out).toBe(0);
    expect(out).toContain('SETCONF ExitNodes="{us}" StrictNodes="1"');
    expect(out).not.toMatch(/enforced only while/);
    await net.client.client.signal('NEWNYM');
    for (let i = 0; i < 2; i++) expect((await fetchThrough('other.test', `native-${i}`)).exitCountry).toBe('us');
    await net.client.client.resetConf(['ExitNodes', 'StrictNodes']);
  });
});
