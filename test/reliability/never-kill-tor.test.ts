/**
 * Nothing tor-reconcile sends may make tor exit. Each known trap (tor-control-facts.md, and what these
 * suites found) is driven through the CLI against a fresh tor, which must still be running and answering
 * afterwards. Where the trap is refused, nothing must have been sent; where it is applied, it must
 * converge.
 */
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { generateServiceKey, readTorKeyFiles } from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { cli, figures, torAlive, walk, type CliResult } from './helpers.js';

/** Commands that can end or reset tor; none is ever needed to reconcile, so none may ever be sent. */
const NEVER = /^(SIGNAL|TAKEOWNERSHIP|LOADCONF|\+LOADCONF|SAVECONF|DROPOWNERSHIP|DROPGUARDS|DROPTIMEOUTS)\b/;

interface Trap {
  /** Writes the spec (and whatever the trap needs on disk or in tor); returns the spec's text. */
  setup(work: string, tor: TestTor): Promise<string>;
  /** What a correct tor-reconcile does with it. */
  expect(r: CliResult, work: string, tor: TestTor): Promise<void>;
}

const totals = { traps: 0, torDeaths: 0, refusedBeforeSending: 0, appliedAndConverged: 0, refusedByTorAndReported: 0, forbiddenCommands: 0 };
afterAll(() => figures('never kill tor', totals));

const fsService = (dir: string, extra = '') => `onionServices:\n  - { name: web, type: filesystem, directory: ${JSON.stringify(dir)}, ports: [{ port: 80 }]${extra} }\n`;

function refusedBeforeSending(r: CliResult): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.mutating, r.stdout + r.stderr).toEqual([]);
  totals.refusedBeforeSending++;
}

async function converges(spec: string, tor: TestTor, r: CliResult): Promise<void> {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect((await cli(['plan', spec, '--control', formatControlAddress(tor.controlAddress), '--detailed-exitcode'])).code).toBe(0);
  totals.appliedAndConverged++;
}

/** Every onion address tor serves (filesystem or detached) has its key on disk: none can be lost with tor. */
async function everyServedAddressHasAKey(work: string, tor: TestTor): Promise<void> {
  const onDisk = new Set<string>();
  for (const f of await walk(work)) {
    if (f.endsWith('.key')) onDisk.add((await loadKeyFile(f)).address);
    if (path.basename(f) === 'hs_ed25519_secret_key') onDisk.add((await readTorKeyFiles(path.dirname(f))).address);
  }
  const served = (await tor.client.getInfo('onions/detached')).split('\n').filter(Boolean);
  for (const a of served) expect(onDisk, `${a} is served but its key is nowhere on disk`).toContain(a);
}

const TRAPS: Record<string, Trap> = {
  "HiddenServiceDir whose parent does not exist (tor would exit: 'Acting on config options left us in a broken state')": {
    setup: async () => fsService('./not/yet/there/web'),
    async expect(r, work, tor) {
      await converges(path.join(work, 'spec.yaml'), tor, r);
      expect((await stat(path.join(work, 'not/yet/there/web'))).mode & 0o777).toBe(0o700);
    },
  },
  'service directory that is a file': {
    async setup(work) {
      await mkdir(path.join(work, 'hs'));
      await writeFile(path.join(work, 'hs/web'), 'not a directory');
      return fsService('./hs/web');
    },
    async expect(r) {
      expect(r.code).toBe(1);
      expect(r.mutating).toEqual([]);
      expect(r.stdout).toMatch(/exists and is not a directory/);
      totals.refusedBeforeSending++;
    },
  },
  'service directory with group/other permissions': {
    async setup(work) {
      await mkdir(path.join(work, 'hs/web'), { recursive: true });
      await chmod(path.join(work, 'hs/web'), 0o755);
      return fsService('./hs/web');
    },
    async expect(r, work, tor) {
      // Tor would refuse it (513, "too permissive"): the plan tightens it to 0700 first.
      expect(r.stdout).toMatch(/chmod 0700 /);
      expect((await stat(path.join(work, 'hs/web'))).mode & 0o777).toBe(0o700);
      await converges(path.join(work, 'spec.yaml'), tor, r);
      totals.appliedAndConverged++;
    },
  },
  'unknown option': {
    setup: async () => 'options:\n  NoSuchOption: 1\n',
    async expect(r) {
      refusedBeforeSending(r);
      expect(r.stderr).toMatch(/unknown tor option "NoSuchOption"/);
    },
  },
  'immutable options (DataDirectory, Sandbox, User, RunAsDaemon, PidFile, DisableAllSwap)': {
    setup: async () => 'options:\n  DataDirectory: /tmp/elsewhere\n  Sandbox: 1\n  User: nobody\n  RunAsDaemon: 1\n  PidFile: /tmp/x.pid\n  DisableAllSwap: 1\n',
    async expect(r) {
      // Reported as needing a restart, never sent: applied, and the restart is pending (exit 3).
      expect(r.code).toBe(3);
      expect(r.mutating).toEqual([]);
      expect(r.stdout).toMatch(/restart/);
      totals.refusedBeforeSending++;
    },
  },
  'relative HiddenServiceDir (tor would resolve it against its own working directory)': {
    setup: async () => fsService('hs/relative'),
    async expect(r, work, tor) {
      await converges(path.join(work, 'spec.yaml'), tor, r);
      expect(r.mutating.join('\n')).toContain(`HiddenServiceDir="${path.join(work, 'hs/relative')}"`);
      await stat(path.join(work, 'hs/relative/hostname'));
    },
  },
  'the same directory twice (tor loads /x and /x/ as two services)': {
    setup: async () => 'onionServices:\n  - { name: a, type: filesystem, directory: ./hs/x, ports: [{ port: 80 }] }\n  - { name: b, type: filesystem, directory: ./hs/x/, ports: [{ port: 81 }] }\n',
    async expect(r) {
      refusedBeforeSending(r);
      expect(r.stderr).toMatch(/already used by service "a"/);
    },
  },
  'HiddenServiceVersion 2 (obsolete; 513)': {
    setup: async () => fsService('./hs/v2', ', options: { HiddenServiceVersion: 2 }'),
    async expect(r) {
      refusedBeforeSending(r);
    },
  },
  'ADD_ONION of a key another controller has loaded (550, and a Bug: assertion in tor)': {
    async setup(work, tor) {
      const key = generateServiceKey();
      await writeFile(path.join(work, 'k.key'), key.toAddOnionBlob().reveal() + '\n', { mode: 0o600 });
      // Not detached: invisible in onions/detached, so tor-reconcile cannot know before trying.
      const other: TorClient = await connect({ control: tor.controlAddress, cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie') });
      await other.addOnion({ key: key.toAddOnionBlob(), ports: [{ port: 80 }] });
      closeLater.push(() => other.close());
      return 'onionServices:\n  - { name: e, type: ephemeral, key: { file: ./k.key }, ports: [{ port: 80 }] }\n';
    },
    async expect(r) {
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/tor refused: 550 Onion address collision/);
      expect(r.stdout).toMatch(/collides with an existing v3 service/);
      totals.refusedByTorAndReported++;
    },
  },
  "ADD_ONION of a filesystem service's existing key (550)": {
    async setup(work, tor) {
      await writeFile(path.join(work, 'first.yaml'), `version: 1\n${fsService('./hs/web')}`);
      const first = await cli(['apply', path.join(work, 'first.yaml'), '--control', formatControlAddress(tor.controlAddress)]);
      expect(first.code, first.stdout).toBe(0);
      // A copy of the service's key (a key inside its directory is refused by the spec).
      await copyFile(path.join(work, 'hs/web/hs_ed25519_secret_key'), path.join(work, 'copied.key'));
      return `${fsService('./hs/web')}  - { name: e, type: ephemeral, key: { file: ./copied.key }, ports: [{ port: 81 }] }\n`;
    },
    async expect(r, work, tor) {
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/550 Onion address collision/);
      totals.refusedByTorAndReported++;
      await everyServedAddressHasAKey(work, tor);
    },
  },
  'options tor refuses at runtime (a Log file in a missing directory: 553)': {
    setup: async () => 'options:\n  Log: notice file /nonexistent-tor-reconcile-dir/tor.log\n',
    async expect(r) {
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/553/);
      totals.refusedByTorAndReported++;
    },
  },
};

