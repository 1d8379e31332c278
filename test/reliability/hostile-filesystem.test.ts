/**
 * Hostile filesystem (issue #20): a root tor-reconcile beside a real tor running as debian-tor (Debian's
 * layout: `runuser -u debian-tor -- tor -f …`, DisableNetwork 1 from its first second, a control socket
 * only). Every case snapshots a sandbox tree (owner, group, mode, kind, content digest, link target of every
 * entry) before and after, asserts that nothing outside the declared paths changed, and that tor still runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan } from '../../src/reconcile/apply.js';
import { openAndPlan } from '../../src/reconcile/reconcile.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { cli, figures } from './helpers.js';

const TOR_USER = 'debian-tor';
const account = await (async () => {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const f = passwd.split('\n').find((l) => l.startsWith(`${TOR_USER}:`))?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
})();
const nobody = 65534;
const skip = !account ? `no ${TOR_USER} user` : process.getuid?.() !== 0 ? 'needs root (to run tor as debian-tor, like Debian)' : !existsSync('/usr/sbin/runuser') ? 'no runuser' : '';

/** One entry of a tree as the suite compares it: everything apply could change. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (p: string) => {
    const st = await lstat(p);
    let extra = '';
    if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
    else if (st.isFile()) extra = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
    out.set(path.relative(root, p) || '.', `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file'} ${extra}`);
    if (st.isDirectory()) for (const n of (await readdir(p)).sort()) await visit(path.join(p, n));
  };
  await visit(root);
  return out;
}

const tally = { comparisons: 0, entries: 0 };

/** Entries that differ between two snapshots (added, removed or changed), as relative paths. */
function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  tally.comparisons++;
  tally.entries += keys.size;
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}

