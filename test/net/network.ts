/**
 * A private Tor network on 127.0.0.0/8 for end-to-end tests and benchmarks: directory authorities,
 * middle relays, exits, clients and an onion-service tor, generated from nothing (keys, torrcs, free ports)
 * and torn down by `stop()`. Recipe and measurements: /work/shared/notes/private-tor-network.md.
 *
 * From a vitest file: `beforeAll(() => (net = startNetwork()))`, `afterAll(() => net?.stop())`. From bench/:
 * compile with `npx tsc -p tsconfig.json`, copy `test/helpers/offline.mjs` (the loopback guard) to
 * `dist-check/test/helpers/`, and import `../dist-check/test/net/network.js`.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TorClient } from '../../src/tor/client.js';
import { launch, parseBootstrapPhase, type LaunchedTor } from '../../src/tor/launch.js';
import type { SocksAddress } from '../../src/tor/socks/socks5.js';
import { parseNetworkStatus } from '../../src/tor/state/ns.js';
import { offlineLaunch } from '../helpers/offline.mjs';
import { startDns, type DnsServer } from './dns.js';

const run = promisify(execFile);

type TcpAddress = Extract<SocksAddress, { port: number }>;

export type NodeRole = 'authority' | 'relay' | 'exit' | 'client' | 'onion';

export interface NetworkOptions {
  authorities?: number;
  relays?: number;
  exits?: number;
  clients?: number;
  /** Start a separate tor (no SOCKS port) to host onion services. */
  onionService?: boolean;
  /** Parent folder for the network's data; a fresh temporary folder by default. */
  dir?: string;
  /** Keep the data directories after stop() (for reading tor's logs). Default: env TOR_NET_KEEP=1. */
  keep?: boolean;
  /** Also write info-level logs (info.log in each data directory). Default: env TOR_NET_KEEP=1. */
  infoLog?: boolean;
  /**
   * How long the clients may take to bootstrap and see every relay, in ms. By default 90 s, and a network
   * that misses it is stopped and started afresh once (startNetwork); given, it is one attempt's only chance.
   */
  timeout?: number;
  /**
   * Names the exits can resolve (name → IPv4/IPv6 addresses), served by the network's own DNS server; every
   * other name is NXDOMAIN. The sandbox has no resolver tor could use.
   */
  hosts?: Record<string, string[]>;
  /** Progress messages, e.g. `console.log`. */
  log?: (message: string) => void;
  /**
   * The authorities' voting interval once a consensus exists, in seconds (default 10). Onionbalance's
   * `--is-testnet` assumes 20 (its time periods, hence its blinded keys, are computed from it): its test
   * (test/e2e/balanced.test.ts) passes 20.
   */
  votingInterval?: number;
}

export interface NetNode {
  name: string;
  role: NodeRole;
  /** The loopback address the relay listens on (127.0.0.1 for non-relays). */
  address: string;
  /** Two-letter code the network's GeoIP file gives `address`, lower case as tor reports it. */
  country: string;
  /** RSA identity fingerprint, 40 upper-case hex digits; relays and authorities only. */
  fingerprint?: string;
  orPort?: number;
  /** Authorities only: the other relays are not directory caches (see torrc()). */
  dirPort?: number;
  dataDirectory: string;
  tor: LaunchedTor;
  /** Authenticated controller over the node's ControlSocket. */
  client: TorClient;
}

export interface PrivateNetwork {
  dir: string;
  nodes: NetNode[];
  authorities: NetNode[];
  relays: NetNode[];
  exits: NetNode[];
  clients: NetNode[];
  /** The first client: the tor tests talk SOCKS to. */
  client: NetNode;
  /** The onion-service tor, when asked for. */
  onion?: NetNode;
  /** The first client's SOCKS listener (flag ExtendedErrors on). */
  socks: TcpAddress;
  geoipFile: string;
  /** The DNS server the exits resolve with (see `hosts`). */
  dns: DnsServer;
  /**
   * From starting the first tor until the clients and the onion-service tor are at 100% and every tor's
   * consensus lists every relay (key generation before that, ~2.5 s, not counted).
   */
  bootstrapMs: number;
  /** Stop every tor (SIGKILL what lingers) and remove the data unless `keep`. Safe to call twice. */
  stop(): Promise<void>;
}

