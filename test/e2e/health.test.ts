/**
 * Onion-service health end to end: `tor-reconcile watch` on the private network's onion-service tor, its
 * self-check going through the network's client tor, scraped by a real Prometheus (Debian's `prometheus`)
 * that evaluates deploy/prometheus/alerts.yml with every `for:` shortened. A service another controller stops
 * (DEL_ONION) must make OnionServiceUnreachable fire. Also: `promtool check rules` / `promtool test rules` on
 * the shipped rules, `status --watch`, and every metric the Grafana dashboard queries being exported.
 *
 * Figures printed: bootstrap, self-check latency, time from DEL_ONION to the alert firing.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';
import { startHttpTarget, type Target } from '../net/targets.js';

const exec = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rulesDir = path.join(root, 'deploy/prometheus');

let net_: PrivateNetwork;
let web: Target;
let dir: string;
let watch: ChildProcess | undefined;
let prom: ChildProcess | undefined;
let watchLog = '';
let promLog = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- watch:\n${watchLog.slice(-4000)}\n--- prometheus:\n${promLog.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

beforeAll(async () => {
  net_ = await startNetwork({ onionService: true });
  console.log(`private network bootstrapped in ${net_.bootstrapMs} ms`);
  web = await startHttpTarget();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-health-'));
}, 240_000);

afterAll(async () => {
  await stopChild(watch);
  await stopChild(prom);
  await web?.close();
  await net_?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('onion-service health in watch, scraped by Prometheus', () => {
  it('the shipped alert rules pass promtool', async () => {
    const checked = await exec('promtool', ['check', 'rules', path.join(rulesDir, 'alerts.yml')]);
    expect(checked.stdout).toMatch(/SUCCESS: 7 rules found/);
    const tested = await exec('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: rulesDir });
    expect(tested.stdout).toMatch(/SUCCESS/);
  });

  it('exports uploads, intro points and self-checks, and a stopped service fires OnionServiceUnreachable', async () => {
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(
      spec,
      [
        'version: 1',
        `tor: { control: ${formatControlAddress(net_.onion!.tor.controlAddress)} }`,
        'onionServices:',
        `  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:${web.port} }] }`,
        '',
      ].join('\n'),
    );
    const listen = `127.0.0.1:${await freePort()}`;
    // --poll-onions 0 and a long resync: nothing makes this watch notice the DEL_ONION below (tor sends no event
    // for it), so the service stays stopped and only the self-check can tell.
    watch = spawn(
      'node',
      [path.join(root, 'dist/cli/main.cjs'), 'watch', spec, '--listen', listen, '--log-format', 'json', '--poll-onions', '0', '--resync', '1h',
        '--check-interval', '2s', '--check-timeout', '10s', '--check-socks', `${net_.socks.host}:${net_.socks.port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    watch.stderr!.on('data', (d) => (watchLog += d));

    type Health = { checks: string; services: Array<{ service: string; address: string | null; uploads: { uploaded: number }; lastUpload: number | null; introPoints: number | null; check: { ok: boolean; latencyMs?: number; error?: string } | null }> };
    const onions = async () => ((await (await fetch(`http://${listen}/onions`)).json()) as Health).services[0]!;
    const first = await until('a successful self-check', async () => ((await onions()).check?.ok ? onions() : undefined), 90_000);
    expect(first.address).toMatch(/^[a-z2-7]{56}$/);
    const healthy = await until('an accepted upload and an established intro point', async () => {
      const s = await onions();
      return s.uploads.uploaded > 0 && (s.introPoints ?? 0) > 0 ? s : undefined;
    }, 60_000);
    expect(healthy.lastUpload).toBeGreaterThan(0);
    // A few more checks for the latency figure (the first one also fetched the descriptor).
    const latencies: number[] = [];
    await until('five successful self-checks', async () => {
      const c = (await onions()).check;
      if (c?.ok && latencies.at(-1) !== c.latencyMs) latencies.push(c.latencyMs!);
      return latencies.length >= 5 ? true : undefined;
    }, 60_000);
    console.log(`self-check latency (ms): first ${first.check!.latencyMs}, then ${latencies.join(', ')}; uploads accepted: ${healthy.uploads.uploaded}; intro points: ${healthy.introPoints}`);

    const metrics = await (await fetch(`http://${listen}/metrics`)).text();
    expect(metrics).toMatch(/^tor_reconcile_onion_reachable\{service="web",target="unix:[^"]+"\} 1$/m);
    expect(metrics).toMatch(/^tor_reconcile_onion_check_latency_seconds\{service="web",target="[^"]+"\} \d/m);
    expect(metrics).toMatch(/^tor_reconcile_onion_descriptor_uploads_total\{service="web",target="[^"]+",result="uploaded"\} [1-9]/m);
    // Every metric the dashboard and the alerts query is one watch exports (`up` is Prometheus's own).
    const exported = new Set([...metrics.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    const queried = (await readFile(path.join(rulesDir, 'grafana-dashboard.json'), 'utf8')) + (await readFile(path.join(rulesDir, 'alerts.yml'), 'utf8'));
    const names = new Set([...queried.matchAll(/\btor_reconcile_[a-z_]+/g)].map((m) => m[0]));
    expect([...names].filter((n) => !exported.has(n))).toEqual([]);

    // `status --watch` summarizes what watch sees.
    let out = '';
    const code = await run(['status', spec, '--watch', listen], { stdout: (s) => void (out += s), stderr: (s) => void (out += s), env: {} });
    expect(code, out).toBe(0);
    expect(out).toMatch(/descriptor uploads: [1-9]\d* accepted/);
    expect(out).toMatch(/introduction points: [1-9]\d*; self-check: reachable in \d+ ms/);

    // Prometheus with the shipped rules, every `for:` at 3 s, scraping and evaluating every second.
    const rules = (await readFile(path.join(rulesDir, 'alerts.yml'), 'utf8')).replace(/^(\s+for:) \S+$/gm, '$1 3s');
    await writeFile(path.join(dir, 'alerts.yml'), rules);
    const promAddress = `127.0.0.1:${await freePort()}`;
    await writeFile(
      path.join(dir, 'prometheus.yml'),
      ['global: { scrape_interval: 1s, evaluation_interval: 1s }', 'rule_files: [alerts.yml]', 'scrape_configs:', '  - job_name: tor-reconcile', `    static_configs: [{ targets: ["${listen}"] }]`, ''].join('\n'),
    );
    prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=${promAddress}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    prom.stderr!.on('data', (d) => (promLog += d));
    const query = async (q: string) => ((await (await fetch(`http://${promAddress}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result;
    const alerts = async () => ((await (await fetch(`http://${promAddress}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } }).data.alerts;
    await until('Prometheus to scrape the service as reachable', async () => ((await query('tor_reconcile_onion_reachable{service="web"}'))[0]?.value[1] === '1' ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await alerts()).filter((a) => a.labels.alertname === 'OnionServiceUnreachable')).toEqual([]);
    expect((await alerts()).filter((a) => a.labels.alertname === 'TorReconcileCannotReachTor' || a.labels.alertname === 'TorReconcileDown')).toEqual([]);

    // Another controller stops the service.
    const stopped = Date.now();
    await net_.onion!.client.delOnion(first.address!);
    const firing = await until('OnionServiceUnreachable to fire', async () => (await alerts()).find((a) => a.labels.alertname === 'OnionServiceUnreachable' && a.state === 'firing'), 120_000);
    const alertMs = Date.now() - stopped;
    expect(firing.labels).toMatchObject({ service: 'web', severity: 'critical', job: 'tor-reconcile' });
    expect(firing.labels.target).toMatch(/^unix:/);
    const down = await onions();
    console.log(`DEL_ONION → OnionServiceUnreachable firing: ${alertMs} ms (rules' for: 3s, scrape/eval 1s, check every ~2s); tor's reason: ${down.check?.error}`);
    expect(down.check).toMatchObject({ ok: false });
  }, 400_000);
});