describe.skipIf(skip)(`hostile filesystem, tor as ${TOR_USER}${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let base: string;
  let sandbox: string;
  let child: ChildProcess;
  let socket: string;
  let torPid: number;
  let n = 0;
  // The sandbox, state and spec directories are siblings under base: plan and apply may reach them only with
  // --allow-path (file references are confined to the spec's tree, issue #21).
  const tc = (argv: string[], env?: Record<string, string | undefined>) => cli([...argv, '--allow-path', base], env);

  const client = (): Promise<TorClient> => connect({ control: { type: 'unix', path: socket } });
  const torRunning = async () => {
    try {
      process.kill(torPid, 0);
      const c = await client();
      const v = await c.getInfo('version');
      await c.close();
      return v.length > 0;
    } catch {
      return false;
    }
  };
  /** A spec in `dir` (default: the sandbox's specs directory) with one filesystem service. */
  const spec = async (directory: string, extra = '', dir = path.join(base, 'specs'), state = path.join(base, 'state')): Promise<string> => {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `spec-${++n}.yaml`);
    await writeFile(
      file,
      `version: 1\ntor:\n  control: unix:${socket}\nstateDirectory: ${state}\nonionServices:\n  - name: web\n    type: filesystem\n    directory: ${directory}\n    ports:\n      - { port: 80, target: "127.0.0.1:8080" }\n${extra}`,
    );
    return file;
  };

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'tr-hostile-'));
    await chmod(base, 0o755);
    sandbox = path.join(base, 'sandbox');
    await mkdir(sandbox, { mode: 0o755 });
    await chmod(sandbox, 0o755);
    const run = path.join(base, 'run');
    const lib = path.join(base, 'lib');
    await mkdir(run, { mode: 0o2755 });
    await chown(run, account!.uid, account!.gid);
    await chmod(run, 0o2755);
    await mkdir(lib, { mode: 0o700 });
    await chown(lib, account!.uid, account!.gid);
    socket = path.join(run, 'control');
    const torrc = path.join(base, 'torrc');
    await writeFile(
      torrc,
      [
        'DisableNetwork 1',
        'SocksPort 0',
        'AvoidDiskWrites 1',
        `DataDirectory ${lib}`,
        `ControlSocket ${socket} GroupWritable RelaxDirModeCheck`,
        'CookieAuthentication 1',
        'CookieAuthFileGroupReadable 1',
        `CookieAuthFile ${path.join(run, 'control.authcookie')}`,
        `Log notice file ${path.join(run, 'notice.log')}`,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    child = spawn('runuser', ['-u', TOR_USER, '--', 'tor', '-f', torrc], { stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`tor exited at start: ${await readFile(path.join(run, 'notice.log'), 'utf8').catch(() => '')}`);
      if (existsSync(socket)) {
        const c = await client().catch(() => undefined);
        if (c) {
          torPid = Number(await c.getInfo('process/pid'));
          await c.close();
          break;
        }
      }
      if (Date.now() > deadline) throw new Error('tor did not open its control socket');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 90_000);

  afterAll(async () => {
    figures('hostile-filesystem', { 'sandbox snapshots compared': tally.comparisons, 'entries compared': tally.entries });
    if (torPid) {
      const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      process.kill(torPid, 'SIGTERM');
      await exited;
    }
    if (base) await rm(base, { recursive: true, force: true });
  });

  // Each case starts from a tor with no filesystem service.
  afterEach(async () => {
    const c = await client();
    await c.resetConf(['HiddenServiceDir']);
    await c.close();
  });

  it('an existing, non-empty directory tor does not own is refused at plan time, and left untouched by apply', async () => {
    const www = path.join(sandbox, 'www');
    await mkdir(www, { mode: 0o755 });
    await chmod(www, 0o755);
    await writeFile(path.join(www, 'index.html'), '<h1>mine</h1>\n', { mode: 0o644 });
    const s = await spec(www);
    const before = await snapshot(sandbox);

    const plan = await tc(['plan', s]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(1);
    const out = plan.stdout + plan.stderr;
    expect(out).toContain(`${www} exists, is not empty and belongs to root:root (mode 0755), not to tor's user ${TOR_USER}`);
    expect(out).toContain('Declare adopt: true on the service');
    const apply = await tc(['apply', s]);
    expect(apply.code).not.toBe(0);
    expect(apply.mutating).toEqual([]);

    expect(changed(before, await snapshot(sandbox))).toEqual([]);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('adopt: true hands it to tor as steps shown in the plan: chmod 0700, chown to tor\'s user and group', async () => {
    const www = path.join(sandbox, 'adopted');
    await mkdir(www, { mode: 0o755 });
    await chmod(www, 0o755);
    await writeFile(path.join(www, 'index.html'), '<h1>mine</h1>\n', { mode: 0o644 });
    const s = await spec(www, '    adopt: true\n');
    const before = await snapshot(sandbox);

    const plan = await tc(['plan', s]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`chmod 0700 ${www} (now 0755; adopt: true; private to tor's user)`);
    expect(plan.stdout).toContain(`chown ${account!.uid}:${account!.gid} (${TOR_USER}:${TOR_USER}) ${www} (now 0:0; adopt: true)`);
    // Every view: the steps as data in JSON, the same lines in markdown and GitHub's summary.
    const json = JSON.parse((await tc(['plan', s, '--json'])).stdout) as { plan: { steps: Array<{ op: string; path?: string; owner?: unknown; from?: unknown }> } };
    expect(json.plan.steps.filter((st) => st.path === www).map((st) => st.op)).toEqual(['chmod', 'chown']);
    expect(json.plan.steps.find((st) => st.op === 'chown')).toMatchObject({ owner: { uid: account!.uid, gid: account!.gid }, from: { uid: 0, gid: 0, mode: 0o700 } });
    for (const format of ['markdown', 'github']) {
      const shown = await tc(['plan', s, '--format', format], { GITHUB_STEP_SUMMARY: undefined });
      expect(shown.stdout, format).toContain(`chown ${account!.uid}:${account!.gid} (${TOR_USER}:${TOR_USER}) ${www}`);
    }

    const apply = await tc(['apply', s]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const st = await lstat(www);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([account!.uid, account!.gid, 0o700]);
    expect(await readFile(path.join(www, 'index.html'), 'utf8')).toBe('<h1>mine</h1>\n');
    expect(existsSync(path.join(www, 'hostname'))).toBe(true);
    // Only the adopted directory and what tor wrote in it changed.
    expect(changed(before, await snapshot(sandbox)).every((p) => p === 'adopted' || p.startsWith('adopted/'))).toBe(true);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('missing parents are created so that tor can traverse them (0750, tor\'s group) and apply converges', async () => {
    const svc = path.join(sandbox, 'new', 'a', 'svc');
    const s = await spec(svc);
    const before = await snapshot(sandbox);

    const plan = await tc(['plan', s]);
    expect(plan.code, plan.stderr).toBe(0);
    const g = `group ${account!.gid} (${TOR_USER})`;
    expect(plan.stdout).toContain(`mkdir -m 0750 ${path.join(sandbox, 'new')}, ${g} (a parent: tor's group may traverse it, others may not)`);
    expect(plan.stdout).toContain(`mkdir -m 0750 ${path.join(sandbox, 'new', 'a')}, ${g}`);
    expect(plan.stdout).toContain(`mkdir -m 0700 ${svc}, owner ${account!.uid}:${account!.gid} (${TOR_USER}:${TOR_USER})`);

    const t0 = performance.now();
    const apply = await tc(['apply', s]);
    const ms = performance.now() - t0;
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(existsSync(path.join(svc, 'hostname'))).toBe(true);
    for (const [dir, want] of [
      [path.join(sandbox, 'new'), [0, account!.gid, 0o750]],
      [path.join(sandbox, 'new', 'a'), [0, account!.gid, 0o750]],
      [svc, [account!.uid, account!.gid, 0o700]],
    ] as const) {
      const st = await lstat(dir);
      expect([st.uid, st.gid, st.mode & 0o7777], dir).toEqual(want);
    }
    expect((await tc(['plan', s, '--detailed-exitcode'])).code).toBe(0);
    expect(changed(before, await snapshot(sandbox)).every((p) => p === 'new' || p.startsWith('new/'))).toBe(true);
    expect(await torRunning()).toBe(true);
    figures('hostile-filesystem', { 'apply with 3 missing directories (ms)': Math.round(ms) });
  }, 60_000);

  it('a parent tor cannot traverse is refused at plan time, never a plan that apply fails', async () => {
    const closed = path.join(sandbox, 'closed');
    await mkdir(closed, { mode: 0o700 });
    await chmod(closed, 0o700);
    const s = await spec(path.join(closed, 'svc'));
    const before = await snapshot(sandbox);
    const plan = await tc(['plan', s]);
    expect(plan.code).toBe(1);
    expect(plan.stdout + plan.stderr).toContain(`tor runs as ${TOR_USER} and cannot traverse ${closed} (root:root, mode 0700)`);
    expect((await tc(['apply', s])).mutating).toEqual([]);
    expect(changed(before, await snapshot(sandbox))).toEqual([]);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('a symlink swapped in between plan and apply is refused, not followed', async () => {
    const parent = path.join(sandbox, 'swap');
    const elsewhere = path.join(sandbox, 'elsewhere');
    await mkdir(parent, { mode: 0o755 });
    await mkdir(elsewhere, { mode: 0o755 });
    const svc = path.join(parent, 'svc');
    const s = await spec(svc);

    // The library: plan, then the swap, then apply of that very plan (no re-plan in between).
    const opened = await openAndPlan([s]);
    try {
      expect(opened.plan.errors).toEqual([]);
      expect(opened.plan.steps.map((st) => st.op)).toEqual(['mkdir', 'setconf']);
      await rename(parent, path.join(sandbox, 'swap-old'));
      await symlink(elsewhere, parent);
      const before = await snapshot(sandbox);
      const result = await applyPlan(opened.target.client, opened.plan);
      expect(result.ok).toBe(false);
      expect(result.results[0]).toMatchObject({ status: 'failed' });
      expect(result.results[0]!.error).toContain(`${parent} now leads to ${elsewhere} through a symlink that was not there when the plan was made`);
      expect(result.results[1]).toMatchObject({ status: 'skipped' });
      expect(changed(before, await snapshot(sandbox))).toEqual([]);
    } finally {
      await opened.target.client.close();
    }

    // The CLI with a saved plan: the swap makes it stale.
    await rm(parent);
    await rename(path.join(sandbox, 'swap-old'), parent);
    const saved = path.join(base, 'plan.json');
    expect((await tc(['plan', s, '--out', saved])).code).toBe(0);
    await rename(parent, path.join(sandbox, 'swap-old'));
    await symlink(elsewhere, parent);
    const before = await snapshot(sandbox);
    const apply = await tc(['apply', saved]);
    expect(apply.code).not.toBe(0);
    expect(apply.stdout + apply.stderr).toMatch(/stale plan/);
    expect(changed(before, await snapshot(sandbox))).toEqual([]);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('a world-writable parent, and a symlink another user planted in a sticky directory, are refused', async () => {
    const ww = path.join(sandbox, 'ww');
    await mkdir(ww, { mode: 0o777 });
    await chmod(ww, 0o777);
    const sticky = path.join(sandbox, 'tmp');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    const target = path.join(sandbox, 'planted-target');
    await mkdir(target, { mode: 0o755 });
    const link = path.join(sticky, 'svc');
    await symlink(target, link);
    await lchown(link, nobody, nobody);
    // The state directory through a symlink planted there too: its keys would go wherever it points.
    const stateLink = path.join(sticky, 'state');
    await mkdir(path.join(sandbox, 'planted-state'), { mode: 0o700 });
    await symlink(path.join(sandbox, 'planted-state'), stateLink);
    await lchown(stateLink, nobody, nobody);
    const before = await snapshot(sandbox);

    const a = await tc(['plan', await spec(path.join(ww, 'svc'))]);
    expect(a.code).toBe(1);
    expect(a.stdout + a.stderr).toContain(`${path.join(ww, 'svc')} would be created in ${ww}, which others can write (root:root, mode 0777, no sticky bit)`);
    const b = await tc(['plan', await spec(link)]);
    expect(b.code).toBe(1);
    expect(b.stdout + b.stderr).toContain(`${link} is a symlink (to ${target}) in ${sticky}, which others can write`);
    const c = await tc(['plan', await spec(path.join(sandbox, 'fine', 'svc'), '', undefined, stateLink)]);
    expect(c.code).toBe(1);
    expect(c.stdout + c.stderr).toContain(`the state directory: ${stateLink} is a symlink (to ${path.join(sandbox, 'planted-state')}) in ${sticky}, which others can write`);
    for (const s of [await spec(path.join(ww, 'svc')), await spec(link), await spec(path.join(sandbox, 'fine', 'svc'), '', undefined, stateLink)]) expect((await tc(['apply', s])).mutating).toEqual([]);
    expect(changed(before, await snapshot(sandbox))).toEqual([]);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('a relative directory resolves against the spec file and is created like any other', async () => {
    const specs = path.join(sandbox, 'rel-specs');
    await mkdir(specs, { mode: 0o755 });
    const s = await spec('../rel/svc', '', specs);
    const before = await snapshot(sandbox);
    const apply = await tc(['apply', s]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const svc = path.join(sandbox, 'rel', 'svc');
    expect(apply.stdout).toContain(`mkdir -m 0750 ${path.join(sandbox, 'rel')}`);
    const st = await lstat(svc);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([account!.uid, account!.gid, 0o700]);
    expect(changed(before, await snapshot(sandbox)).every((p) => p === 'rel' || p.startsWith('rel/') || p.startsWith('rel-specs/'))).toBe(true);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('keys exported by root into a directory: refused, then adopted file by file, and tor serves that key', async () => {
    const key = path.join(base, 'exported.key');
    const dir = path.join(sandbox, 'exported');
    const address = (await cli(['keys', 'generate', key])).stdout.trim();
    expect((await cli(['keys', 'export', key, dir])).code).toBe(0);
    const before = await snapshot(sandbox);
    const refused = await tc(['plan', await spec(dir)]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(`${dir} exists, is not empty and belongs to root:root (mode 0700)`);
    expect(changed(before, await snapshot(sandbox))).toEqual([]);

    const s = await spec(dir, `    adopt: true\n    address: ${address}\n`);
    const apply = await tc(['apply', s]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    for (const f of ['hs_ed25519_secret_key', 'hs_ed25519_public_key', 'hostname']) {
      expect(apply.stdout).toContain(`chown ${account!.uid}:${account!.gid} (${TOR_USER}:${TOR_USER}) ${path.join(dir, f)} (now 0:0; adopt: true)`);
      expect((await lstat(path.join(dir, f))).uid).toBe(account!.uid);
    }
    expect(await readFile(path.join(dir, 'hostname'), 'utf8')).toBe(`${address}\n`);
    expect(changed(before, await snapshot(sandbox)).every((p) => p === 'exported' || p.startsWith('exported/'))).toBe(true);
    expect(await torRunning()).toBe(true);
  }, 60_000);

  it('an empty directory tor does not own is fine: given to tor\'s user and group, shown as steps', async () => {
    const empty = path.join(sandbox, 'empty');
    await mkdir(empty, { mode: 0o755 });
    await chmod(empty, 0o755);
    const s = await spec(empty);
    const apply = await tc(['apply', s]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toContain(`chown ${account!.uid}:${account!.gid} (${TOR_USER}:${TOR_USER}) ${empty} (now 0:0; empty, given to tor)`);
    const st = await lstat(empty);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([account!.uid, account!.gid, 0o700]);
    expect(await torRunning()).toBe(true);
  }, 60_000);
});
