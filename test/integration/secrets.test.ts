/**
 * Secret material must never reach stdout, stderr, plan files or the state file: run every command with
 * secrets in play and grep everything they wrote.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/program.js';
import { loadKeyFile } from '../../src/reconcile/local.js';
import { formatControlAddress } from '../../src/tor/address.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const PASSWORD = 'pw-9f8e7d6c5b4a';
const CONTACT = 'secret-contact-31415926';

let tor: TestTor;
let dir: string;
const outputs: string[] = [];

async function cli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { TOR_RECONCILE_TRACE: '1', TR_PW: PASSWORD, TR_CONTACT: CONTACT, ...env } };
  const code = await run(argv, io);
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  const hash = execFileSync('tor', ['--quiet', '--hash-password', PASSWORD], { encoding: 'utf8' }).trim().split('\n').pop()!;
  tor = await startTestTor({ options: { HashedControlPassword: hash } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-'));
});
afterAll(async () => {
  await tor?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('secrets never leak', () => {
  it('through validate, plan (every format), saved plans, apply, diff, status and export (live, via a spec, --torrc)', async () => {
    const service = await tor.client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'] });
    const client = generateClientAuthKeyPair();
    await writeFile(path.join(dir, 'alice.auth_private'), clientAuthPrivateLine(service.serviceId, client.privateKey).reveal() + '\n', { mode: 0o600 });
    const pinnedKey = generateServiceKey();
    await writeFile(path.join(dir, 'pinned.key'), pinnedKey.toAddOnionBlob().reveal() + '\n', { mode: 0o600 });
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(
      spec,
      [
        'version: 1',
        'tor:',
        `  control: ${formatControlAddress(tor.controlAddress)}`,
        '  password: ${env:TR_PW}',
        'options:',
        '  ContactInfo: ${env:TR_CONTACT}',
        'onionServices:',
        '  - { name: gen, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }',
        `  - { name: pinned, type: ephemeral, key: { file: ./pinned.key }, address: ${pinnedKey.address}, ports: [{ port: 81, target: 127.0.0.1:9001 }],`,
        `      authorizedClients: [{ name: alice, publicKey: ${client.publicKey} }] }`,
        'clientAuth:',
        '  - { privateKey: "${file:./alice.auth_private}", name: alice }',
        '',
      ].join('\n'),
    );
    const summary = path.join(dir, 'summary.md');
    const planFile = path.join(dir, 'plan.json');
    expect((await cli(['validate', spec])).code).toBe(0);
    await cli(['validate', spec, '--json']);
    for (const format of ['human', 'json', 'markdown', 'github']) expect((await cli(['plan', spec, '--format', format], { GITHUB_STEP_SUMMARY: summary })).code).toBe(0);
    expect((await cli(['plan', spec, '--out', planFile])).code).toBe(0);
    expect((await stat(planFile)).mode & 0o777).toBe(0o600);
    const applied = await cli(['apply', planFile]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    // The secrets were really used: tor holds the ${env:} value, the client credential, both services.
    expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).toEqual([CONTACT]);
    expect((await tor.client.onionClientAuthView(service.serviceId))[0]!.privateKey.reveal()).toBe(client.privateKeyBase64.reveal());
    expect(await tor.client.getInfo('onions/detached')).toContain(pinnedKey.address);
    await cli(['apply', spec, '--json']);
    await cli(['diff', spec]);
    await tor.client.setConf({ ContactInfo: 'drifted' });
    await cli(['diff', spec]);
    await cli(['plan', spec, '--format', 'json']);
    // status prints the services' addresses from their keys, never the keys.
    expect((await cli(['status', spec])).code).toBe(0);
    expect(JSON.parse((await cli(['status', spec, '--json'])).stdout).services.map((s: { address: string }) => s.address)).toContain(pinnedKey.address);
    // tor 0.4.9.11 forgets non-permanent client credentials on any SETCONF (the drift above): apply restores it.
    expect((await cli(['apply', spec])).code).toBe(0);
    expect(await tor.client.onionClientAuthView()).toHaveLength(1);
    // export, every way: tor's live configuration (ContactInfo included) is what it prints.
    const exportsFrom = outputs.length;
    const control = formatControlAddress(tor.controlAddress);
    const exported = await cli(['export', '--control', control, '--password-env', 'TR_PW']);
    // An instance option, in the closing comment, as a reference.
    expect(exported.stdout, exported.stderr).toContain('#     HashedControlPassword: ${env:TOR_HASHED_CONTROL_PASSWORD}');
    const everything = await cli(['export', '--control', control, '--password-env', 'TR_PW', '--include-instance', '--all', '--comments']);
    expect(everything.stdout, everything.stderr).toMatch(/^ {2}HashedControlPassword: \$\{env:TOR_HASHED_CONTROL_PASSWORD\}$/m);
    // Through the spec: its ephemeral services (keys by reference) and tor's client credential (a 0600 file).
    const exportFile = path.join(dir, 'exported.yaml');
    const viaSpec = await cli(['export', spec, '-o', exportFile]);
    expect(viaSpec.code, viaSpec.stderr).toBe(0);
    const exportText = await readFile(exportFile, 'utf8');
    outputs.push(exportText);
    expect(exportText).toContain('file: ./.tor-reconcile/keys/gen.key');
    expect(exportText).toContain('file: ./pinned.key');
    expect(exportText).toContain('privateKey: ${file:./secrets/alice.auth_private}');
    expect((await stat(path.join(dir, 'secrets/alice.auth_private'))).mode & 0o777).toBe(0o600);
    // Offline, from tor's own torrc (which holds the password hash).
    await tor.client.saveConf();
    const offline = await cli(['export', '--torrc', tor.torrcPath, '--defaults-torrc', path.join(tor.dataDirectory, 'torrc-defaults'), '--include-instance']);
    expect(offline.stdout, offline.stderr).toContain('HashedControlPassword: ${env:TOR_HASHED_CONTROL_PASSWORD}');
    const exportsTo = outputs.length;
    for (const text of outputs.slice(exportsFrom)) expect(text).not.toMatch(/16:[0-9A-F]{20}/);
    // A wrong password must not be echoed either.
    await cli(['plan', spec], { TR_PW: 'wrong-pw-271828' });

    const generated = await loadKeyFile(path.join(dir, '.tor-reconcile/keys/gen.key'));
    const needles: Array<[string, string]> = [
      ['control password', PASSWORD],
      ['wrong password', 'wrong-pw-271828'],
      ['client-auth private key (base32)', client.privateKey.reveal()],
      ['client-auth private key (base64)', client.privateKeyBase64.reveal().replace(/=+$/, '')],
      ['generated onion key', generated.toAddOnionBlob().reveal().slice('ED25519-V3:'.length, 60)],
      ['pinned onion key', pinnedKey.toAddOnionBlob().reveal().slice('ED25519-V3:'.length, 60)],
    ];
    const files = [planFile, summary, path.join(dir, '.tor-reconcile/state.json')];
    const haystack = [...outputs, ...(await Promise.all(files.map((f) => readFile(f, 'utf8'))))];
    let hits = 0;
    for (const [what, needle] of needles) {
      for (const text of haystack) if (text.includes(needle)) throw new Error(`${what} leaked`);
      hits++;
    }
    expect(hits).toBe(needles.length);
    // The ${env:} option value is a spec secret: redacted everywhere tor-reconcile prints spec values.
    // (export prints tor's live configuration, which the spec's secrecy does not reach.)
    for (const text of [...outputs.slice(0, exportsFrom), ...outputs.slice(exportsTo), ...haystack.slice(-files.length)]) expect(text).not.toContain(CONTACT);
    expect(outputs.join('\n')).toContain('<redacted>');

    expect((await stat(path.join(dir, '.tor-reconcile'))).mode & 0o777).toBe(0o700);
    for (const f of await readdir(path.join(dir, '.tor-reconcile/keys'))) expect((await stat(path.join(dir, '.tor-reconcile/keys', f))).mode & 0o777).toBe(0o600);
  });
});
