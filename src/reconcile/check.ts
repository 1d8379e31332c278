/**
 * Reachability of every onion service a spec declares, through a tor client's SOCKS port: connect to each
 * service's first port and report the time to connect, or tor's reason (descriptor not found, intro failed,
 * missing client auth, … from the extended SOCKS codes). Client-auth keys the spec holds for a service are
 * lent to the client tor for the check (ONION_CLIENT_AUTH_ADD, not permanent) and taken back afterwards.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DesiredState, OnionServiceSpec } from '../spec/model.js';
import type { TorClient } from '../tor/client.js';
import { clientAuthPrivateKeyToBase64, readTorKeyFiles } from '../tor/onion/index.js';
import { SocksReplyError, torConnect } from '../tor/socks/index.js';
import { loadKeyFile } from './local.js';

export interface CheckResult {
  name: string;
  address?: string;
  port?: number;
  ok: boolean;
  /** Time to a connected stream, ms. */
  latencyMs?: number;
  /** Why it is not reachable (tor's reason when tor gave one). */
  error?: string;
  /** The SOCKS reply code when tor refused. */
  socksCode?: number;
}

export interface CheckOptions {
  /** HOST:PORT of the SOCKS port to go through. */
  socks: string;
  /** The client tor's controller, to lend it the spec's client-auth keys; without it keys are not lent. */
  client?: TorClient;
  timeoutMs?: number;
  /**
   * Added to each service's SOCKS isolation: a new value makes tor build new circuits (introduction and
   * rendezvous) instead of reusing the last check's rendezvous circuit.
   */
  round?: string;
}

/**
 * Why the spec's tor offers no TCP SOCKS listener to check through. A SocksPort that is configured is not
 * opened while DisableNetwork is 1, and a person who reads "no SocksPort" looks in the wrong place.
 */
export async function noSocksListenerReason(client: TorClient): Promise<string> {
  const conf = await client.getConf(['SocksPort', 'DisableNetwork']);
  if (conf.get('DisableNetwork')?.[0] !== '1') return "the spec's tor has no TCP SocksPort: give --socks HOST:PORT";
  const ports = (conf.get('SocksPort') ?? []).filter((v) => v !== '' && v !== '0' && !v.startsWith('unix:'));
  const configured = ports.length ? `its SocksPort (${ports.join(', ')}) is configured but closed` : 'it opens no SocksPort';
  return `the spec's tor runs with DisableNetwork 1: ${configured}, and it could not reach an onion service anyway; set DisableNetwork 0, or give --socks HOST:PORT of a tor that is online`;
}

/** A declared service's onion address (without `.onion`), from its key or, failing that, its hostname file. */
export async function addressOf(s: OnionServiceSpec): Promise<string> {
  if (s.type === 'ephemeral') return (await loadKeyFile(s.keyFile)).address;
  try {
    return (await readTorKeyFiles(s.directory)).address;
  } catch {
    // Without a readable key (another user's directory), the hostname file is what tor published.
    return (await readFile(path.join(s.directory, 'hostname'), 'utf8')).trim().replace(/\.onion$/, '');
  }
}

export async function checkReachability(desired: DesiredState, options: CheckOptions): Promise<CheckResult[]> {
  const lent: string[] = [];
  try {
    const targets = await Promise.all(
      desired.onionServices.map(async (s) => {
        try {
          return { s, address: await addressOf(s) };
        } catch (err) {
          return { s, error: `no key or hostname to find its address: ${(err as Error).message}` };
        }
      }),
    );
    if (options.client) {
      const held = new Set((await options.client.onionClientAuthView()).map((e) => e.address));
      for (const c of desired.clientAuth) {
        if (held.has(c.address) || !targets.some((t) => t.address === c.address)) continue;
        await options.client.onionClientAuthAdd({ address: c.address, privateKey: clientAuthPrivateKeyToBase64(c.privateKey) });
        lent.push(c.address);
      }
    }
    return await Promise.all(
      targets.map(async (t): Promise<CheckResult> => {
        if (!t.address) return { name: t.s.name, ok: false, error: t.error! };
        const port = t.s.ports[0]!.port;
        const started = performance.now();
        try {
          const socket = await torConnect(options.socks, `${t.address}.onion`, port, { timeout: options.timeoutMs ?? 120_000, isolation: `check-${t.s.name}${options.round ? `-${options.round}` : ''}` });
          const latencyMs = Math.round(performance.now() - started);
          socket.destroy();
          return { name: t.s.name, address: t.address, port, ok: true, latencyMs };
        } catch (err) {
          const result: CheckResult = { name: t.s.name, address: t.address, port, ok: false, error: (err as Error).message };
          if (err instanceof SocksReplyError) result.socksCode = err.code;
          return result;
        }
      }),
    );
  } finally {
    for (const a of lent) await options.client!.onionClientAuthRemove(a).catch(() => {});
  }
}
