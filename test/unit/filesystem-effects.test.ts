/**
 * Filesystem effects (issue #20): the pure judgement of a walked path (fs-access.ts), the plan's directory
 * steps for a tor running as another user (plan-directories.ts), the secrets-on-disk checks, and, on a real
 * temporary tree, the walk (fs-probe.ts) and the apply-time re-checks (fs-effects.ts).
 */
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgePath, torCanTraverse } from '../../src/reconcile/fs-access.js';
import { ChangedSincePlanError, changeExisting, makeDirectory, removeFile, writeFileExclusive } from '../../src/reconcile/fs-effects.js';
import { probePath, readTorIdentity } from '../../src/reconcile/fs-probe.js';
import { computePlan } from '../../src/reconcile/plan.js';
import type { LiveServiceFiles, PathEntry, PathProbe, TorIdentity } from '../../src/reconcile/types.js';
import { loadSpec } from '../../src/spec/index.js';
import { desiredState, fsService, liveState, planCtx } from '../helpers/desired.js';

const tor: TorIdentity = { name: 'debian-tor', uid: 104, gid: 107, groups: [107], groupNames: { '0': 'root', '107': 'debian-tor' } };
const dir = (p: string, uid: number, gid: number, mode: number, extra: Partial<PathEntry> = {}): PathEntry => ({ path: p, in: p === '/' ? '' : path.dirname(p), kind: 'dir', uid, gid, mode, ...extra });
const missing = (p: string): PathEntry => ({ path: p, in: path.dirname(p), kind: 'missing' });
const probe = (real: string, entries: PathEntry[], given = real): PathProbe => ({ path: given, real, entries });
const root = dir('/', 0, 0, 0o755);

describe('judging a path for tor (pure)', () => {
  it('lets tor traverse by the owner, group or other bit that applies to it', () => {
    expect(torCanTraverse(dir('/a', 0, 0, 0o700), tor)).toBe(false);
    expect(torCanTraverse(dir('/a', 0, 107, 0o750), tor)).toBe(true);
    expect(torCanTraverse(dir('/a', 0, 5, 0o750), tor)).toBe(false);
    expect(torCanTraverse(dir('/a', 0, 0, 0o711), tor)).toBe(true);
    // The owner's bits decide for the owner, even when "other" would allow it.
    expect(torCanTraverse(dir('/a', 104, 0, 0o071), tor)).toBe(false);
    expect(torCanTraverse(dir('/a', 0, 0, 0o700), { uid: 0, groups: [] })).toBe(true);
  });

  it('refuses a parent tor cannot traverse, naming it, its owner and mode', () => {
    const v = judgePath(probe('/srv/hs', [root, dir('/srv', 0, 0, 0o700), dir('/srv/hs', 104, 107, 0o700)]), { tor, uid: 0 });
    expect(v.problems).toEqual([expect.stringContaining('tor runs as debian-tor and cannot traverse /srv (root:root, mode 0700)')]);
  });

  it('lists missing components top down, and refuses to create one in a directory others can write without a sticky bit', () => {
    const ok = judgePath(probe('/new/a/svc', [root, missing('/new'), missing('/new/a'), missing('/new/a/svc')]), { tor, uid: 0 });
    expect(ok).toMatchObject({ problems: [], missing: ['/new', '/new/a', '/new/a/svc'] });
    const ww = judgePath(probe('/ww/svc', [root, dir('/ww', 0, 0, 0o777), missing('/ww/svc')]), { tor, uid: 0 });
    expect(ww.problems).toEqual([expect.stringContaining('/ww/svc would be created in /ww, which others can write (root:root, mode 0777, no sticky bit)')]);
    // /tmp: sticky, so what we create there cannot be renamed by others.
    expect(judgePath(probe('/tmp/svc', [root, dir('/tmp', 0, 0, 0o1777), missing('/tmp/svc')]), { tor, uid: 0 }).problems).toEqual([]);
  });

  it('refuses a symlink in a directory others can write (the /tmp attack), follows one in a directory only root writes', () => {
    const planted: PathEntry = { path: '/tmp/svc', in: '/tmp', kind: 'symlink', uid: 1000, gid: 1000, mode: 0o777, target: '/home/x/svc' };
    const attack = judgePath(probe('/home/x/svc', [root, dir('/tmp', 0, 0, 0o1777), planted, dir('/home', 0, 0, 0o755), dir('/home/x', 1000, 1000, 0o755), dir('/home/x/svc', 1000, 1000, 0o700)], '/tmp/svc'), { tor, uid: 0 });
    expect(attack.problems[0]).toContain('/tmp/svc is a symlink (to /home/x/svc) in /tmp, which others can write');
    const link: PathEntry = { path: '/var/run', in: '/var', kind: 'symlink', uid: 0, gid: 0, mode: 0o777, target: '/run' };
    const fine = judgePath(probe('/run/hs', [root, dir('/var', 0, 0, 0o755), link, dir('/run', 0, 0, 0o755), missing('/run/hs')], '/var/run/hs'), { tor, uid: 0 });
    expect(fine).toMatchObject({ problems: [], missing: ['/run/hs'] });
  });

  it('refuses a directory owned by another user anywhere above the target: they can replace what is below', () => {
    const v = judgePath(probe('/home/x/hs', [root, dir('/home', 0, 0, 0o755), dir('/home/x', 1000, 1000, 0o755), missing('/home/x/hs')]), { tor, uid: 0 });
    expect(v.problems).toEqual(["/home/x/hs would be created in /home/x, which its owner, neither root nor tor's user, can write (uid 1000:gid 1000, mode 0755): they could replace it before tor uses it"]);
    const existing = judgePath(probe('/home/x/hs', [root, dir('/home', 0, 0, 0o755), dir('/home/x', 1000, 1000, 0o755), dir('/home/x/hs', 104, 107, 0o700)]), { tor, uid: 0 });
    expect(existing.problems).toEqual([expect.stringContaining('/home/x/hs is in /home/x, which its owner, neither root nor tor\'s user, can write')]);
  });
});

