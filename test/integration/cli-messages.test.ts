import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { cliInProcess } from '../helpers/cli.js';

const cli = (argv: string[]) => cliInProcess(argv);

describe('messages that name the real cause', () => {
  let tor: TestTor;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'tr-msg-'));
    // A SocksPort configured while DisableNetwork 1 keeps every listener but the control port closed.
    tor = await startTestTor({ options: { SocksPort: '127.0.0.1:auto' } });
  });
  afterAll(async () => {
    await tor?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('check: a SocksPort closed by DisableNetwork is named as such, not as missing', async () => {
    const spec = path.join(work, 'check.yaml');
    await writeFile(spec, 'version: 1\nstateDirectory: ./state\nonionServices:\n  - { name: web, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n');
    const r = await cli(['check', spec, '--control', formatControlAddress(tor.controlAddress)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the spec's tor runs with DisableNetwork 1: its SocksPort (127.0.0.1:auto) is configured but closed");
    expect(r.stderr).not.toMatch(/has no TCP SocksPort/);
  });

  it('a saved plan run twice: the second run says "already applied"; a stale one names what changed', async () => {
    const spec = path.join(work, 'saved.yaml');
    await writeFile(spec, 'version: 1\noptions:\n  ContactInfo: twice@example.org\n  NumEntryGuards: 2\n');
    const control = formatControlAddress(tor.controlAddress);
    const file = path.join(work, 'plan.json');
    expect((await cli(['plan', spec, '--control', control, '--out', file])).code).toBe(0);
    expect((await cli(['apply', file, '--control', control])).code).toBe(0);
    const again = await cli(['apply', file, '--control', control]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already applied: tor already matches what this plan makes it/);

    await tor.client.resetConf(['ContactInfo', 'NumEntryGuards']);
    expect((await cli(['plan', spec, '--control', control, '--out', file])).code).toBe(0);
    await tor.client.setConf({ NumEntryGuards: '3' });
    const stale = await cli(['apply', file, '--control', control]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("stale plan: tor's state changed since the plan was made (option NumEntryGuards); run plan again");
  });

  it('keys client-auth --help shows where the private line goes, not an empty default', async () => {
    const r = await cli(['keys', 'client-auth', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('default NAME.auth_private');
    expect(r.stdout).not.toContain('(default: "")');
  });
});
