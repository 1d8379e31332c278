/**
 * Persistence on a tor laid out like Debian's package: running as debian-tor, a control socket, a
 * group-readable cookie, plumbing in a defaults file and the operator's torrc beside it — all in temporary
 * directories, DisableNetwork 1 from the first second, no TCP listener.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { verifyDropIn } from '../../src/reconcile/persist/files.js';
import { connect, type TorClient } from '../../src/tor/client.js';

const TOR_USER = 'debian-tor';
const ids = await (async () => {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const f = passwd.split('\n').find((l) => l.startsWith(`${TOR_USER}:`))?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
})();
const skip = !ids ? `no ${TOR_USER} user` : process.getuid?.() !== 0 ? 'needs root (to run tor as debian-tor, like Debian)' : !existsSync('/usr/sbin/runuser') ? 'no runuser' : '';

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { TOR_RECONCILE_TRACE: '1' } };
  const code = await run(argv, io);
  const roundTrips = Number(/(\d+) round trips after authentication/.exec(stderr)?.[1] ?? NaN);
  return { code, stdout, stderr, all: stdout + stderr, roundTrips };
}

/** A Debian-like tor in `base`: base/etc/torrc (the operator's), base/defaults, base/run, base/lib. */
class DebianLikeTor {
  child?: ChildProcess;
  readonly etc: string;
  readonly torrc: string;
  readonly defaults: string;
  readonly run: string;
  readonly lib: string;

  constructor(readonly base: string) {
    this.etc = path.join(base, 'etc');
    this.torrc = path.join(this.etc, 'torrc');
    this.defaults = path.join(base, 'defaults');
    this.run = path.join(base, 'run');
    this.lib = path.join(base, 'lib');
  }

  get control() {
    return `unix:${path.join(this.run, 'control')}`;
  }

