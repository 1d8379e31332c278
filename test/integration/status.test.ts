/**
 * Onion addresses are output (issue #14 part 4): every plan and apply view shows each declared service's
 * address, and `status` lists the services with address, ports, whether tor runs them and their descriptor.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const READ_ONLY = new Set(['GETINFO', 'GETCONF', 'ONION_CLIENT_AUTH_VIEW', 'SETEVENTS']);

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { TOR_RECONCILE_TRACE: '1' } };
  const code = await run(argv, io);
  const sent = stderr.split('\n').filter((l) => l.startsWith('> ') && !l.includes(' round trips ')).map((l) => l.slice(2));
  return { code, stdout, stderr, mutating: sent.filter((c) => !READ_ONLY.has(c.split(' ')[0]!)) };
}

const ADDRESS = /^[a-z2-7]{56}$/;
let work: string;
let tor: TestTor;
let control: string;
let spec: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'tr-st-'));
  tor = await startTestTor();
  control = formatControlAddress(tor.controlAddress);
  spec = path.join(work, 'spec.yaml');
  await writeFile(
    spec,
    [
      'version: 1',
      'stateDirectory: ./state',
      'onionServices:',
      '  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 8000 }] }',
      '  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 443, target: 8443 }] }',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await tor?.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('addresses in plan, apply and status', () => {
  let addresses: Record<string, string>;

  it('before the first apply: "(assigned by tor on apply)" in every plan view', async () => {
    const json = JSON.parse((await cli(['plan', spec, '--control', control, '--json'])).stdout);
    expect(json.plan.addresses).toEqual([
      { name: 'api', type: 'ephemeral', address: null },
      { name: 'web', type: 'filesystem', address: null },
    ]);
    expect((await cli(['plan', spec, '--control', control])).stdout).toMatch(/^ {2}api \(ephemeral\): \(assigned by tor on apply\)$/m);
    expect((await cli(['plan', spec, '--control', control, '--format', 'markdown'])).stdout).toMatch(/^- web \(filesystem\): \(assigned by tor on apply\)$/m);
  });

  it('apply shows the real addresses (human and JSON), and later plans know them ahead', async () => {
    const applied = await cli(['apply', spec, '--control', control, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    const result = JSON.parse(applied.stdout).result;
    addresses = Object.fromEntries(result.addresses.map((a: { name: string; address: string }) => [a.name, a.address]));
    expect(addresses.api).toMatch(ADDRESS);
    expect(addresses.web).toMatch(ADDRESS);
    expect((await readFile(path.join(work, 'hs/web/hostname'), 'utf8')).trim()).toBe(`${addresses.web}.onion`);
    expect((await tor.client.getInfo('onions/detached')).split('\n')).toContain(addresses.api);

    const human = await cli(['apply', spec, '--control', control]);
    expect(human.stdout).toContain(`api (ephemeral): ${addresses.api}.onion`);
    for (const format of ['human', 'markdown', 'json']) {
      const out = (await cli(['plan', spec, '--control', control, '--format', format])).stdout;
      expect(out).toContain(addresses.api);
      expect(out).toContain(addresses.web);
    }
  });

  it('status: each service with address, ports, running, descriptor; read-only', async () => {
    const st = await cli(['status', spec, '--control', control, '--json']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.mutating).toEqual([]);
    const report = JSON.parse(st.stdout);
    expect(report.target).toBe(control);
    expect(report.services).toEqual([
      { name: 'api', type: 'ephemeral', address: addresses.api, ports: ['80 127.0.0.1:8000'], running: true, descriptor: expect.any(Boolean) },
      { name: 'web', type: 'filesystem', address: addresses.web, ports: ['443 127.0.0.1:8443'], running: true, descriptor: expect.any(Boolean) },
    ]);
    const human = await cli(['status', spec, '--control', control]);
    expect(human.stdout).toMatch(new RegExp(`web \\(filesystem\\): ${addresses.web}\\.onion\\n\\s+ports: 443 127\\.0\\.0\\.1:8443\\n\\s+in tor now: yes`));

    // Removed behind tor-reconcile's back: status says tor no longer runs it.
    await tor.client.delOnion(addresses.api!);
    const gone = JSON.parse((await cli(['status', spec, '--control', control, '--json'])).stdout);
    expect(gone.services[0]).toMatchObject({ name: 'api', address: addresses.api, running: false, descriptor: null });
  });

  it('status of an embedded tor that is not running starts none, and still gives the addresses it knows', async () => {
    const embedded = path.join(work, 'embedded.yaml');
    await writeFile(embedded, 'version: 1\ntor:\n  launch: { dataDirectory: ./never-started }\nstateDirectory: ./state\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 8000 }] }\n');
    const st = await cli(['status', embedded, '--json']);
    expect(st.code, st.stderr).toBe(0);
    const report = JSON.parse(st.stdout);
    expect(report.torNotRunning).toMatch(/not running/);
    expect(report.services).toEqual([{ name: 'api', type: 'ephemeral', address: addresses.api, ports: ['80 127.0.0.1:8000'], running: false, descriptor: null }]);
    expect(existsSync(path.join(work, 'never-started'))).toBe(false);
    expect((await cli(['status', embedded])).stdout).toMatch(/^tor is not running/);
  });
});
