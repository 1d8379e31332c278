/**
 * Faults on tor's side of the control connection: tor killed in the middle of an apply and restarted, a
 * slow link, a connection cut after a command reached tor but before its reply came back. The CLI must
 * say what happened, exit 1 without hanging, and the next run must converge without losing an address.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect } from '../../src/tor/client.js';
import { ConnectionClosedError, TimeoutError } from '../../src/tor/errors.js';
import { launch, type LaunchedTor } from '../../src/tor/launch.js';
import { offlineLaunch } from '../helpers/offline.mjs';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { assertFreshBuild, cli, cliChild, figures, FULL_SPEC_EPHEMERAL, startProxy, torAlive, writeFullSpec } from './helpers.js';

const TOR_OPTIONS = { DisableNetwork: 1, SocksPort: 0, AvoidDiskWrites: 1 };

/** Where to strike: the first command of each kind apply sends. */
const STRIKE_AT = ['SETCONF ContactInfo', 'SETCONF HiddenServiceDir', 'ADD_ONION', 'ONION_CLIENT_AUTH_ADD'];

async function ephemeralAddresses(work: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of FULL_SPEC_EPHEMERAL) {
    const key = await loadKeyFile(path.join(work, 'state/keys', `${name}.key`)).catch(() => undefined);
    if (key) out.push(key.address);
  }
  return out;
}

async function hostnames(work: string): Promise<string[]> {
  return Promise.all(['hs/web', 'hs/deeper/blog'].map((d) => readFile(path.join(work, d, 'hostname'), 'utf8').catch(() => '')));
}

