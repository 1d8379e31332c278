/**
 * Onion-service health for `watch`, per declared service: descriptor uploads as tor reports them (HS_DESC
 * UPLOAD / UPLOADED / FAILED, one event per HSDir), the time of the last accepted upload, the introduction
 * points tor has established (counted in `GETINFO circuit-status`: an established intro circuit is
 * `PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED REND_QUERY=<address>`), and, when enabled, a periodic
 * self-check through a SOCKS port (`checkReachability`, the `check` command's machinery): reachable or not, and
 * the time to a connected stream.
 *
 * The self-check is off by default. On the public network it never goes through the spec's own tor: the
 * check's client circuits would leave from the service's own host and guards at a regular rhythm, which helps
 * an adversary who runs rendezvous points or HSDirs to learn the service's guards (docs/health.md). It needs
 * `checkSocks`, a separate client tor (best on another host); only a test network (TestingTorNetwork 1) may
 * check through the spec's tor.
 */
import type { DesiredState } from '../../spec/model.js';
import type { TorClient } from '../../tor/client.js';
import { isEvent, parseEvent, type HsDescEvent } from '../../tor/events.js';
import { tcpSocksListener } from '../../tor/socks/index.js';
import { addressOf, checkReachability } from '../check.js';
import type { LogFn } from './types.js';

/** Overrides of the spec's `health.check` (watch's command-line flags); what neither gives takes the default. */
export interface OnionHealthOptions {
  /** Self-check every this many ms (±20 % jitter, so checks do not form an exact rhythm); 0: never. */
  checkIntervalMs?: number;
  /** HOST:PORT of the SOCKS port to check through; default the spec's tor, on a test network only. */
  checkSocks?: string;
  /** Per service and check (ms). */
  checkTimeoutMs?: number;
  /** How often to count the introduction points and refresh the services' addresses (ms, default 10 s). */
  introPollMs?: number;
}

/** With a separate client tor named: two failed checks fit in OnionServiceUnreachable's 10 minutes (deploy/prometheus). */
const DEFAULT_CHECK_INTERVAL_MS = 300_000;
const DEFAULT_CHECK_TIMEOUT_MS = 60_000;
/** While checks are off, how often to look whether a reloaded spec turned them on. */
const SETTINGS_RECHECK_MS = 10_000;

export interface OnionServiceHealth {
  service: string;
  address: string | null;
  /** HS_DESC events for this service's descriptors, one per HSDir: UPLOAD (attempt), UPLOADED, FAILED. */
  uploads: { attempts: number; uploaded: number; failed: number };
  /** Unix ms of the last UPLOADED event; null before the first one. */
  lastUpload: number | null;
  /** Introduction points established now; null before the first count. */
  introPoints: number | null;
  /** The last self-check; null before the first (or when checks are off). */
  check: { ok: boolean; at: number; latencyMs?: number; error?: string } | null;
  checks: { ok: number; error: number };
}

export interface OnionHealthReport {
  /** The watched tor's control address. */
  target: string | null;
  /** Unix ms since when HS_DESC events are followed: no upload seen since then is "none", not "never". */
  since: number;
  /** `on`, `off`, or why checks are configured but cannot run. */
  checks: string;
  services: OnionServiceHealth[];
}

interface Uploads {
  attempts: number;
  uploaded: number;
  failed: number;
  lastUpload: number | null;
  /** HSDir fingerprints an upload is in flight to: a FAILED for one of them is an upload failure, not a fetch's. */
  pending: Set<string>;
}

export interface OnionHealthDeps {
  desired: () => DesiredState | undefined;
  client: () => TorClient | undefined;
  target: () => string | undefined;
  log: LogFn;
}

export class OnionHealth {
  readonly #o: OnionHealthOptions & { introPollMs: number };
  readonly #deps: OnionHealthDeps;
  /** By onion address: tor's events name the address, and it outlives a spec reload. */
  readonly #uploads = new Map<string, Uploads>();
  #intro = new Map<string, number>();
  /** By service name. */
  readonly #addresses = new Map<string, string>();
  readonly #checks = new Map<string, { last: OnionServiceHealth['check']; ok: number; error: number }>();
  /** Why checks are configured but cannot run. */
  #refused: string | undefined;
  #introTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #polling: Promise<void> = Promise.resolve();
  #checking: Promise<void> = Promise.resolve();
  /** The check in flight lends client-auth keys to the spec's tor: stop() waits for it to take them back. */
  #lending = false;
  #stopped = false;
  #refusedLogged = false;
  #since = Date.now();
  #round = 0;
  /** The last control address seen: the `target` label stays the same while the connection is down. */
  #target: string | undefined;