/** Countries the GeoIP file gives exits, in order; 127.0.0.1 (authorities, middles) is `se`. */
const EXIT_COUNTRIES = ['us', 'de', 'fr', 'nl', 'ca', 'jp'];
const LOOPBACK_COUNTRY = 'se';

const COMMON_OPTIONS = {
  TestingTorNetwork: 1,
  AssumeReachable: 1,
  // With 2 exits and 2 middles, tor would otherwise wait for more of the network than exists.
  PathsNeededToBuildCircuits: 0.67,
  TestingDirAuthVoteGuard: '*',
  V3AuthNIntervalsValid: 2,
  TestingMinExitFlagThreshold: 0,
  ShutdownWaitLength: 0,
  SafeLogging: 0,
  LogTimeGranularity: 1,
  ProtocolWarnings: 1,
} as const;

/**
 * Voting every 10 s (by default, see NetworkOptions.votingInterval) once a consensus exists; before that,
 * rounds of 20 s whose first vote is placed (by TestingV3AuthVotingStartOffset, see votingOffset) late enough
 * for every relay to have uploaded its descriptor: otherwise the first consensus lists only the authorities and
 * clients wait for the next rounds.
 */
const VOTE_INTERVAL = 10;
const INITIAL_INTERVAL = 20;
const VOTE_DELAY = 2;
const DIST_DELAY = 2;
/** Relays upload their descriptors 3–5 s after starting (measured); leave room for a loaded machine. */
const FIRST_VOTE_AFTER = 8;

const AUTHORITY_OPTIONS = {
  AuthoritativeDirectory: 1,
  V3AuthoritativeDirectory: 1,
  V3AuthVoteDelay: VOTE_DELAY,
  V3AuthDistDelay: DIST_DELAY,
  TestingV3AuthInitialVotingInterval: INITIAL_INTERVAL,
  TestingV3AuthInitialVoteDelay: VOTE_DELAY,
  TestingV3AuthInitialDistDelay: DIST_DELAY,
} as const;

/**
 * Tor starts voting rounds at midnight UTC + k·interval + offset, and offset may not exceed the smaller
 * interval. Pick the offset whose first round starts soonest with its vote at least FIRST_VOTE_AFTER seconds
 * after `now` (an authority that starts after a round's vote time votes at once, with whatever it has).
 */
function votingOffset(nowSeconds: number, voteInterval: number): number {
  for (let start = nowSeconds + FIRST_VOTE_AFTER + VOTE_DELAY + DIST_DELAY; ; start++) {
    const offset = start % INITIAL_INTERVAL;
    if (offset <= Math.min(voteInterval, INITIAL_INTERVAL)) return offset;
  }
}

interface Plan {
  name: string;
  role: NodeRole;
  address: string;
  country: string;
  dataDirectory: string;
  orPort?: number;
  dirPort?: number;
  fingerprint?: string;
  v3ident?: string;
}

/**
 * Start the network and resolve once every client (and the onion-service tor) has bootstrapped and has a
 * consensus listing every relay: tests can then pin any relay into a circuit.
 */
export async function startNetwork(options: NetworkOptions = {}): Promise<PrivateNetwork> {
  if (options.timeout !== undefined || options.dir) return startNetworkOnce(options);
  try {
    return await startNetworkOnce(options);
  } catch (err) {
    // Bootstrap hangs on a voting round now and then under CI's load (a hook timeout in 2 of 3 runs around
    // 2026-12-06, each time alongside another file's network): say why, then one fresh network. Twice the
    // default fits vitest's hookTimeout. Any other failure (a tor that exits, bad keys) is not retried.
    if (!(err instanceof NetworkTimeoutError)) throw err;
    console.warn(`${err.message}; stopped, starting a fresh network once more`);
    return startNetworkOnce(options);
  }
}

/** A stage of start-up did not finish by the deadline; the message names it and what was missing. */
class NetworkTimeoutError extends Error {}