describe('tor faults: tor SIGKILLed in the middle of an apply, then restarted', () => {
  const totals = { faultsInjected: 0, clearErrors: 0, exit1: 0, hangs: 0, maxExitMs: 0, convergedAfterRestart: 0, addressesKept: 0 };
  beforeAll(() => assertFreshBuild());
  afterAll(() => figures('tor faults: tor killed mid-apply', { ...totals, maxExitMs: totals.maxExitMs.toFixed(0) }));

  it.each(STRIKE_AT)('killed as apply sends its first %s', async (strike) => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'tr-torkill-'));
    const dataDirectory = path.join(work, 'tor');
    let tor: LaunchedTor | undefined = await launch(offlineLaunch({ dataDirectory, control: 'port', options: TOR_OPTIONS }));
    try {
      const { spec } = await writeFullSpec(work);
      const pid = tor.pid;
      let killed = false;
      // The child's trace line is written just before the command goes out: tor dies with it in flight.
      const r = await cliChild(['apply', spec, '--control', formatControlAddress(tor.controlAddress)], {
        deadlineMs: 20_000,
        onStderr: (text) => {
          if (!killed && text.split('\n').some((l) => l.startsWith(`> ${strike}`))) {
            killed = true;
            process.kill(pid, 'SIGKILL');
          }
        },
      });
      totals.faultsInjected++;
      expect(killed, `never saw "> ${strike}"\n${r.stderr}`).toBe(true);
      expect(r.hung, r.stderr).toBe(false);
      if (r.hung) totals.hangs++;
      expect(r.signal).toBeNull();
      expect(r.code, r.stdout + r.stderr).toBe(1);
      totals.exit1++;
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      // Says that the connection to tor went away, and for which command.
      expect(r.stdout + r.stderr).toMatch(/\b(SETCONF|ADD_ONION|ONION_CLIENT_AUTH_ADD|GETINFO|GETCONF|SETEVENTS)\b[^\n]*: control connection (already )?closed/);
      totals.clearErrors++;
      totals.maxExitMs = Math.max(totals.maxExitMs, r.ms);
      expect(r.ms).toBeLessThan(10_000);

      const keysBefore = await ephemeralAddresses(work);
      const hostsBefore = await hostnames(work);
      await tor.client.close().catch(() => {});
      // The same data directory: the restarted tor is the same tor, minus everything set over the control port.
      tor = await launch(offlineLaunch({ dataDirectory, control: 'port', options: TOR_OPTIONS }));
      const control = formatControlAddress(tor.controlAddress);
      const again = await cli(['apply', spec, '--control', control]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect((await cli(['plan', spec, '--control', control, '--detailed-exitcode'])).code).toBe(0);
      totals.convergedAfterRestart++;
      // Keys persisted before the crash are the ones served now; hostnames tor wrote before are unchanged.
      const detached = (await tor.client.getInfo('onions/detached')).split('\n');
      for (const a of keysBefore) expect(detached).toContain(a);
      expect(await ephemeralAddresses(work)).toEqual(expect.arrayContaining(keysBefore));
      const hostsAfter = await hostnames(work);
      hostsBefore.forEach((h, i) => h && expect(hostsAfter[i]).toBe(h));
      totals.addressesKept += keysBefore.length + hostsBefore.filter(Boolean).length;
    } finally {
      await tor?.stop().catch(() => {});
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('tor faults: a slow control connection', () => {
  let tor: TestTor;
  beforeAll(async () => {
    tor = await startTestTor({ control: 'port' });
  });
  afterAll(async () => {
    await tor?.cleanup();
  });

  it('apply converges through a link that delays every chunk by 25 ms each way', async () => {
    const proxy = await startProxy(tor.controlAddress, { delayMs: 25 });
    const work = await mkdtemp(path.join(os.tmpdir(), 'tr-slow-'));
    try {
      const { spec } = await writeFullSpec(work);
      const applied = await cli(['apply', spec, '--control', proxy.address]);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const plan = await cli(['plan', spec, '--control', proxy.address, '--detailed-exitcode']);
      expect(plan.code).toBe(0);
      // The delay was real: at least one delayed round trip per command group.
      expect(applied.ms).toBeGreaterThan(200);
      figures('tor faults: slow link', { delayPerChunkMs: 25, applyMs: applied.ms.toFixed(0), planMs: plan.ms.toFixed(0), converged: 1 });
    } finally {
      await proxy.close();
      await rm(work, { recursive: true, force: true });
    }
  }, 60_000);

  it('a per-command timeout shorter than the delay gives a TimeoutError naming the command, and later replies still match', async () => {
    let slow = false;
    // Fast during authentication, then 400 ms for everything tor says.
    const proxy = await startProxy(tor.controlAddress, {
      toClient: (chunk, conn) => {
        if (!slow) return;
        setTimeout(() => conn.client.destroyed || conn.client.write(chunk), 400);
        return false;
      },
    });
    try {
      const client = await connect({ control: proxy.address, cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie'), timeout: 150 });
      slow = true;
      const t0 = performance.now();
      const err = await client.getInfo('version').catch((e: unknown) => e);
      const ms = performance.now() - t0;
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as Error).message).toBe('GETINFO version: no reply from tor within 150 ms');
      expect(ms).toBeLessThan(400);
      // The late reply is discarded, not handed to the next command.
      const next = await client.request({ keyword: 'GETINFO', wire: 'GETINFO process/pid\r\n', display: 'GETINFO process/pid' }, { timeout: 5000 });
      expect(next.lines[0]!.text).toBe(`process/pid=${tor.pid}`);
      await client.close();
      // The connect timeout covers authentication too: a tor that never answers PROTOCOLINFO.
      const stuck = await connect({ control: proxy.address, timeout: 150 }).catch((e: unknown) => e);
      expect(stuck).toBeInstanceOf(TimeoutError);
      expect((stuck as Error).message).toMatch(/^PROTOCOLINFO 1: no reply from tor within 150 ms$/);
      figures('tor faults: timeouts', { timeoutMs: 150, delayMs: 400, timedOutAfterMs: ms.toFixed(0), laterRepliesMatched: 1 });
    } finally {
      await proxy.close();
    }
  });
});

describe('tor faults: the connection cut between a command and its reply', () => {
  let tor: TestTor;
  const totals = { faultsInjected: 0, exit1: 0, clearErrors: 0, hangs: 0, converged: 0 };
  beforeAll(async () => {
    tor = await startTestTor({ control: 'port' });
  });
  afterAll(async () => {
    await tor?.cleanup();
    figures('tor faults: connection cut before the reply', totals);
  });

  it.each(STRIKE_AT)('cut after tor received %s', async (strike) => {
    // Fresh state in tor for each case: the cut must meet a command that really changes something.
    const c = tor.client;
    await c.resetConf(['ContactInfo', 'MaxCircuitDirtiness', 'HiddenServiceDir']);
    for (const a of (await c.getInfo('onions/detached')).split('\n').filter(Boolean)) await c.delOnion(a);
    for (const a of await c.onionClientAuthView()) await c.onionClientAuthRemove(a.address);
    let armed = false;
    let cut = false;
    const proxy = await startProxy(tor.controlAddress, {
      toTor: (chunk) => {
        if (!cut && chunk.toString('latin1').split('\r\n').some((l) => l.startsWith(strike))) armed = true;
      },
      // Tor has executed the command and is answering: drop the link instead of passing the answer on.
      toClient: (_chunk, conn) => {
        if (!armed || cut) return;
        cut = true;
        conn.cut();
        return false;
      },
    });
    const work = await mkdtemp(path.join(os.tmpdir(), 'tr-cut-'));
    try {
      const { spec } = await writeFullSpec(work);
      const r = await cliChild(['apply', spec, '--control', proxy.address], { deadlineMs: 20_000 });
      totals.faultsInjected++;
      expect(cut, r.stderr).toBe(true);
      expect(r.hung).toBe(false);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      totals.exit1++;
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(r.stdout + r.stderr).toMatch(new RegExp(`${strike.split(' ')[0]}.*control connection closed before tor replied|control connection to .* closed`));
      totals.clearErrors++;
      // Tor is fine, and the next run (directly) picks up where the cut left it.
      expect(await torAlive(tor.pid, tor.controlAddress, { cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie') })).toBe(true);
      const control = formatControlAddress(tor.controlAddress);
      const again = await cli(['apply', spec, '--control', control]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect((await cli(['plan', spec, '--control', control, '--detailed-exitcode'])).code).toBe(0);
      totals.converged++;
    } finally {
      await proxy.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});

// ConnectionClosedError is what a cut produces in the library: checked without the CLI in between.
describe('tor faults: library view of a cut', () => {
  it('a request in flight when the link drops rejects with ConnectionClosedError naming it', async () => {
    const tor = await startTestTor({ control: 'port' });
    const proxy = await startProxy(tor.controlAddress, {
      toTor: (chunk, conn) => {
        if (chunk.includes('SETCONF')) setImmediate(() => conn.cut());
      },
    });
    try {
      const client = await connect({ control: proxy.address, cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie') });
      const err = await client.setConf({ ContactInfo: 'cut' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect((err as Error).message).toMatch(/^SETCONF ContactInfo="cut": control connection closed before tor replied/);
    } finally {
      await proxy.close();
      await tor.cleanup();
    }
  });
});