  static async create(torrc: string): Promise<DebianLikeTor> {
    const base = await mkdtemp(path.join(os.tmpdir(), 'tr-deb-'));
    await chmod(base, 0o755);
    const t = new DebianLikeTor(base);
    await mkdir(path.join(t.etc, 'torrc.d'), { recursive: true });
    await mkdir(t.run, { mode: 0o2755 });
    await chown(t.run, ids!.uid, ids!.gid);
    await chmod(t.run, 0o2755);
    await mkdir(t.lib, { mode: 0o700 });
    await chown(t.lib, ids!.uid, ids!.gid);
    await writeFile(
      t.defaults,
      [
        `DataDirectory ${t.lib}`,
        `ControlSocket ${path.join(t.run, 'control')} GroupWritable RelaxDirModeCheck`,
        'CookieAuthentication 1',
        'CookieAuthFileGroupReadable 1',
        `CookieAuthFile ${path.join(t.run, 'control.authcookie')}`,
        'SocksPort 0',
        'DisableNetwork 1',
        'AvoidDiskWrites 1',
        `Log notice file ${path.join(t.run, 'notice.log')}`,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    await writeFile(t.torrc, torrc, { mode: 0o644 });
    await t.start();
    return t;
  }

  /** As the package's unit: `tor --defaults-torrc DEFAULTS -f TORRC`, as debian-tor. */
  async start(): Promise<void> {
    const socket = path.join(this.run, 'control');
    this.child = spawn('runuser', ['-u', TOR_USER, '--', 'tor', '--defaults-torrc', this.defaults, '-f', this.torrc], { stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`tor exited at start: ${await readFile(path.join(this.run, 'notice.log'), 'utf8').catch(() => '')}`);
      if (existsSync(socket)) {
        const c = await this.client().catch(() => undefined);
        if (c) return void (await c.close());
      }
      if (Date.now() > deadline) throw new Error('tor did not open its control socket');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  client(): Promise<TorClient> {
    return connect({ control: { type: 'unix', path: path.join(this.run, 'control') } });
  }

  async torPid(): Promise<number> {
    const c = await this.client();
    try {
      return Number(await c.getInfo('process/pid'));
    } finally {
      await c.close();
    }
  }

  /** Stopped as systemctl stop would: SIGTERM to tor, and wait until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(await this.torPid(), 'SIGTERM');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    await this.stop().catch(() => this.child?.kill('SIGKILL'));
    await rm(this.base, { recursive: true, force: true });
  }
}

async function spec(t: DebianLikeTor, persist: string, web = '8080'): Promise<string> {
  const file = path.join(t.base, 'spec.yaml');
  await writeFile(
    file,
    `version: 1\ntor:\n  control: ${t.control}\nstateDirectory: state\n${persist}options:\n  ExitNodes: "{de},{ch}"\n  MaxCircuitDirtiness: 10 minutes\nonionServices:\n  - name: web\n    type: filesystem\n    directory: ${path.join(t.lib, 'web')}\n    ports:\n      - { port: 80, target: "127.0.0.1:${web}" }\n`,
  );
  return file;
}

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip)(`persist on a Debian-like tor${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tors: DebianLikeTor[] = [];
  const make = async (torrc: string) => {
    const t = await DebianLikeTor.create(torrc);
    tors.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(tors.splice(0).map((t) => t.cleanup()));
  });

  it('persist: { file }: applied state survives a restart and a SIGHUP with no apply in between', async () => {
    const t = await make('');
    await writeFile(t.torrc, `# the operator's own\n%include ${path.join(t.etc, 'torrc.d')}\n`);
    const dropIn = path.join(t.etc, 'torrc.d', 'tor-reconcile.conf');
    // The drop-in directory holds other files of the operator's, which tor reads too.
    await writeFile(path.join(t.etc, 'torrc.d', 'other.conf'), 'ContactInfo ops@example.org\n');
    await t.restart();
    const s = await spec(t, 'persist:\n  file: etc/torrc.d/tor-reconcile.conf\n');

    const applied = await cli(['apply', s]);
    expect(applied.code, applied.all).toBe(0);
    expect(applied.stdout).toMatch(/verify with tor --verify-config, then write .*tor-reconcile\.conf/);
    const text = await readFile(dropIn, 'utf8');
    expect(text).toMatch(new RegExp(`^# Generated by tor-reconcile from ${s}`));
    expect(text).toContain('ExitNodes {de},{ch}\n');
    expect(text).toContain(`HiddenServiceDir ${path.join(t.lib, 'web')}\nHiddenServicePort 80 127.0.0.1:8080\n`);
    expect((await stat(dropIn)).mode & 0o777).toBe(0o644);

    await t.restart();
    const afterRestart = await cli(['plan', s, '--detailed-exitcode']);
    expect(afterRestart.code, afterRestart.all).toBe(0);
    // Reading tor's torrc files rides in the one pipelined round trip of a no-op plan.
    expect(afterRestart.roundTrips).toBe(1);

    // Drift set over the control port, then a reload: tor goes back to its torrc files, which hold the spec.
    const c = await t.client();
    try {
      await c.setConf({ MaxCircuitDirtiness: '300' });
      expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(2);
      process.kill(await t.torPid(), 'SIGHUP');
      await until('the reload', async () => (await c.getConf(['MaxCircuitDirtiness'])).get('MaxCircuitDirtiness')?.[0] === '600');
    } finally {
      await c.close();
    }
    const afterHup = await cli(['plan', s, '--detailed-exitcode']);
    expect(afterHup.code, afterHup.all).toBe(0);
  });

  it('without persist, the plan says the changes last until tor restarts — and they do', async () => {
    const t = await make('');
    const s = await spec(t, '');
    const applied = await cli(['apply', s]);
    expect(applied.code, applied.all).toBe(0);
    expect(applied.stdout).toMatch(/persist: none — these changes last until tor restarts/);
    await t.restart();
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(2);
  });

  it('without persist, a plan with nothing to do says "in sync" only when tor\'s torrc would keep it so', async () => {
    const t = await make('');
    const s = await spec(t, '');
    expect((await cli(['apply', s])).code).toBe(0);

    // In sync now; not after a restart, as the torrc holds none of it (MaxCircuitDirtiness is at its default).
    const synced = await cli(['plan', s, '--detailed-exitcode']);
    expect(synced.code, synced.all).toBe(0);
    expect(synced.roundTrips).toBe(1);
    expect(synced.stdout).toContain('No changes: tor matches the spec, until it restarts or reloads (see the warning).');
    expect(synced.stdout).toContain(`persist: none — tor matches the spec only until it restarts or reloads (SIGHUP), which would revert ExitNodes, onion service web: its torrc ${t.torrc} does not hold the spec's values`);
    const json = JSON.parse((await cli(['plan', s, '--json'])).stdout);
    expect(json.plan.lostOnRestart).toEqual(['option:ExitNodes', 'filesystem-service:web']);
    const diff = await cli(['diff', s]);
    expect(diff.code, diff.all).toBe(0);
    expect(diff.stdout).toBe('');
    expect(diff.stderr).toMatch(/warning: persist: none — tor matches the spec only until it restarts or reloads/);
    // And it was so: a reload reverts both.
    process.kill(await t.torPid(), 'SIGHUP');
    await until('the reload', async () => (await cli(['plan', s, '--detailed-exitcode'])).code === 2);

    // The operator puts the spec's values in a file the torrc includes, in the torrc's own spelling.
    expect((await cli(['apply', s])).code).toBe(0);
    await writeFile(t.torrc, `%include ${path.join(t.etc, 'torrc.d')}\n`);
    await writeFile(path.join(t.etc, 'torrc.d', 'ops.conf'), `exitnodes {de}, {ch} # ours\nHiddenServiceDir ${path.join(t.lib, 'web')}\nHiddenServicePort 80 127.0.0.1:8080\n`);
    const kept = await cli(['plan', s, '--detailed-exitcode']);
    expect(kept.code, kept.all).toBe(0);
    expect(kept.stdout).toContain('No changes: tor matches the spec.\n');
    expect(kept.stdout).not.toContain('persist:');
    // And that was true too: restarted, tor still matches the spec.
    await t.restart();
    const restarted = await cli(['plan', s, '--detailed-exitcode']);
    expect(restarted.code, restarted.all).toBe(0);
    expect(restarted.stdout).not.toContain('persist:');

    // A torrc it cannot read (gone since tor started): it cannot tell, and says so rather than "in sync" alone.
    await rm(t.torrc);
    const unreadable = await cli(['plan', s]);
    expect(unreadable.code, unreadable.all).toBe(0);
    expect(unreadable.stdout).toContain('No changes: tor matches the spec now; whether it still will after it restarts or reloads is unknown (see the warning).');
    const unreadableDiff = await cli(['diff', s]);
    expect(unreadableDiff.code, unreadableDiff.all).toBe(0);
    expect(unreadableDiff.stderr).toMatch(/warning: persist: none — cannot tell whether tor would still match the spec/);
    expect(unreadable.stdout).toMatch(/persist: none — cannot tell whether tor would still match the spec after it restarts or reloads \(SIGHUP\): ENOENT/);
  });

  it('a drop-in edited by hand is "persisted config differs"; apply puts it back', async () => {
    const t = await make('');
    await writeFile(t.torrc, `%include ${path.join(t.etc, 'torrc.d', '*.conf')}\n`);
    await t.restart();
    const s = await spec(t, 'persist:\n  file: etc/torrc.d/tor-reconcile.conf\n');
    expect((await cli(['apply', s])).code).toBe(0);
    const dropIn = path.join(t.etc, 'torrc.d', 'tor-reconcile.conf');
    const good = await readFile(dropIn, 'utf8');
    await writeFile(dropIn, good.replace('ExitNodes {de},{ch}', 'ExitNodes {us}'));

    const plan = await cli(['plan', s, '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/persisted-config .*tor-reconcile\.conf\s+persisted config differs/);
    expect(plan.stdout).toContain('- ExitNodes {us}');
    expect(plan.stdout).toContain('+ ExitNodes {de},{ch}');

    expect((await cli(['apply', s])).code).toBe(0);
    expect(await readFile(dropIn, 'utf8')).toBe(good);
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(0);
  });

  it('a file tor would refuse at its next start is never installed, and tor says why', async () => {
    const t = await make('');
    const web = path.join(t.lib, 'web');
    await mkdir(web, { mode: 0o700 });
    await chown(web, ids!.uid, ids!.gid);
    // The service is in the operator's torrc too: the running tor takes the spec's block (a SETCONF replaces
    // the whole block), but at its next start tor would read the directory twice, which it refuses.
    await writeFile(t.torrc, `HiddenServiceDir ${web}\nHiddenServicePort 80 127.0.0.1:8080\n%include ${path.join(t.etc, 'torrc.d')}\n`);
    const dropIn = path.join(t.etc, 'torrc.d', 'tor-reconcile.conf');
    await writeFile(dropIn, '# the old one\n');
    await t.restart();
    const s = await spec(t, 'persist:\n  file: etc/torrc.d/tor-reconcile.conf\n', '8081');

    const applied = await cli(['apply', s]);
    expect(applied.code, applied.all).toBe(1);
    expect(applied.all).toMatch(/done:? +SETCONF HiddenServiceDir=/);
    expect(applied.all).toMatch(/tor --verify-config refused the new .*tor-reconcile\.conf:5, which was not installed: .*Another hidden service is already configured for directory/);
    expect(await readFile(dropIn, 'utf8')).toBe('# the old one\n');
    // The running tor did accept the block, and tor still starts with the files on disk.
    await t.restart();
  });

  it('a torrc without the %include: the plan shows the exact line; --persist-include adds it, with a backup', async () => {
    const t = await make('# all comments, as Debian ships it\n');
    await rm(path.join(t.etc, 'torrc.d'), { recursive: true });
    const s = await spec(t, 'persist:\n  file: etc/torrc.d/tor-reconcile.conf\n');
    const dropIn = path.join(t.etc, 'torrc.d', 'tor-reconcile.conf');
    const plan = await cli(['plan', s]);
    expect(plan.stdout).toContain(`tor does not read ${dropIn}: add the line \`%include ${dropIn}\` to ${t.torrc}`);
    // Without the line, tor would not hold the spec after its next start: never "in sync", never a clean apply.
    const unread = await cli(['apply', s]);
    expect(unread.code, unread.all).toBe(1);
    expect(unread.all).toMatch(/Tor still differs from the spec after applying:\n.*tor does not read/);
    expect(await readFile(t.torrc, 'utf8')).toBe('# all comments, as Debian ships it\n');
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(2);

    const applied = await cli(['apply', s, '--persist-include']);
    expect(applied.code, applied.all).toBe(0);
    expect(await readFile(`${t.torrc}.tor-reconcile.bak`, 'utf8')).toBe('# all comments, as Debian ships it\n');
    expect(await readFile(t.torrc, 'utf8')).toMatch(new RegExp(`^# all comments, as Debian ships it\\n(#.*\\n)?%include ${dropIn}\\n$`));
    await t.restart();
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(0);
  });

  it('persist: saveconf where tor can write its torrc, and a clear refusal where it cannot', async () => {
    const t = await make('');
    const s = await spec(t, 'persist: saveconf\n');
    // Debian's layout: /etc/tor/torrc belongs to root and tor runs as debian-tor.
    const refused = await cli(['apply', s]);
    expect(refused.code).toBe(1);
    expect(refused.all).toContain(`tor (running as debian-tor) cannot write its torrc ${t.torrc} (551 Unable to write configuration to disk`);

    // A torrc tor's user may write (and a directory it may write the new file in).
    await chown(t.etc, ids!.uid, ids!.gid);
    await chown(t.torrc, ids!.uid, ids!.gid);
    const applied = await cli(['apply', s]);
    expect(applied.code, applied.all).toBe(0);
    expect(await readFile(t.torrc, 'utf8')).toMatch(/ExitNodes \{de\},\{ch\}/);
    await t.restart();
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(0);
  });
});

describe.skipIf(skip)('verifying a drop-in as Debian\'s tor starts (as root, User debian-tor in the defaults file)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-verify-'));
    await mkdir(path.join(dir, 'web'), { mode: 0o700 });
    await chown(path.join(dir, 'web'), ids!.uid, ids!.gid);
    // Debian's defaults file, as the package ships it (paths that verify never opens).
    await writeFile(path.join(dir, 'defaults'), 'DataDirectory /var/lib/tor\nUser debian-tor\nControlSocket /run/tor/control GroupWritable RelaxDirModeCheck\nCookieAuthentication 1\nSocksPort 0\nDisableNetwork 1\n');
    await writeFile(path.join(dir, 'torrc'), `%include ${dir}/torrc.d\n`);
    await mkdir(path.join(dir, 'torrc.d'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const content = (extra = '') => `# ours\nHiddenServiceDir ${dir}/web\nHiddenServicePort 80 127.0.0.1:8080\n${extra}`;
  const input = (text: string, user?: boolean) => ({ path: path.join(dir, 'torrc.d', 'ours.conf'), content: text, torrc: path.join(dir, 'torrc'), defaults: path.join(dir, 'defaults'), binary: 'tor', ...(user ? { user: { name: TOR_USER, ...ids! } } : {}) });

  it('accepts a good file, and names tor\'s refusal and its line otherwise', async () => {
    await verifyDropIn(input(content(), true));
    await expect(verifyDropIn(input(content('NoSuchOption 1\n'), true))).rejects.toThrow(new RegExp(`refused the new ${dir}/torrc.d/ours.conf:4, which was not installed: .*Unknown option 'NoSuchOption'`));
  });

  it('reads the new file in place of the old one, also through a file the torrc includes', async () => {
    await writeFile(path.join(dir, 'nested-torrc'), `%include ${dir}/middle\n`);
    await writeFile(path.join(dir, 'middle'), `ContactInfo middle\n%include ${dir}/torrc.d/*.conf\n`);
    await writeFile(path.join(dir, 'torrc.d', 'ours.conf'), content());
    const nested = (text: string) => ({ ...input(text, true), torrc: path.join(dir, 'nested-torrc') });
    // The old file, read too, would name the service directory twice.
    await verifyDropIn(nested(content('ContactInfo new\n')));
    await expect(verifyDropIn(nested(content('NoSuchOption 1\n')))).rejects.toThrow(/Unknown option 'NoSuchOption'/);
  });

  it('without User in tor\'s files, root verifies with --User tor\'s user: tor checks that user owns the service directory', async () => {
    await writeFile(path.join(dir, 'plain-defaults'), 'SocksPort 0\nDisableNetwork 1\n');
    const plain = (user: boolean) => ({ ...input(content(), user), defaults: path.join(dir, 'plain-defaults') });
    await verifyDropIn(plain(true));
    await expect(verifyDropIn(plain(false))).rejects.toThrow(/is not owned by this user \(root, 0\) but by debian-tor/);
  });
});

describe('the embedded tor (tor.launch)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-launch-persist-'));
  });
  afterAll(async () => {
    await cli(['stop', path.join(dir, 'spec.yaml')]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('persists into its data directory, which its torrc includes: a restart keeps what apply set', async () => {
    const s = path.join(dir, 'spec.yaml');
    await writeFile(s, 'version: 1\ntor:\n  launch:\n    dataDirectory: data\n    options:\n      DisableNetwork: 1\n      SocksPort: 0\noptions:\n  MaxCircuitDirtiness: 10 minutes\n');
    const applied = await cli(['apply', s]);
    expect(applied.code, applied.all).toBe(0);
    expect(await readFile(path.join(dir, 'data', 'tor-reconcile.torrc'), 'utf8')).toContain('MaxCircuitDirtiness 600\n');
    expect((await cli(['stop', s])).code).toBe(0);
    // Stopped: plan starts nothing (issue #21) and finds in the drop-in what tor will start with.
    const offline = JSON.parse((await cli(['plan', s, '--json'])).stdout).plan as { launch?: unknown; changes: Array<{ action: string }> };
    expect(offline.launch).toBeDefined();
    expect(offline.changes.filter((c) => c.action !== 'noop')).toEqual([]);
    // Started again, tor has what apply set: apply's own plan is empty, and so is the next one.
    const again = await cli(['apply', s, '--json']);
    expect(again.stderr).toMatch(/starting the embedded tor/);
    expect((JSON.parse(again.stdout).plan.changes as Array<{ action: string }>).filter((c) => c.action !== 'noop')).toEqual([]);
    expect((await cli(['plan', s, '--detailed-exitcode'])).code).toBe(0);
    expect((await cli(['stop', s])).code).toBe(0);
  });
});