async function startNetworkOnce(options: NetworkOptions): Promise<PrivateNetwork> {
  const counts = {
    authority: options.authorities ?? 3,
    relay: options.relays ?? 2,
    exit: options.exits ?? 2,
    client: options.clients ?? 1,
    onion: options.onionService === false ? 0 : 1,
  };
  if (counts.authority < 1 || counts.client < 1) throw new Error('a network needs at least one authority and one client');
  if (counts.exit > EXIT_COUNTRIES.length) throw new Error(`at most ${EXIT_COUNTRIES.length} exits`);
  const log = options.log ?? (() => {});
  const debug = process.env.TOR_NET_KEEP === '1';
  const keep = options.keep ?? debug;
  const base = options.dir ? path.resolve(options.dir) : await mkdtemp(path.join(os.tmpdir(), 'tr-net-'));
  await mkdir(base, { recursive: true, mode: 0o700 });
  const started: LaunchedTor[] = [];
  let dns: DnsServer | undefined;
  let stopped = false;
  const killAll = () => {
    for (const t of started) {
      try {
        process.kill(t.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  // A test process that exits without stop() (crash, Ctrl-C, worker teardown) must not leave relays behind;
  // __OwningControllerProcess (set by launch) covers a SIGKILLed test process.
  process.once('exit', killAll);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(started.map((t) => t.stop(5_000).catch(() => {})));
    killAll();
    process.removeListener('exit', killAll);
    await dns?.close();
    if (!keep && !options.dir) await rm(base, { recursive: true, force: true });
  };

  try {
    const t0 = Date.now();
    const geoipFile = path.join(base, 'geoip');
    const plans = await planNodes(base, counts);
    await writeFile(geoipFile, geoip(plans), { mode: 0o600 });
    dns = await startDns(options.hosts ?? {});
    const resolvConf = path.join(base, 'resolv.conf');
    // tor's resolver (libevent evdns) accepts IP:PORT here, so the server needs no privileged port.
    await writeFile(resolvConf, `nameserver ${dns.host}:${dns.port}\n`, { mode: 0o600 });
    await Promise.all(plans.map((p) => generateKeys(p)));
    log(`keys generated in ${Date.now() - t0} ms`);

    const authorityLines = plans
      .filter((p) => p.role === 'authority')
      .map((p) => `${p.name} orport=${p.orPort} no-v2 v3ident=${p.v3ident} ${p.address}:${p.dirPort} ${p.fingerprint}`);
    const exitFps = plans.filter((p) => p.role === 'exit').map((p) => p.fingerprint!);
    const hsdirFps = plans.filter((p) => p.role === 'authority').map((p) => p.fingerprint!);
    const tStart = Date.now();
    const votingInterval = options.votingInterval ?? VOTE_INTERVAL;
    const offset = votingOffset(Math.ceil(tStart / 1000), votingInterval);
    const start = async (p: Plan): Promise<NetNode> => {
      const tor = await launch(
        offlineLaunch({
          dataDirectory: p.dataDirectory,
          options: torrc(p, { authorityLines, exitFps, hsdirFps, geoipFile, resolvConf, offset, votingInterval, infoLog: options.infoLog ?? debug }),
          startTimeout: 30_000,
        }),
      );
      started.push(tor);
      const { name, role, address, country, fingerprint, orPort, dirPort, dataDirectory } = p;
      return { name, role, address, country, fingerprint, orPort, dirPort, dataDirectory, tor, client: tor.client };
    };
    /** All settled before failing, so that stop() sees every tor that did start. */
    const startAll = async (list: Plan[]): Promise<NetNode[]> => {
      const results = await Promise.allSettled(list.map(start));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      return results.map((r) => (r as PromiseFulfilledResult<NetNode>).value);
    };
    const deadline = tStart + (options.timeout ?? 90_000);
    const relays = await startAll(plans.filter((p) => p.orPort));
    log(`${relays.length} relays started in ${Date.now() - tStart} ms`);
    const expected = new Map(relays.map((n) => [n.fingerprint!, { name: n.name, exit: n.role === 'exit' }]));
    // Clients start once every authority serves a consensus listing every relay: a client that asks earlier
    // (or asks an authority that lags) gets a 404, backs off, and picks the consensus up seconds late;
    // started after, it bootstraps in about 2 s.
    const authorities = relays.filter((n) => n.role === 'authority');
    await Promise.race([Promise.all(authorities.map((n) => waitForRelays(n.client, expected, deadline, false, () => {}))), anyExit(relays)]);
    log(`complete consensus after ${Date.now() - tStart} ms`);
    // The relays asked before it existed and back off for up to tens of seconds; a reload (SIGHUP) resets
    // their download back-off and fetches at once. They run on their torrc alone, so nothing else changes.
    await Promise.all(relays.filter((n) => n.role !== 'authority').map((n) => n.client.signal('RELOAD')));
    const nodes = [...relays, ...(await startAll(plans.filter((p) => !p.orPort)))];

    const waiting = nodes.filter((n) => n.role === 'client' || n.role === 'onion');
    const others = relays.filter((n) => n.role === 'relay' || n.role === 'exit');
    await Promise.race([
      Promise.all([
        ...waiting.map(async (n) => {
          await waitForBootstrap(n.client, deadline);
          log(`${n.name} bootstrapped after ${Date.now() - tStart} ms`);
          await waitForRelays(n.client, expected, deadline, true, (missing) => log(`${n.name} still misses ${missing.join(', ')}`));
          log(`${n.name} sees all ${expected.size} relays after ${Date.now() - tStart} ms`);
        }),
        // An exit refuses streams arriving from a relay missing from its own consensus ("Attempt by … to
        // open a stream from unknown relay"), and relays fetch the consensus on their own schedule.
        ...others.map(async (n) => {
          await waitForRelays(n.client, expected, deadline, false, () => {});
          log(`${n.name} knows every relay after ${Date.now() - tStart} ms`);
        }),
      ]),
      anyExit(nodes),
    ]);
    const bootstrapMs = Date.now() - tStart;

    const client = nodes.find((n) => n.role === 'client')!;
    const socks = parseListener(await client.client.getInfo('net/listeners/socks'));
    return {
      dir: base,
      nodes,
      authorities: nodes.filter((n) => n.role === 'authority'),
      relays: nodes.filter((n) => n.role === 'relay'),
      exits: nodes.filter((n) => n.role === 'exit'),
      clients: nodes.filter((n) => n.role === 'client'),
      client,
      onion: nodes.find((n) => n.role === 'onion'),
      socks,
      geoipFile,
      dns,
      bootstrapMs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function planNodes(base: string, counts: Record<NodeRole, number>): Promise<Plan[]> {
  const plans: Plan[] = [];
  const taken = new Set<number>();
  const add = async (role: NodeRole, name: string, address: string, country: string) => {
    const plan: Plan = { name, role, address, country, dataDirectory: path.join(base, name) };
    if (role === 'authority' || role === 'relay' || role === 'exit') {
      plan.orPort = await freePort(address, taken);
      if (role === 'authority') plan.dirPort = await freePort(address, taken);
    }
    plans.push(plan);
  };
  for (let i = 1; i <= counts.authority; i++) await add('authority', `auth${i}`, '127.0.0.1', LOOPBACK_COUNTRY);
  for (let i = 1; i <= counts.relay; i++) await add('relay', `relay${i}`, '127.0.0.1', LOOPBACK_COUNTRY);
  for (let i = 1; i <= counts.exit; i++) await add('exit', `exit${i}`, `127.0.0.${i + 1}`, EXIT_COUNTRIES[i - 1]!);
  for (let i = 1; i <= counts.client; i++) await add('client', `client${i}`, '127.0.0.1', LOOPBACK_COUNTRY);
  if (counts.onion) await add('onion', 'hs', '127.0.0.1', LOOPBACK_COUNTRY);
  return plans;
}

/**
 * A port the OS just handed out on `address`. Tor binds it a moment later; another process taking it in
 * between is unlikely, and would fail the launch loudly rather than silently.
 */
async function freePort(address: string, taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, address, () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

/** Tor's GeoIP format: `INTIPLOW,INTIPHIGH,CC`, one address per line here. */
function geoip(plans: Plan[]): string {
  const byAddress = new Map(plans.map((p) => [p.address, p.country]));
  const lines = [...byAddress]
    .map(([ip, cc]) => [ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0), cc.toUpperCase()] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([n, cc]) => `${n},${n},${cc}`);
  return `# INTIPLOW,INTIPHIGH,CC\n${lines.join('\n')}\n`;
}

async function generateKeys(p: Plan): Promise<void> {
  if (!p.orPort) return;
  const keys = path.join(p.dataDirectory, 'keys');
  await mkdir(keys, { recursive: true, mode: 0o700 });
  if (p.role === 'authority') {
    const child = execFile('tor-gencert', [
      '--create-identity-key',
      '-m', '12',
      '-a', `${p.address}:${p.dirPort}`,
      '-i', path.join(keys, 'authority_identity_key'),
      '-s', path.join(keys, 'authority_signing_key'),
      '-c', path.join(keys, 'authority_certificate'),
      '--passphrase-fd', '0',
    ]);
    await exited(child, 'tor-gencert', '\n');
    const cert = await readFile(path.join(keys, 'authority_certificate'), 'utf8');
    const m = /^fingerprint ([0-9A-F]{40})$/m.exec(cert);
    if (!m) throw new Error(`${p.name}: no fingerprint line in authority_certificate`);
    p.v3ident = m[1]!;
  }
  // The identity key written here is the one tor uses when started on this data directory.
  await run('tor', [
    '--list-fingerprint', '--orport', '1', '--nickname', p.name,
    '--dirserver', 'x 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff',
    '--datadirectory', p.dataDirectory,
  ]);
  const line = (await readFile(path.join(p.dataDirectory, 'fingerprint'), 'utf8')).trim();
  const fp = line.split(' ').pop()!;
  if (!/^[0-9A-F]{40}$/.test(fp)) throw new Error(`${p.name}: unexpected fingerprint file ${JSON.stringify(line)}`);
  p.fingerprint = fp;
}

function exited(child: ChildProcess, what: string, input: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited with ${code}: ${stderr.trim()}`))));
  });
}

type TorrcOptions = Record<string, string | number | boolean | Array<string | number>>;

function torrc(
  p: Plan,
  cfg: { authorityLines: string[]; exitFps: string[]; hsdirFps: string[]; geoipFile: string; resolvConf: string; offset: number; votingInterval: number; infoLog: boolean },
): TorrcOptions {
  const o: TorrcOptions = {
    ...COMMON_OPTIONS,
    Nickname: p.name,
    DirAuthority: cfg.authorityLines,
    TestingDirAuthVoteExit: cfg.exitFps.join(','),
    // Only directory caches can store onion-service descriptors, and only the authorities are caches here:
    // an upload to any other relay never completes and a client asking it finds nothing.
    TestingDirAuthVoteHSDir: cfg.hsdirFps.join(','),
    GeoIPFile: cfg.geoipFile,
  };
  if (cfg.infoLog) o.Log = `info file ${path.join(p.dataDirectory, 'info.log')}`;
  if (p.orPort) {
    Object.assign(o, {
      Address: p.address,
      ORPort: `${p.address}:${p.orPort}`,
      OutboundBindAddress: p.address,
      SocksPort: 0,
      ContactInfo: `${p.name}@test.invalid`,
    });
  }
  // Only authorities serve directory documents. A relay that is a directory cache fetches microdescriptors on
  // its own schedule, seconds after the consensus lists it as a cache; a client asking it first gets 404 and
  // retries 10 s later.
  if (p.role === 'relay' || p.role === 'exit') o.DirCache = 0;
  switch (p.role) {
    case 'authority':
      Object.assign(o, AUTHORITY_OPTIONS, {
        V3AuthVotingInterval: cfg.votingInterval,
        DirPort: `${p.address}:${p.dirPort}`,
        TestingV3AuthVotingStartOffset: cfg.offset,
        ExitRelay: 0,
        ExitPolicy: 'reject *:*',
      });
      break;
    case 'relay':
      Object.assign(o, { ExitRelay: 0, ExitPolicy: 'reject *:*' });
      break;
    case 'exit':
      // The 127/8 accept alone (plus reject *:*) gives a microdescriptor summary rejecting every port:
      // clients never choose such an exit themselves. `accept *:*` keeps it a normal exit.
      Object.assign(o, {
        ExitRelay: 1,
        ExitPolicyRejectPrivate: 0,
        ExitPolicyRejectLocalInterfaces: 0,
        ExitPolicy: ['accept 127.0.0.0/8:*', 'accept *:*'],
        ServerDNSResolvConfFile: cfg.resolvConf,
        // It resolves random names and well-known sites to spot a lying resolver: pointless here, and noisy.
        ServerDNSDetectHijacking: 0,
      });
      break;
    case 'client':
      o.SocksPort = 'auto ExtendedErrors';
      break;
    case 'onion':
      o.SocksPort = 0;
      break;
  }
  return o;
}

/** STATUS_CLIENT BOOTSTRAP PROGRESS=100, subscribed before reading the current phase so none is missed. */
async function waitForBootstrap(client: TorClient, deadline: number): Promise<void> {
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const off = await client.on('STATUS_CLIENT', (e) => {
    if (e.action === 'BOOTSTRAP' && Number(e.args.PROGRESS) >= 100) done();
  });
  try {
    const phase = parseBootstrapPhase(await client.getInfo('status/bootstrap-phase'));
    if (phase && phase.progress >= 100) return;
    await withDeadline(finished, deadline, 'bootstrap to 100%');
  } finally {
    await off().catch(() => {});
  }
}

interface Expected {
  name: string;
  exit: boolean;
}

/**
 * Until `client`'s consensus lists every relay Running (exits with the Exit flag: the first consensus can
 * lack it) and, with `microdescriptors`, it holds each relay's microdescriptor: tests pin any relay into a
 * path. Re-checked on each NEWCONSENSUS and NEWDESC.
 */
async function waitForRelays(client: TorClient, relays: Map<string, Expected>, deadline: number, microdescriptors: boolean, progress: (missing: string[]) => void): Promise<void> {
  let wake!: () => void;
  let changed = new Promise<void>((r) => (wake = r));
  const onChange = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };
  const offs = await Promise.all([client.on('NEWCONSENSUS', onChange), client.on('NEWDESC', onChange)]);
  let reported = '';
  try {
    for (;;) {
      const next = changed;
      const missing = await missingRelays(client, relays, microdescriptors);
      if (!missing.length) return;
      if (missing.join() !== reported) progress(missing);
      reported = missing.join();
      await withDeadline(next, deadline, `relays ${missing.join(', ')} in the consensus`);
    }
  } finally {
    await Promise.all(offs.map((off) => off().catch(() => {})));
  }
}

async function missingRelays(client: TorClient, relays: Map<string, Expected>, microdescriptors: boolean): Promise<string[]> {
  const listed = new Map(parseNetworkStatus(await client.getInfo('ns/all').catch(() => '')).map((r) => [r.fingerprint, r.flags]));
  const missing: string[] = [];
  const present: string[] = [];
  for (const [fp, { name, exit }] of relays) {
    const flags = listed.get(fp);
    if (!flags?.includes('Running') || (exit && !flags.includes('Exit'))) missing.push(name);
    else present.push(fp);
  }
  if (microdescriptors) {
    // One GETINFO per relay: a key tor has no answer for fails the whole command it is in.
    const mds = await Promise.all(present.map((fp) => client.getInfo(`md/id/${fp}`).then((md) => md !== '', () => false)));
    present.forEach((fp, i) => mds[i] || missing.push(`${relays.get(fp)!.name} (microdescriptor)`));
  }
  return missing;
}

function withDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NetworkTimeoutError(`private network: no ${what} in time`)), Math.max(0, deadline - Date.now()));
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Rejects when any tor of the network exits: a dead authority would otherwise surface as a timeout. */
function anyExit(nodes: NetNode[]): Promise<never> {
  return new Promise((_, reject) => {
    for (const n of nodes) {
      n.tor.child?.once('exit', (code, signal) => reject(new Error(`${n.name} exited (${signal ?? `code ${code}`}); see ${n.tor.logPath}`)));
    }
  });
}

/** `"127.0.0.1:9050"` (tor quotes listener addresses) → host and port. */
function parseListener(value: string): TcpAddress {
  const m = /^"?([\d.]+):(\d+)"?/.exec(value.trim());
  if (!m) throw new Error(`unexpected net/listeners/socks: ${JSON.stringify(value)}`);
  return { host: m[1]!, port: Number(m[2]) };
}