describe('planning a service directory for tor running as debian-tor (as root)', () => {
  const live = (files: Partial<LiveServiceFiles>, dirPath = '/srv/hs') => liveState({ torUid: 104, torUser: tor, serviceFiles: new Map([[dirPath, { clients: new Map(), exists: false, ...files }]]) });
  const svc = (extra = {}) => fsService('web', '/srv/hs', [[80, '127.0.0.1:8080']], extra);
  const srv = dir('/srv', 0, 0, 0o755);

  it('creates missing parents 0750 with tor\'s group and the directory for tor\'s user and group', () => {
    const p = computePlan(desiredState('/s', { onionServices: [svc()] }), live({ probe: probe('/srv/hs', [root, missing('/srv'), missing('/srv/hs')]) }), planCtx);
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => s.display)).toEqual([
      "mkdir -m 0750 /srv, group 107 (debian-tor) (a parent: tor's group may traverse it, others may not)",
      'mkdir -m 0700 /srv/hs, owner 104:107 (debian-tor:debian-tor)',
      expect.stringMatching(/^SETCONF HiddenServiceDir="\/srv\/hs"/),
    ]);
    expect(p.steps[1]).toMatchObject({ op: 'mkdir', owner: { uid: 104, gid: 107 } });
  });

  it('refuses a service inside a state directory apply would make private, for a tor running as another user', () => {
    const l = liveState({ torUid: 104, torUser: tor, serviceFiles: new Map([['/st/hs', { clients: new Map(), exists: false, probe: probe('/st/hs', [root, missing('/st'), missing('/st/hs')]) }]]) });
    const p = computePlan(desiredState('/st', { onionServices: [fsService('web', '/st/hs', [[80, '127.0.0.1:8080']])] }), l, planCtx);
    expect(p.errors.map((e) => e.message)).toEqual([expect.stringContaining('/st/hs is inside the state directory /st, which tor-reconcile keeps private')]);
    // The same tor user as ours: fine, the state directory is a parent like any other (kept if the lock made it).
    const same = computePlan(desiredState('/st', { onionServices: [fsService('web', '/st/hs', [[80, '127.0.0.1:8080']])] }), { ...l, torUid: 0, torUser: { uid: 0, groups: [0] } }, planCtx);
    expect(same.errors).toEqual([]);
    expect(same.steps[0]).toMatchObject({ op: 'mkdir', path: '/st', mode: 0o700, parent: true });
  });

  it('creates a parent two new services share once', () => {
    const two = [fsService('a', '/srv/a', [[80, '127.0.0.1:8080']]), fsService('b', '/srv/b', [[80, '127.0.0.1:8081']])];
    const l = liveState({
      torUid: 104,
      torUser: tor,
      serviceFiles: new Map(['/srv/a', '/srv/b'].map((d) => [d, { clients: new Map(), exists: false, probe: probe(d, [root, missing('/srv'), missing(d)]) }])),
    });
    expect(computePlan(desiredState('/s', { onionServices: two }), l, planCtx).steps.filter((s) => s.op === 'mkdir').map((s) => (s as { path: string }).path)).toEqual(['/srv', '/srv/a', '/srv/b']);
  });

  it('refuses a foreign, non-empty directory with its owner, mode and both fixes; adopt: true makes that steps', () => {
    const foreign = live({ exists: true, mode: 0o755, probe: probe('/srv/hs', [root, srv, dir('/srv/hs', 0, 0, 0o755, { empty: false })]) });
    const refused = computePlan(desiredState('/s', { onionServices: [svc()] }), foreign, planCtx);
    expect(refused.errors.map((e) => e.message)).toEqual([
      expect.stringContaining('/srv/hs exists, is not empty and belongs to root:root (mode 0755), not to tor\'s user debian-tor: tor-reconcile does not take over a directory it did not create. Declare adopt: true'),
    ]);
    expect(refused.steps.filter((s) => s.op !== 'setconf')).toEqual([]);
    const adopted = computePlan(desiredState('/s', { onionServices: [svc({ adopt: true })] }), foreign, planCtx);
    expect(adopted.errors).toEqual([]);
    expect(adopted.steps.slice(0, 2)).toMatchObject([
      { op: 'chmod', path: '/srv/hs', mode: 0o700, from: { uid: 0, gid: 0, mode: 0o755 } },
      { op: 'chown', path: '/srv/hs', owner: { uid: 104, gid: 107 }, from: { uid: 0, gid: 0, mode: 0o700 } },
    ]);
    expect(adopted.steps[1]!.display).toBe('chown 104:107 (debian-tor:debian-tor) /srv/hs (now 0:0; adopt: true)');
  });

  it('takes an empty directory without adopt, and leaves one tor owns as it is', () => {
    const empty = computePlan(desiredState('/s', { onionServices: [svc()] }), live({ exists: true, mode: 0o700, probe: probe('/srv/hs', [root, srv, dir('/srv/hs', 0, 0, 0o700, { empty: true })]) }), planCtx);
    expect(empty.steps.map((s) => s.op)).toEqual(['chown', 'setconf']);
    const owned = computePlan(desiredState('/s', { onionServices: [svc()] }), live({ exists: true, mode: 0o700, probe: probe('/srv/hs', [root, srv, dir('/srv/hs', 104, 5, 0o700, { empty: false })]) }), planCtx);
    expect(owned.steps.map((s) => s.op)).toEqual(['setconf']);
  });

  it('applies the same rule to authorized_clients/', () => {
    const withClient = svc({ authorizedClients: [{ name: 'alice', publicKey: 'A'.repeat(52) }] });
    const files = { exists: true, mode: 0o700, probe: probe('/srv/hs', [root, srv, dir('/srv/hs', 104, 107, 0o700, { empty: false })]), authDir: dir('/srv/hs/authorized_clients', 0, 0, 0o755, { empty: false }) };
    const p = computePlan(desiredState('/s', { onionServices: [withClient] }), live(files), planCtx);
    expect(p.errors.map((e) => e.message)).toEqual([expect.stringContaining('/srv/hs/authorized_clients exists, is not empty and belongs to root:root')]);
  });

  it('refuses key files tor does not own in its own directory unless adopted, and a key file that is a symlink', () => {
    const keyFile: PathEntry = { path: '/srv/hs/hs_ed25519_secret_key', in: '/srv/hs', kind: 'file', uid: 0, gid: 0, mode: 0o600 };
    const files = (torFiles: PathEntry[]) => live({ exists: true, mode: 0o700, probe: probe('/srv/hs', [root, srv, dir('/srv/hs', 104, 107, 0o700, { empty: false })]), torFiles });
    const refused = computePlan(desiredState('/s', { onionServices: [svc()] }), files([keyFile]), planCtx);
    expect(refused.errors.map((e) => e.message)).toEqual([expect.stringContaining("/srv/hs/hs_ed25519_secret_key belongs to root:root (mode 0600), not to tor's user debian-tor")]);
    const adopted = computePlan(desiredState('/s', { onionServices: [svc({ adopt: true })] }), files([keyFile]), planCtx);
    expect(adopted.steps[0]).toMatchObject({ op: 'chown', path: keyFile.path, owner: { uid: 104, gid: 107 }, from: { uid: 0, gid: 0, mode: 0o600 } });
    const link = computePlan(desiredState('/s', { onionServices: [svc({ adopt: true })] }), files([{ ...keyFile, kind: 'symlink', target: '/etc/shadow' }]), planCtx);
    expect(link.errors.map((e) => e.message)).toEqual([expect.stringContaining('/srv/hs/hs_ed25519_secret_key is a symlink (to /etc/shadow)')]);
    expect(computePlan(desiredState('/s', { onionServices: [svc()] }), files([{ ...keyFile, uid: 104 }]), planCtx).errors).toEqual([]);
  });

  it('checks the state directory and warns about key files others can read', () => {
    const walked = (e: PathEntry) => probe(e.path, [root, dir(e.in, 0, 0, 0o755), e]);
    const local = (sd: PathEntry, key?: PathEntry) => liveState({ localFiles: { stateDirectory: walked(sd), keyFiles: new Map(key ? [[key.path, walked(key)]] : []) } });
    const theirs = computePlan(desiredState('/s'), local(dir('/s', 1000, 1000, 0o700)), planCtx);
    expect(theirs.errors.map((e) => e.message)).toEqual([expect.stringContaining('the state directory /s belongs to uid 1000, not to the user running tor-reconcile (uid 0)')]);
    const open = computePlan(desiredState('/s'), local(dir('/s', 0, 0, 0o777)), planCtx);
    expect(open.errors.map((e) => e.message)).toEqual([expect.stringContaining('is writable by others (mode 0777)')]);
    const key: PathEntry = { path: '/s/keys/api.key', in: '/s/keys', kind: 'file', uid: 0, gid: 0, mode: 0o644 };
    const readable = computePlan(desiredState('/s'), local(dir('/s', 0, 0, 0o700), key), planCtx);
    expect(readable.errors).toEqual([]);
    expect(readable.warnings.map((w) => w.message)).toEqual([expect.stringContaining('key file /s/keys/api.key is accessible to group or others (mode 0644)')]);
    expect(computePlan(desiredState('/s'), local(dir('/s', 0, 0, 0o700), { ...key, mode: 0o600 }), planCtx).warnings).toEqual([]);
    // A symlink another user planted in a sticky /tmp: the state directory (and a key file) would be theirs to point.
    const planted = (p: string): PathProbe => probe('/home/x/' + path.basename(p), [root, dir('/tmp', 0, 0, 0o1777), { path: p, in: '/tmp', kind: 'symlink', uid: 1000, gid: 1000, mode: 0o777, target: '/home/x/' + path.basename(p) }, dir('/home', 0, 0, 0o755), dir('/home/x', 1000, 1000, 0o755), dir('/home/x/' + path.basename(p), 0, 0, 0o700)], p);
    const swapped = computePlan(desiredState('/tmp/state'), liveState({ localFiles: { stateDirectory: planted('/tmp/state'), keyFiles: new Map([['/tmp/k', planted('/tmp/k')]]) } }), planCtx);
    expect(swapped.errors.map((e) => e.message)).toEqual([
      expect.stringContaining('the state directory: /tmp/state is a symlink (to /home/x/state) in /tmp, which others can write'),
      expect.stringContaining('key file /tmp/k: /tmp/k is a symlink (to /home/x/k) in /tmp'),
    ]);
  });
});

