/**
 * Issue #21: a spec's file references stay inside the spec's directory tree (symlinks resolved) unless
 * --allow-path allows more; a reference outside is an error at file:line:col, raised before it is opened.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confinement, outsideRoots, realTarget } from '../../src/spec/confine.js';
import { loadSpec, SpecErrors } from '../../src/spec/index.js';
import { cliInProcess as cli } from '../helpers/cli.js';

let base: string;
let tree: string;
let outside: string;

beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'tr-confine-'));
  tree = path.join(base, 'repo');
  outside = path.join(base, 'elsewhere');
  await mkdir(path.join(tree, 'secrets'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(tree, 'secrets', 'pw'), 'inside\n');
  await writeFile(path.join(outside, 'pw'), 'outside\n');
  await symlink(outside, path.join(tree, 'escape'));
  await symlink(path.join(outside, 'not-yet'), path.join(tree, 'dangling'));
  await symlink(path.join(tree, 'loop-b'), path.join(tree, 'loop-a'));
  await symlink(path.join(tree, 'loop-a'), path.join(tree, 'loop-b'));
});

afterAll(() => rm(base, { recursive: true, force: true }));

async function errors(body: string, allow?: string[]): Promise<string[]> {
  const file = path.join(tree, 'spec.yaml');
  await writeFile(file, `version: 1\n${body}`);
  try {
    await loadSpec([file], { confine: { ...(allow ? { allow } : {}) }, env: {} });
    return [];
  } catch (err) {
    if (!(err instanceof SpecErrors)) throw err;
    return err.errors.map((e) => `${e.line}:${e.col} ${e.message}`);
  }
}

describe('realTarget', () => {
  it('follows symlinks of the existing part, dangling ones through their target, and gives up on loops', () => {
    expect(realTarget(path.join(tree, 'escape', 'pw'))).toBe(path.join(outside, 'pw'));
    expect(realTarget(path.join(tree, 'escape', 'new', 'file'))).toBe(path.join(outside, 'new', 'file'));
    expect(realTarget(path.join(tree, 'dangling'))).toBe(path.join(outside, 'not-yet'));
    expect(realTarget(path.join(tree, 'nothing', 'here'))).toBe(path.join(tree, 'nothing', 'here'));
    expect(realTarget(path.join(tree, 'loop-a'))).toBeUndefined();
  });

  it("takes a link's '..' from where its symlinked part really is, as the kernel does, not lexically", async () => {
    // up -> escape/../gone: escape is elsewhere/, so up names <base>/gone, not repo/gone.
    await symlink('escape/../gone', path.join(tree, 'up'));
    expect(realTarget(path.join(tree, 'up'))).toBe(path.join(base, 'gone'));
    expect(outsideRoots(confinement([tree]), path.join(tree, 'up', 'key'))).toMatch(/resolves to .*gone/);
  });

  it('a load that resolves many names in one directory gives each the answer a fresh resolution gives', () => {
    const c = confinement([tree]);
    const names = ['escape/pw', 'escape/x', 'dangling', 'secrets/pw', 'secrets/new', 'escape/pw', 'dangling'];
    for (const n of names) expect(outsideRoots(c, path.join(tree, n)) === undefined).toBe(realTarget(path.join(tree, n))!.startsWith(tree + path.sep));
    expect(outsideRoots(c, path.join(tree, 'loop-a'))).toMatch(/symlink loop/);
    expect(outsideRoots(c, path.join(tree, 'loop-a'))).toMatch(/symlink loop/);
  });

  it('a root is not a prefix of its sibling (/repo does not hold /repo-other)', () => {
    const c = confinement([tree]);
    expect(outsideRoots(c, path.join(tree, 'a'))).toBeUndefined();
    expect(outsideRoots(c, tree)).toBeUndefined();
    expect(outsideRoots(c, `${tree}-other/a`)).toMatch(/outside the spec's directory tree/);
  });
});

describe('loadSpec with confine', () => {
  it('refuses ${file:} outside the tree at its line and column, before reading it', async () => {
    const got = await errors('options:\n  ContactInfo: ${file:../elsewhere/pw}\n');
    expect(got).toEqual([expect.stringMatching(/^3:16 options\.ContactInfo: \$\{file:\.\.\/elsewhere\/pw\}: .*elsewhere\/pw is outside the spec's directory tree/)]);
    expect(await errors('options:\n  ContactInfo: ${file:/etc/shadow}\n')).toEqual([expect.stringMatching(/^3:16 .*\/etc\/shadow is outside/)]);
    expect(await errors('options:\n  ContactInfo: ${file:./secrets/pw}\n')).toEqual([]);
  });

  it('resolves symlinks: a link in the tree that points out is outside, also when dangling', async () => {
    expect(await errors('options:\n  ContactInfo: ${file:escape/pw}\n')).toEqual([expect.stringMatching(/^3:16 .*escape\/pw, which resolves to .*elsewhere\/pw, is outside/)]);
    expect(await errors('stateDirectory: ./dangling\n')).toEqual([expect.stringMatching(/^2:17 stateDirectory: .*dangling, which resolves to .*elsewhere\/not-yet, is outside/)]);
    expect(await errors('stateDirectory: ./loop-a\n')).toEqual([expect.stringMatching(/^2:17 stateDirectory: .*loop-a cannot be resolved/)]);
  });

  it('checks key.file, directories, persist.file, tor.cookieFile and the defaults', async () => {
    const got = await errors(
      [
        'tor: { control: "tcp:127.0.0.1:9051", cookieFile: /run/tor/control.authcookie }',
        'persist: { file: /etc/tor/torrc.d/x.conf }',
        'onionServices:',
        '  - { name: a, type: ephemeral, key: { file: ../elsewhere/a.key }, ports: [{ port: 80 }] }',
        '  - { name: b, type: filesystem, directory: /var/lib/tor/b, ports: [{ port: 80 }] }',
        '',
      ].join('\n'),
    );
    expect(got.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual(['2:51 tor.cookieFile:', '3:18 persist.file:', '5:38 onionServices[0].key:', '6:45 onionServices[1].directory:']);
    // A generated key under a state directory whose keys/ is a committed symlink out of the tree.
    await mkdir(path.join(tree, 'st'), { recursive: true });
    await symlink(outside, path.join(tree, 'st', 'keys')).catch(() => {});
    const keys = await errors('stateDirectory: ./st\nonionServices:\n  - { name: g, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n');
    expect(keys.join('\n')).toMatch(/st\/keys, which resolves to .*elsewhere, is outside/);
  });

  it('refuses a symlink inside a directory plan reads (hostname -> elsewhere)', async () => {
    await mkdir(path.join(tree, 'hs', 'web'), { recursive: true });
    await symlink(path.join(outside, 'pw'), path.join(tree, 'hs', 'web', 'hostname')).catch(() => {});
    const got = await errors('onionServices:\n  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 80 }] }\n');
    expect(got).toEqual([expect.stringMatching(/^3:47 onionServices\[0\]\.directory: the symlink .*hs\/web\/hostname, which resolves to .*elsewhere\/pw, is outside/)]);
    await rm(path.join(tree, 'hs'), { recursive: true });
  });

  it('--allow-path DIR lets references lead into DIR', async () => {
    expect(await errors('options:\n  ContactInfo: ${file:escape/pw}\n', [outside])).toEqual([]);
    expect(await errors('options:\n  ContactInfo: ${file:../elsewhere/pw}\n', [outside])).toEqual([]);
  });

  it('without confine (a library caller that did not ask), nothing is refused', async () => {
    const file = path.join(tree, 'spec.yaml');
    await writeFile(file, 'version: 1\noptions:\n  ContactInfo: ${file:../elsewhere/pw}\n');
    await expect(loadSpec([file], { env: {} })).resolves.toBeDefined();
  });
});

describe('the CLI confines', () => {
  it('validate and plan refuse a reference outside, and accept it with --allow-path', async () => {
    const file = path.join(tree, 'cli.yaml');
    await writeFile(file, 'version: 1\ntor: { control: "unix:/nonexistent/control" }\noptions:\n  ContactInfo: ${file:../elsewhere/pw}\n');
    const validate = await cli(['validate', file]);
    expect(validate.code).toBe(1);
    expect(validate.stderr).toMatch(/cli\.yaml:4:16: .*outside the spec's directory tree/);
    const plan = await cli(['plan', file]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/cli\.yaml:4:16: .*outside the spec's directory tree/);
    expect((await cli(['validate', file, '--allow-path', outside])).code).toBe(0);
    expect((await cli(['apply', file])).stderr).toMatch(/outside the spec's directory tree/);
  });
});
