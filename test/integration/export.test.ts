/**
 * Adoption, on real tors (all with DisableNetwork 1 from their first second): each hand-written torrc in
 * test/fixtures/torrc runs a tor, and its export makes three round trips —
 *   (a) export → validate → plan against the same tor is empty;
 *   (b) the exported spec applied to a fresh tor (another DataDirectory and control socket) converges, and
 *       GETCONF of every declared option then equals the source tor's;
 *   (c) `export --torrc` of the tor's own torrc (which %includes the fixture) is the live export.
 * A failure names the options that differ.
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatControlAddress, parseControlAddress } from '../../src/tor/address.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { sameValue } from '../../src/tor/config/normalize.js';
import { OptionTable } from '../../src/tor/config/types.js';
import { launch, type LaunchedTor } from '../../src/tor/launch.js';
import { instanceReason } from '../../src/reconcile/export-instance.js';
import { generateServiceKey } from '../../src/tor/onion/index.js';
import { cliInProcess as cli } from '../helpers/cli.js';
import { assertOfflineSpec, offlineLaunch } from '../helpers/offline.mjs';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const root = path.join(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/torrc');
const table = OptionTable.bundled();
const ALICE = 'descriptor:x25519:oz5wp5k4k5jp64uvcatjuthossduz5xirdqmv57e4vmj36iasq2q';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-export-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fixture with @WORK@/@FIXTURES@ filled in, written under `dir`. */
async function fixture(name: string, dir: string): Promise<string> {
  const text = (await readFile(path.join(fixtures, name), 'utf8')).replaceAll('@WORK@', dir).replaceAll('@FIXTURES@', fixtures);
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** A tor running `torrc` (its generated torrc %includes it), offline. */
async function torWith(torrc: string, dir: string): Promise<LaunchedTor> {
  return launch(offlineLaunch({ dataDirectory: path.join(dir, 'data'), options: { '%include': torrc, DisableNetwork: 1 } }));
}

/** Option names whose GETCONF differs between the two tors (plus the onion service block). */
async function differingOptions(a: { client: TorClient }, b: { client: TorClient }, names: string[]): Promise<string[]> {
  const [ca, cb] = await Promise.all([a.client.getConf(names), b.client.getConf(names)]);
  const out = names.filter((n) => !sameValue(table.get(n)!, ca.get(table.canonical(n)!) ?? [], cb.get(table.canonical(n)!) ?? []));
  const [ha, hb] = await Promise.all([a.client.getConfEntries(['HiddenServiceOptions']), b.client.getConfEntries(['HiddenServiceOptions'])]);
  if (JSON.stringify(ha) !== JSON.stringify(hb)) out.push(`HiddenServiceOptions: ${JSON.stringify(ha)} vs ${JSON.stringify(hb)}`);
  return out;
}

/** Top-level keys and option names where two parsed specs differ. */
function specDifferences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  const oa = (a.options ?? {}) as Record<string, unknown>;
  const ob = (b.options ?? {}) as Record<string, unknown>;
  for (const k of new Set([...Object.keys(oa), ...Object.keys(ob)])) {
    if (JSON.stringify(oa[k]) !== JSON.stringify(ob[k])) out.push(`options.${k}: ${JSON.stringify(oa[k])} vs ${JSON.stringify(ob[k])}`);
  }
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k !== 'options' && JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(`${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
  }
  return out;
}

const CASES: Array<{ torrc: string; expect: Record<string, unknown>; services?: number }> = [
  {
    torrc: 'relay.torrc',
    expect: { ORPort: 9001, ExitRelay: false, RelayBandwidthRate: '2 MB', AccountingMax: '500 GB', NumCPUs: 2, ExitPolicy: 'reject *:*', DirCache: undefined },
  },
  { torrc: 'bridge.torrc', expect: { BridgeRelay: true, ORPort: 9002, PublishServerDescriptor: [0], AssumeReachable: true, BridgeDistribution: 'none' } },
  {
    torrc: 'hardened-client.torrc',
    expect: {
      StrictNodes: true,
      MaxCircuitDirtiness: '5 minutes',
      KeepalivePeriod: '10 minutes',
      NumEntryGuards: 2,
      MaxMemInQueues: '512 MB',
      PathsNeededToBuildCircuits: 0.6,
      ExcludeNodes: ['{cn}', '{ru}', '{ir}'],
      ExcludeExitNodes: ['{by}'],
      SocksPort: ['127.0.0.1:9150 IsolateDestAddr IsolateDestPort', '127.0.0.1:9152 IsolateClientProtocol'],
      // Equal to tor's defaults, so left out.
      NewCircuitPeriod: undefined,
      WarnUnsafeSocks: undefined,
      ClientRejectInternalAddresses: undefined,
    },
  },
  { torrc: 'onion-host.torrc', expect: {}, services: 2 },
];

describe.each(CASES)('$torrc: export, three round trips', ({ torrc, expect: expected, services }) => {
  let dir: string;
  let source: LaunchedTor;
  let control: string;
  let exported: string;
  let spec: Record<string, unknown>;

  beforeAll(async () => {
    dir = path.join(work, torrc.replace(/\.torrc$/, ''));
    await mkdir(path.join(dir, 'hs/web/authorized_clients'), { recursive: true, mode: 0o700 });
    await writeFile(path.join(dir, 'hs/web/authorized_clients/alice.auth'), `${ALICE}\n`);
    source = await torWith(await fixture(torrc, dir), dir);
    control = formatControlAddress(source.controlAddress);
    exported = path.join(dir, 'exported.yaml');
    const r = await cli(['export', '--control', control, '-o', exported]);
    expect(r.code, r.stderr).toBe(0);
    spec = parse(await readFile(exported, 'utf8'));
  }, 120_000);
  afterAll(async () => {
    await source?.stop().catch(() => {});
  });

  it('is typed, idiomatic and free of instance plumbing', () => {
    const options = spec.options as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected)) expect(options[k], k).toEqual(v);
    expect(Object.keys(options).filter((k) => instanceReason(k))).toEqual([]);
    expect(spec.tor).toEqual({ control });
    expect((spec.onionServices as unknown[] | undefined)?.length).toBe(services);
    if (services) {
      expect(spec.onionServices).toEqual([
        {
          name: 'web',
          type: 'filesystem',
          directory: path.join(dir, 'hs/web'),
          ports: [
            { port: 80, target: `unix:${dir}/run/web.sock` },
            { port: 443, target: `unix:${dir}/run/web-tls.sock` },
          ],
          options: { HiddenServiceMaxStreams: 100, HiddenServiceMaxStreamsCloseCircuit: true, HiddenServiceNumIntroductionPoints: 5 },
          authorizedClients: [{ name: 'alice', publicKey: ALICE.slice('descriptor:x25519:'.length) }],
        },
        {
          name: 'ssh',
          type: 'filesystem',
          directory: path.join(dir, 'hs/ssh'),
          ports: [{ port: 22, target: `unix:${dir}/run/ssh.sock` }],
          options: { HiddenServiceEnableIntroDoSDefense: true, HiddenServiceEnableIntroDoSRatePerSec: 25, HiddenServiceEnableIntroDoSBurstPerSec: 200 },
        },
      ]);
    }
  });

  it('(a) validate, then plan against the same tor is empty', async () => {
    const v = await cli(['validate', exported]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const p = await cli(['plan', exported, '--detailed-exitcode']);
    expect(p.code, p.stdout + p.stderr).toBe(0);
  }, 60_000);

  it('--all: every option tor holds, typed, validates and plans empty too', async () => {
    const all = path.join(dir, 'all.yaml');
    expect((await cli(['export', '--control', control, '--all', '-o', all])).code).toBe(0);
    const options = parse(await readFile(all, 'utf8')).options;
    expect(Object.keys(options).length).toBeGreaterThan(250);
    // Unset secrets are null (tor's default), never a reference to a variable nobody sets.
    expect(options.Socks5ProxyPassword).toBeNull();
    const v = await cli(['validate', all]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const p = await cli(['plan', all, '--detailed-exitcode']);
    expect(p.code, p.stdout + p.stderr).toBe(0);
  }, 60_000);

  it('(b) applied to a fresh tor, it converges to the same options', async () => {
    const fresh = await startTestTor();
    try {
      const freshControl = formatControlAddress(fresh.controlAddress);
      const applied = await cli(['apply', exported, '--control', freshControl]);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const again = await cli(['plan', exported, '--control', freshControl, '--detailed-exitcode']);
      expect(again.code, again.stdout).toBe(0);
      expect(await differingOptions(source, fresh, Object.keys(spec.options as object))).toEqual([]);
    } finally {
      await fresh.cleanup();
    }
  }, 120_000);

  it('(c) --torrc import of the same files gives the same spec', async () => {
    const r = await cli(['export', '--torrc', source.torrcPath, '--defaults-torrc', path.join(source.dataDirectory, 'torrc-defaults')]);
    expect(r.code, r.stderr).toBe(0);
    expect(specDifferences(spec, parse(r.stdout))).toEqual([]);
  }, 60_000);
});

describe('export --torrc of a whole /etc/tor/torrc, offline', () => {
  it('puts the host plumbing in the instance block, names tor.control, and creates nothing', async () => {
    const file = await fixture('relay-full.torrc', work);
    const r = await cli(['export', '--torrc', file, '--comments']);
    expect(r.code, r.stderr).toBe(0);
    const spec = parse(r.stdout);
    expect(spec.tor).toEqual({ control: 'tcp:127.0.0.1:9051' });
    expect(Object.keys(spec.options).filter((k) => instanceReason(k))).toEqual([]);
    expect(spec.options.Nickname).toBe('ExampleRelay');
    // The instance block is commented YAML that parses back to the left-out options.
    const block = r.stdout.split('\n').filter((l) => l.startsWith('#   ')).map((l) => l.slice(4)).join('\n');
    expect(parse(block).options).toMatchObject({ DataDirectory: '/var/lib/tor-example-relay', User: 'debian-tor', RunAsDaemon: true, ControlPort: '127.0.0.1:9051' });
    // tor(1)'s meaning above each option.
    expect(r.stdout).toMatch(/# Set the server's nickname to 'name'\.\n {2}Nickname: ExampleRelay/);
    // tor only parsed the files: the relay's DataDirectory was never created.
    await expect(stat('/var/lib/tor-example-relay')).rejects.toThrow(/ENOENT/);
  });

  it('an empty torrc exports nothing: only what differs from tor\'s compiled-in defaults is exported', async () => {
    const empty = path.join(work, 'empty.torrc');
    await writeFile(empty, '');
    const r = await cli(['export', '--torrc', empty, '--defaults-torrc', empty, '--include-instance']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(r.stdout)).toEqual({ version: 1, options: {} });
    expect(r.stdout).toContain('# The torrc opens no control listener this spec could name: give --control ADDRESS when you use it.');
  });

  it('secret options are references, never their values', async () => {
    const file = path.join(work, 'proxy.torrc');
    const hash = `16:${'A1'.repeat(29)}`;
    await writeFile(file, `Socks5Proxy 127.0.0.1:1080\nSocks5ProxyUsername alice\nSocks5ProxyPassword s3cret-socks-pw\nHashedControlPassword ${hash}\n`);
    const r = await cli(['export', '--torrc', file, '--include-instance', '--comments']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(r.stdout).options).toEqual({
      Socks5Proxy: '127.0.0.1:1080',
      Socks5ProxyUsername: 'alice',
      Socks5ProxyPassword: '${env:TOR_SOCKS5_PROXY_PASSWORD}',
      HashedControlPassword: '${env:TOR_HASHED_CONTROL_PASSWORD}',
    });
    expect(r.stdout + r.stderr).not.toContain('s3cret-socks-pw');
    expect(r.stdout + r.stderr).not.toContain(hash);
  });

  it('--include-instance puts them into options:', async () => {
    const r = await cli(['export', '--torrc', path.join(work, 'relay-full.torrc'), '--include-instance']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(r.stdout).options).toMatchObject({ DataDirectory: '/var/lib/tor-example-relay', PidFile: '/run/tor/example-relay.pid' });
  });

  it("tor's own complaint when it refuses the file, and a clear word when tor is missing", async () => {
    const bad = path.join(work, 'bad.torrc');
    await writeFile(bad, 'NumEntryGuards many\n');
    const r = await cli(['export', '--torrc', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tor refuses .*bad\.torrc[\s\S]*NumEntryGuards/);
    const missing = await cli(['export', '--torrc', bad, '--tor-binary', path.join(work, 'no-such-tor')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/tor is not installed/);
  });
});

describe("README's before → after", () => {
  it('is what export --torrc --comments prints for that torrc', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Adopting an existing tor'));
    const before = /```torrc\n([\s\S]*?)```/.exec(section)![1]!;
    const after = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const file = path.join(work, 'torrc');
    await writeFile(file, before);
    const r = await cli(['export', '--torrc', file, '--comments']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.replace(`from ${file} (`, 'from torrc (')).toBe(after);
  });
});

describe.each(['filesystem-client-auth.yaml', 'ephemeral.yaml', 'hardened-client.yaml'])('example %s, on its own tor: three round trips', (name) => {
  let dir: string;
  let source: TestTor;
  let control: string;
  beforeAll(async () => {
    dir = path.join(work, `example-${name.replace(/\.yaml$/, '')}`);
    await cp(path.join(root, 'examples/specs'), dir, { recursive: true });
    source = await startTestTor();
    control = formatControlAddress(source.controlAddress);
    const r = await cli(['apply', path.join(dir, name), '--control', control]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await source?.cleanup();
  });

  it('(a) plans empty, (b) converges on a fresh tor (options, services, credentials), (c) matches the import of the torrc tor saves', async () => {
    const exported = path.join(dir, 'exported.yaml');
    const r0 = await cli(['export', '--control', control, '--state-dir', path.join(dir, '.tor-reconcile'), '-o', exported]);
    expect(r0.code, r0.stderr).toBe(0);
    const spec = parse(await readFile(exported, 'utf8'));
    // Everything the example declared came back: no note of anything left behind.
    expect(await readFile(exported, 'utf8')).not.toMatch(/not exported/);
    expect((await cli(['validate', exported])).code).toBe(0);
    const plan = await cli(['plan', exported, '--detailed-exitcode']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    const fresh = await startTestTor();
    try {
      const applied = await cli(['apply', exported, '--control', formatControlAddress(fresh.controlAddress)]);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(await differingOptions(source, fresh, Object.keys(spec.options))).toEqual([]);
      expect((await fresh.client.getInfo('onions/detached')).split('\n').sort()).toEqual((await source.client.getInfo('onions/detached')).split('\n').sort());
      const view = (t: TestTor) => t.client.onionClientAuthView().then((v) => v.map((e) => `${e.address} ${e.clientName} ${e.privateKey.reveal()}`));
      expect(await view(fresh)).toEqual(await view(source));
    } finally {
      await fresh.cleanup();
    }

    // tor 0.4.9.11 refuses SAVECONF (551) while nothing was SETCONF'd since it started (ephemeral.yaml only
    // adds services): its torrc is then already what it runs.
    const saved = await source.client.saveConf().then(
      () => true,
      () => false,
    );
    expect(saved || name === 'ephemeral.yaml').toBe(true);
    const r = await cli(['export', '--torrc', source.torrcPath, '--defaults-torrc', path.join(source.dataDirectory, 'torrc-defaults')]);
    expect(r.code, r.stderr).toBe(0);
    const { clientAuth: _c, stateDirectory: _s, ...live } = { ...spec, onionServices: spec.onionServices?.filter((s: { type: string }) => s.type === 'filesystem') };
    if (!live.onionServices?.length) delete live.onionServices;
    expect(specDifferences(live, parse(r.stdout))).toEqual([]);
  }, 180_000);
});

describe('the examples together on one tor: export round trips', () => {
  let source: TestTor;
  let control: string;
  beforeAll(async () => {
    await cp(path.join(root, 'examples/specs'), path.join(work, 'specs'), { recursive: true });
    source = await startTestTor();
    control = formatControlAddress(source.controlAddress);
    for (const name of ['filesystem-client-auth.yaml', 'ephemeral.yaml', 'hardened-client.yaml']) {
      const r = await cli(['apply', path.join(work, 'specs', name), '--control', control]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  }, 120_000);
  afterAll(async () => {
    await source?.cleanup();
  });

  it('(a) plans empty, (b) converges on a fresh tor, (c) matches the import of the torrc tor saves', async () => {
    const exported = path.join(work, 'examples-exported.yaml');
    const stateDir = path.join(work, 'specs/.tor-reconcile');
    const r0 = await cli(['export', '--control', control, '--state-dir', stateDir, '-o', exported]);
    expect(r0.code, r0.stderr).toBe(0);
    const text = await readFile(exported, 'utf8');
    const spec = parse(text);
    expect(spec.options).toMatchObject({ MaxCircuitDirtiness: '5 minutes', SafeSocks: true, SocksPort: '127.0.0.1:9050 IsolateDestAddr IsolateDestPort' });
    // Ephemeral services come back from the records of the spec that added them, keys by reference only.
    expect(spec.stateDirectory).toBe('./specs/.tor-reconcile');
    const ephemeral = spec.onionServices.filter((s: { type: string }) => s.type === 'ephemeral');
    expect(ephemeral.map((s: { name: string }) => s.name).sort()).toEqual(['admin', 'api']);
    expect(ephemeral.find((s: { name: string }) => s.name === 'api')).toEqual({
      name: 'api',
      type: 'ephemeral',
      key: { file: './specs/.tor-reconcile/keys/api.key' },
      ports: [
        { port: 80, target: '127.0.0.1:9000' },
        { port: 8443, target: '[::1]:9443' },
      ],
      maxStreams: 10,
      maxStreamsCloseCircuit: true,
    });
    // Client auth: a ${file:} reference to a 0600 file holding tor's credential.
    expect(spec.clientAuth).toEqual([{ privateKey: '${file:./secrets/demo.auth_private}', name: 'demo', permanent: false }]);
    expect((await stat(path.join(work, 'secrets/demo.auth_private'))).mode & 0o777).toBe(0o600);
    expect((await readFile(path.join(work, 'secrets/demo.auth_private'), 'utf8')).trim()).toBe((await readFile(path.join(work, 'specs/secrets/demo-client.auth_private'), 'utf8')).trim());
    expect(text).not.toContain((await readFile(path.join(work, 'specs/secrets/demo-client.auth_private'), 'utf8')).trim().split(':').at(-1));
    expect(text).not.toMatch(/ED25519-V3:/);

    expect((await cli(['validate', exported])).code).toBe(0);
    const plan = await cli(['plan', exported, '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);

    const fresh = await startTestTor();
    try {
      const applied = await cli(['apply', exported, '--control', formatControlAddress(fresh.controlAddress)]);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(await differingOptions(source, fresh, Object.keys(spec.options))).toEqual([]);
      expect((await fresh.client.getInfo('onions/detached')).split('\n').sort()).toEqual((await source.client.getInfo('onions/detached')).split('\n').sort());
      expect((await fresh.client.onionClientAuthView()).map((e) => [e.address, e.clientName])).toEqual((await source.client.onionClientAuthView()).map((e) => [e.address, e.clientName]));
    } finally {
      await fresh.cleanup();
    }

    // tor writes what it runs to its own torrc; reading that file offline gives the same configuration
    // (ephemeral services and client credentials are not configuration: only a live export has them).
    await source.client.saveConf();
    const r = await cli(['export', '--torrc', source.torrcPath, '--defaults-torrc', path.join(source.dataDirectory, 'torrc-defaults')]);
    expect(r.code, r.stderr).toBe(0);
    const { clientAuth: _c, stateDirectory: _s, ...live } = { ...spec, onionServices: spec.onionServices.filter((s: { type: string }) => s.type === 'filesystem') };
    expect(specDifferences(live, parse(r.stdout))).toEqual([]);
  }, 180_000);

  it('lists the detached services it cannot export, each with its address and why', async () => {
    const orphan = generateServiceKey();
    await writeFile(path.join(work, 'specs/.tor-reconcile/keys/orphan.key'), orphan.toAddOnionBlob().reveal() + '\n', { mode: 0o600 });
    await source.client.addOnion({ key: orphan.toAddOnionBlob(), ports: [{ port: 80 }], flags: ['Detach'] });
    const unknown = await source.client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'] });
    const r = await cli(['export', '--control', control, '--state-dir', path.join(work, 'specs/.tor-reconcile')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`#   ${orphan.address}.onion: its key is ${path.join(work, 'specs/.tor-reconcile/keys/orphan.key')}, but its ports are unknown`);
    expect(r.stdout).toContain(`#   ${unknown.serviceId}.onion: no record or key for it in`);
    expect(r.stdout).toMatch(/# Export with -o FILE to adopt the ephemeral services above/);
    expect(r.stdout).not.toMatch(/ED25519-V3:/);
    const none = await cli(['export', '--control', control]);
    expect(none.stdout).toMatch(/# Detached ephemeral services, not exported \(give --state-dir DIR where their keys are\):/);
    expect(parse(none.stdout).onionServices.filter((s: { type: string }) => s.type === 'ephemeral')).toEqual([]);
  }, 60_000);
});

describe('the quickstart example (an embedded tor): export round trips', () => {
  let spec: string;
  beforeAll(async () => {
    await cp(path.join(root, 'examples/specs/quickstart.yaml'), path.join(work, 'quick/quickstart.yaml'));
    spec = assertOfflineSpec(path.join(work, 'quick/quickstart.yaml'));
    const r = await cli(['apply', spec]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await cli(['stop', spec]);
  });

  it('(a) plans empty, (b) converges on a fresh tor, (c) matches the import of its torrc', async () => {
    // Through the spec: its tor, and its state directory for the ephemeral service's key.
    const exported = path.join(work, 'quick/exported.yaml');
    const r0 = await cli(['export', spec, '-o', exported]);
    expect(r0.code, r0.stderr).toBe(0);
    const out = parse(await readFile(exported, 'utf8'));
    expect(out.options).toMatchObject({ SocksPort: '127.0.0.1:19050', AvoidDiskWrites: true });
    expect(out.onionServices.map((s: { name: string; type: string }) => `${s.name}:${s.type}`)).toEqual(['web:filesystem', 'api:ephemeral']);
    expect(out.onionServices[1].key).toEqual({ file: './.tor-reconcile/keys/api.key' });
    expect((await cli(['validate', exported])).code).toBe(0);
    const plan = await cli(['plan', exported, '--detailed-exitcode']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    const source = await connect({ control: parseControlAddress(out.tor.control) });
    const fresh = await startTestTor();
    try {
      const applied = await cli(['apply', exported, '--control', formatControlAddress(fresh.controlAddress)]);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(await differingOptions({ client: source }, fresh, Object.keys(out.options))).toEqual([]);

      const dataDir = path.join(work, 'quick/.tor-data');
      const r = await cli(['export', '--torrc', path.join(dataDir, 'torrc'), '--defaults-torrc', path.join(dataDir, 'torrc-defaults')]);
      expect(r.code, r.stderr).toBe(0);
      const { stateDirectory: _s, ...live } = { ...out, onionServices: out.onionServices.filter((s: { type: string }) => s.type === 'filesystem') };
      expect(specDifferences(live, parse(r.stdout))).toEqual([]);
    } finally {
      await fresh.cleanup();
      await source.close();
    }
  }, 180_000);
});