describe('on a real tree', () => {
  let t: string;
  beforeAll(async () => {
    t = await mkdtemp(path.join(os.tmpdir(), 'tr-fs-'));
  });
  afterAll(async () => {
    await rm(t, { recursive: true, force: true });
  });

  it('walks a path through a symlink to its real place, and gives up on a loop', async () => {
    await mkdir(path.join(t, 'real', 'hs'), { recursive: true });
    await symlink('real', path.join(t, 'link'));
    const p = await probePath(path.join(t, 'link', 'hs', 'new'));
    expect(p.real).toBe(path.join(t, 'real', 'hs', 'new'));
    expect(p.entries.find((e) => e.path === path.join(t, 'link'))).toMatchObject({ kind: 'symlink', target: path.join(t, 'real') });
    expect(p.entries.at(-1)).toMatchObject({ kind: 'missing', path: path.join(t, 'real', 'hs', 'new') });
    await symlink('loop', path.join(t, 'loop'));
    expect((await probePath(path.join(t, 'loop', 'x'))).error).toMatch(/more than 40 symlinks/);
  });

  it('reads tor\'s groups from the passwd and group files', async () => {
    await writeFile(path.join(t, 'passwd'), 'root:x:0:0::/root:/bin/sh\ndebian-tor:x:104:107::/var/lib/tor:/bin/false\n');
    await writeFile(path.join(t, 'group'), 'root:x:0:\ndebian-tor:x:107:\nshared:x:300:alice,debian-tor\n');
    expect(await readTorIdentity('debian-tor', 104, { passwd: path.join(t, 'passwd'), group: path.join(t, 'group') })).toEqual({
      name: 'debian-tor',
      uid: 104,
      gid: 107,
      groups: [107, 300],
      groupNames: { '0': 'root', '107': 'debian-tor', '300': 'shared' },
    });
    expect(await readTorIdentity(undefined, 4242, { passwd: path.join(t, 'passwd'), group: path.join(t, 'group') })).toMatchObject({ uid: 4242, groups: [] });
  });

  it('creates a directory exclusively and refuses one that appeared, or a symlink above it', async () => {
    const d = path.join(t, 'made');
    await makeDirectory(d, 0o750);
    expect((await lstat(d)).mode & 0o7777).toBe(0o750);
    await expect(makeDirectory(d, 0o700)).rejects.toThrow(/appeared since the plan was made/);
    // A parent found made (by apply's lock, say) is kept when it is ours and others cannot write it.
    await makeDirectory(d, 0o700, undefined, true);
    expect((await lstat(d)).mode & 0o7777).toBe(0o750);
    await chmod(d, 0o777);
    await expect(makeDirectory(d, 0o700, undefined, true)).rejects.toThrow(/appeared since the plan was made/);
    await chmod(d, 0o750);
    await symlink(d, path.join(t, 'swapped'));
    await expect(makeDirectory(path.join(t, 'swapped', 'x'), 0o700)).rejects.toThrow(ChangedSincePlanError);
    expect(await readdir(d)).toEqual([]);
  });

  it('changes an existing directory only if it is what the plan saw, and never through a symlink', async () => {
    const d = path.join(t, 'existing');
    await mkdir(d);
    await chmod(d, 0o755);
    const st = await lstat(d);
    await expect(changeExisting(d, { uid: st.uid, gid: st.gid, mode: 0o700 }, { mode: 0o700 })).rejects.toThrow(/changed since the plan was made \(then .* mode 0700, now .* mode 0755\)/);
    await changeExisting(d, { uid: st.uid, gid: st.gid, mode: 0o755 }, { mode: 0o700 });
    expect((await lstat(d)).mode & 0o7777).toBe(0o700);
    await symlink(d, path.join(t, 'to-existing'));
    await expect(changeExisting(path.join(t, 'to-existing'), { uid: st.uid, gid: st.gid, mode: 0o700 }, { mode: 0o777 })).rejects.toThrow(/is now a symlink/);
    expect((await lstat(d)).mode & 0o7777).toBe(0o700);
  });

  it('writes a file in place of a symlink without following it, and removes files and links but never a directory', async () => {
    const victim = path.join(t, 'victim');
    await writeFile(victim, 'keep\n');
    const file = path.join(t, 'client.auth');
    await symlink(victim, file);
    await writeFileExclusive(file, 'descriptor:x25519:AAAA\n', 0o600);
    expect(await readFile(victim, 'utf8')).toBe('keep\n');
    expect((await lstat(file)).isFile()).toBe(true);
    expect((await lstat(file)).mode & 0o777).toBe(0o600);
    expect((await readdir(t)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await expect(removeFile(path.join(t, 'existing'))).rejects.toThrow(/is now a directory/);
    await removeFile(file);
    await removeFile(file);
    const stale = path.join(t, 'stale.auth');
    await symlink(victim, stale);
    await removeFile(stale);
    expect(await readdir(t)).not.toContain('stale.auth');
    expect(await readFile(victim, 'utf8')).toBe('keep\n');
  });

  it('warns about a ${file:} secret others can read, as ssh does', async () => {
    const secret = path.join(t, 'pw');
    await writeFile(secret, 'hunter2\n', { mode: 0o644 });
    await chmod(secret, 0o644);
    const spec = path.join(t, 'spec.yaml');
    await writeFile(spec, 'version: 1\ntor:\n  control: unix:/nonexistent\n  password: ${file:./pw}\n');
    const loud = await loadSpec([spec]);
    expect(loud.warnings.map((w) => w.message)).toEqual([expect.stringContaining(`\${file:./pw} (${secret}) is accessible to group or others (mode 0644); anyone who can read it has the secret. chmod 600 ${secret}`)]);
    await chmod(secret, 0o600);
    expect((await loadSpec([spec])).warnings).toEqual([]);
  });
});