/** Traps the spec refuses before anything is sent (they were bugs once: tor died or a key was lost). */
const REFUSED_BY_SPEC: Record<string, Trap> = {
  // tor polls that pid and exits ~15 s after it is gone ("Owning controller process has vanished");
  // measured: SETCONF __OwningControllerProcess=999999 → tor dead after 16 s.
  '__OwningControllerProcess set to a pid that is gone (tor exits ~15 s later)': {
    setup: async () => 'options:\n  __OwningControllerProcess: 999999\n',
    async expect(r) {
      refusedBeforeSending(r);
    },
  },
  // An ephemeral service whose key file is the (not yet created) tor key of a filesystem service in the same
  // spec: generate-key writes an ED25519-V3 blob at <dir>/hs_ed25519_secret_key, the SETCONF makes tor find
  // a "corrupt" key there and silently replace it, and ADD_ONION then serves the generated key, which now
  // exists nowhere: an address that can never be restored.
  "an ephemeral key file inside a filesystem service's directory (generated key overwritten by tor)": {
    setup: async () => `${fsService('./hs/web')}  - { name: e, type: ephemeral, key: { file: ./hs/web/hs_ed25519_secret_key }, ports: [{ port: 81 }] }\n`,
    async expect(r, work, tor) {
      refusedBeforeSending(r);
      await everyServedAddressHasAKey(work, tor);
    },
  },
};

const closeLater: Array<() => Promise<void>> = [];

async function drive(name: string, trap: Trap): Promise<void> {
  totals.traps++;
  const tor = await startTestTor();
  const work = await mkdtemp(path.join(os.tmpdir(), 'tr-trap-'));
  try {
    const spec = path.join(work, 'spec.yaml');
    await writeFile(spec, `version: 1\n${await trap.setup(work, tor)}`);
    const r = await cli(['apply', spec, '--control', formatControlAddress(tor.controlAddress)]);
    expect(r.stderr, name).not.toMatch(/internal error/);
    const forbidden = r.sent.filter((c) => NEVER.test(c));
    totals.forbiddenCommands += forbidden.length;
    expect(forbidden).toEqual([]);
    // Tor dies within milliseconds of the missing-parent SETCONF; give it time to do so if it is going to.
    await new Promise((res) => setTimeout(res, 300));
    const alive = await torAlive(tor.pid, tor.controlAddress, { cookieFile: path.join(tor.dataDirectory, 'control_auth_cookie') });
    if (!alive) totals.torDeaths++;
    expect(alive, `tor died: ${name}\n${r.stdout}${r.stderr}\n${await readFile(tor.logPath, 'utf8').catch(() => '')}`).toBe(true);
    await trap.expect(r, work, tor);
  } finally {
    for (const c of closeLater.splice(0)) await c().catch(() => {});
    await tor.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

describe('never kill tor: every known trap, driven through apply, leaves tor running', () => {
  it.each(Object.keys(TRAPS))('%s', (name) => drive(name, TRAPS[name]!));
  it.each(Object.keys(REFUSED_BY_SPEC))('refused by the spec: %s', (name) => drive(name, REFUSED_BY_SPEC[name]!));
});