  constructor(options: OnionHealthOptions, deps: OnionHealthDeps) {
    this.#o = { introPollMs: 10_000, ...options };
    this.#deps = deps;
  }

  start(): void {
    this.#since = Date.now();
    this.#scheduleIntro(0);
    this.#scheduleCheck(Math.min(this.#settings().intervalMs || 1_000, 1_000));
  }

  /** The flags over the spec in force (a reloaded spec applies from the next check), over the defaults. */
  #settings(): { intervalMs: number; socks?: string; timeoutMs: number } {
    const spec = this.#deps.desired()?.health?.check;
    const socks = this.#o.checkSocks ?? spec?.socks;
    return {
      intervalMs: this.#o.checkIntervalMs ?? spec?.intervalMs ?? (socks ? DEFAULT_CHECK_INTERVAL_MS : 0),
      timeoutMs: this.#o.checkTimeoutMs ?? spec?.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
      ...(socks ? { socks } : {}),
    };
  }

  /**
   * Waits for the poll in flight, not for a check through a separate client tor (it may take the whole check
   * timeout, and touches no controller): its result is dropped.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#introTimer);
    clearTimeout(this.#checkTimer);
    await this.#polling;
    if (this.#lending) await this.#checking;
  }

  /** Every HS_DESC event of the watched tor. Fetches (REQUESTED/RECEIVED and their failures) are not uploads. */
  onHsDesc(e: HsDescEvent): void {
    if (e.action !== 'UPLOAD' && e.action !== 'UPLOADED' && e.action !== 'FAILED') return;
    const hsDir = e.hsDir?.fingerprint ?? '';
    let u = this.#uploads.get(e.address);
    if (e.action === 'UPLOAD') {
      if (!u) this.#uploads.set(e.address, (u = { attempts: 0, uploaded: 0, failed: 0, lastUpload: null, pending: new Set() }));
      u.attempts++;
      u.pending.add(hsDir);
    } else if (u?.pending.delete(hsDir)) {
      if (e.action === 'UPLOADED') {
        u.uploaded++;
        u.lastUpload = Date.now();
      } else {
        u.failed++;
        this.#deps.log('warn', 'onion-health', `descriptor upload of ${e.address}.onion to ${e.hsDir?.nickname ?? hsDir} failed${e.reason ? `: ${e.reason}` : ''}`, { address: e.address, hsDir, reason: e.reason });
      }
    }
  }

  report(): OnionHealthReport {
    const services = (this.#deps.desired()?.onionServices ?? []).map((s): OnionServiceHealth => {
      const address = this.#addresses.get(s.name) ?? null;
      const u = address ? this.#uploads.get(address) : undefined;
      const c = this.#checks.get(s.name);
      return {
        service: s.name,
        address,
        uploads: { attempts: u?.attempts ?? 0, uploaded: u?.uploaded ?? 0, failed: u?.failed ?? 0 },
        lastUpload: u?.lastUpload ?? null,
        introPoints: address ? (this.#intro.get(address) ?? null) : null,
        check: c?.last ?? null,
        checks: { ok: c?.ok ?? 0, error: c?.error ?? 0 },
      };
    });
    const checks = this.#settings().intervalMs === 0 ? 'off' : (this.#refused ?? 'on');
    this.#target = this.#deps.target() ?? this.#target;
    return { target: this.#target ?? null, since: this.#since, checks, services };
  }

  #scheduleIntro(ms: number): void {
    this.#introTimer = setTimeout(() => {
      this.#polling = this.#guard(() => this.#countIntro()).finally(() => this.#stopped || this.#scheduleIntro(this.#o.introPollMs));
    }, ms);
    this.#introTimer.unref();
  }

  #scheduleCheck(ms: number): void {
    this.#checkTimer = setTimeout(() => {
      this.#checking = this.#guard(() => this.#check()).finally(() => {
        const { intervalMs } = this.#settings();
        if (!this.#stopped) this.#scheduleCheck(intervalMs > 0 ? intervalMs * (0.8 + 0.4 * Math.random()) : SETTINGS_RECHECK_MS);
      });
    }, ms);
    this.#checkTimer.unref();
  }

  /** A failed poll or check is logged, and the next one tried. Each reschedules itself when done: never two at once. */
  async #guard(task: () => Promise<void>): Promise<void> {
    if (this.#stopped) return;
    await task().catch((err: Error) => this.#deps.log('warn', 'onion-health', err.message));
  }

  async #refreshAddresses(desired: DesiredState): Promise<void> {
    for (const s of desired.onionServices) {
      // A generated key appears with the first apply; until then the address is unknown.
      const address = await addressOf(s).catch(() => undefined);
      if (address) this.#addresses.set(s.name, address);
    }
  }

  async #countIntro(): Promise<void> {
    const desired = this.#deps.desired();
    if (!desired) return;
    await this.#refreshAddresses(desired);
    const client = this.#deps.client();
    // Without a connection (or an answer) the count is unknown, not the last one seen.
    try {
      this.#intro = client ? countIntroPoints(await client.getInfo('circuit-status'), this.#addresses.values()) : new Map();
    } catch (err) {
      this.#intro = new Map();
      throw err;
    }
  }

  async #check(): Promise<void> {
    const desired = this.#deps.desired();
    const client = this.#deps.client();
    const settings = this.#settings();
    if (settings.intervalMs === 0 || !desired?.onionServices.length) return;
    let socks = settings.socks;
    let lend: TorClient | undefined;
    if (!socks) {
      if (!client) return;
      const [conf, own] = await Promise.all([client.getConf(['TestingTorNetwork']), tcpSocksListener(client)]);
      if (conf.get('TestingTorNetwork')?.[0] !== '1') return this.#refuse("on the public network a self-check never goes through the spec's own tor: give --check-socks HOST:PORT of a separate client tor");
      if (!own) return this.#refuse("the spec's tor has no TCP SocksPort: give --check-socks HOST:PORT");
      socks = own;
      lend = client;
    }
    this.#refused = undefined;
    this.#lending = lend !== undefined;
    // A new round each time: every check introduces itself and meets at a new rendezvous, as a new visitor does.
    const results = await checkReachability(desired, { socks, ...(lend ? { client: lend } : {}), timeoutMs: settings.timeoutMs, round: String(++this.#round) });
    if (this.#stopped) return;
    const at = Date.now();
    for (const r of results) {
      let c = this.#checks.get(r.name);
      if (!c) this.#checks.set(r.name, (c = { last: null, ok: 0, error: 0 }));
      if (r.address) this.#addresses.set(r.name, r.address);
      c.last = r.ok ? { ok: true, at, latencyMs: r.latencyMs! } : { ok: false, at, error: r.error! };
      if (r.ok) c.ok++;
      else {
        c.error++;
        this.#deps.log('warn', 'onion-health', `self-check: ${r.name} unreachable through ${socks}: ${r.error}`, { service: r.name, error: r.error });
      }
    }
  }

  #refuse(reason: string): void {
    this.#refused = reason;
    if (this.#refusedLogged) return;
    this.#refusedLogged = true;
    this.#deps.log('error', 'onion-health', `self-check not run: ${reason}`);
  }
}

/**
 * Established introduction points per onion address, from `GETINFO circuit-status`; every address in `known`
 * gets a count (0 when it has none). Tor keeps two descriptors per service (this time period's and the next),
 * each with its own introduction points, so a healthy service with the default 3 per descriptor has 6.
 */
export function countIntroPoints(circuitStatus: string, known: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>([...known].map((a) => [a, 0]));
  for (const line of circuitStatus.split('\n')) {
    if (!line.includes('HS_SERVICE_INTRO')) continue;
    const e = parseEvent({ code: 650, lines: [{ code: 650, sep: ' ', text: `CIRC ${line.trim()}` }] });
    if (!isEvent(e, 'CIRC') || e.status !== 'BUILT' || e.hsState !== 'HSSI_ESTABLISHED' || !e.rendQuery) continue;
    out.set(e.rendQuery, (out.get(e.rendQuery) ?? 0) + 1);
  }
  return out;
}
