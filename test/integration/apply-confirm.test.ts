import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldConfirm } from '../../src/cli/confirm.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const main = path.join(import.meta.dirname, '../../dist/cli/main.cjs');

describe('whether apply asks for yes', () => {
  it('asks only a person at a terminal, for a plan not reviewed before, when not told otherwise', () => {
    const base = { interactive: true, autoApprove: false, savedPlan: false, json: false };
    expect(shouldConfirm(base)).toBe(true);
    expect(shouldConfirm({ ...base, interactive: false })).toBe(false);
    expect(shouldConfirm({ ...base, autoApprove: true })).toBe(false);
    expect(shouldConfirm({ ...base, savedPlan: true })).toBe(false);
    expect(shouldConfirm({ ...base, json: true })).toBe(false);
  });
});

// The built CLI on a pseudo-terminal (util-linux `script`), answering from a pipe.
describe('apply on a terminal', () => {
  let tor: TestTor;
  let work: string;
  let spec: string;
  beforeAll(async () => {
    tor = await startTestTor();
    work = await mkdtemp(path.join(os.tmpdir(), 'tr-confirm-'));
    spec = path.join(work, 'spec.yaml');
    await writeFile(spec, 'version: 1\noptions:\n  ContactInfo: confirmed@example.org\n');
  });
  afterAll(async () => {
    await tor?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  const onTerminal = (answer: string, ...extra: string[]) => {
    const command = ['node', main, 'apply', spec, '--control', formatControlAddress(tor.controlAddress), ...extra].join(' ');
    return spawnSync('script', ['-qec', command, '/dev/null'], { input: answer, encoding: 'utf8', timeout: 60_000 });
  };
  const contactInfo = async () => (await tor.client.getConf(['ContactInfo'])).get('ContactInfo');

  it('shows the plan, and changes nothing unless the answer is yes', async () => {
    const no = onTerminal('y\n');
    expect(no.stdout).toContain('ContactInfo');
    expect(no.stdout).toContain("Apply these changes? Only 'yes' is accepted:");
    expect(no.stdout).toContain('apply cancelled: nothing was changed');
    expect(no.status).toBe(1);
    expect(await contactInfo()).not.toEqual(['confirmed@example.org']);

    const yes = onTerminal('yes\n');
    expect(yes.status, yes.stdout).toBe(0);
    expect(await contactInfo()).toEqual(['confirmed@example.org']);
  });

  it('--auto-approve does not ask', async () => {
    await tor.client.resetConf(['ContactInfo']);
    const r = onTerminal('', '--auto-approve');
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).not.toContain('Apply these changes?');
    expect(await contactInfo()).toEqual(['confirmed@example.org']);
  });
});
