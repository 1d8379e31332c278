/**
 * Secrets, beyond test/integration/secrets.test.ts (which greps every command's output on a tor with cookie
 * authentication — where the control password is never actually sent): a tor that only takes a password,
 * client-auth keys in base64, secrets tor itself echoes back in refusals, file modes under a permissive
 * umask, and a SAFECOOKIE peer that cannot prove it knows the cookie.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatControlAddress } from '../../src/tor/address.js';
import { connect } from '../../src/tor/client.js';
import { AuthenticationError } from '../../src/tor/errors.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';
import { fakeTor } from '../helpers/fake-tor.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { assertFreshBuild, cli, cliChild, figures, mode, startPasswordTor, startProxy, torPasswordHash, walk, type PasswordTor } from './helpers.js';

const totals = { commandsRun: 0, needles: 0, haystacks: 0, hits: 0, filesModeChecked: 0, wrongModes: 0 };
afterAll(() => figures('secrets', totals));

/** Fails naming the secret's label (never its value) when any haystack contains any needle. */
function expectNoLeak(needles: Array<[string, string]>, haystacks: string[]): void {
  totals.needles += needles.length;
  totals.haystacks += haystacks.length;
  for (const [label, needle] of needles) {
    expect(needle.length, label).toBeGreaterThan(7);
    const hits = haystacks.filter((h) => h.includes(needle)).length;
    totals.hits += hits;
    expect(hits, `${label} leaked into ${hits} output(s)`).toBe(0);
  }
}

describe('secrets: the control password on a tor that takes nothing else', () => {
  const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
  const WRONG = `wrong-${randomBytes(9).toString('hex')}`;
  let ptor: PasswordTor;
  let dir: string;
  beforeAll(async () => {
    ptor = await startPasswordTor([torPasswordHash(PASSWORD)]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-pw-'));
  });
  afterAll(async () => {
    await ptor?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('right password from ${env:} and ${file:} works; a wrong one fails clearly, and neither is ever printed', async () => {
    const control = formatControlAddress(ptor.control);
    await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`, { mode: 0o600 });
    await writeFile(path.join(dir, 'wrong-pw'), `${WRONG}\n`, { mode: 0o600 });
    const envSpec = path.join(dir, 'env.yaml');
    const fileSpec = path.join(dir, 'file.yaml');
    const wrongFileSpec = path.join(dir, 'wrong-file.yaml');
    const literalSpec = path.join(dir, 'literal.yaml');
    const body = `options:\n  ContactInfo: secrets-test\n`;
    await writeFile(envSpec, `version: 1\ntor:\n  control: ${control}\n  password: \${env:TR_PW}\n${body}`);
    await writeFile(fileSpec, `version: 1\ntor:\n  control: ${control}\n  password: \${file:./pw}\n${body}`);
    await writeFile(wrongFileSpec, `version: 1\ntor:\n  control: ${control}\n  password: \${file:./wrong-pw}\n${body}`);
    await writeFile(literalSpec, `version: 1\ntor:\n  control: ${control}\n  password: ${WRONG}\n${body}`);

    const outputs: string[] = [];
    const run = async (argv: string[], env: Record<string, string>, want: number) => {
      const r = await cli(argv, env);
      totals.commandsRun++;
      outputs.push(r.stdout, r.stderr);
      expect(r.code, `${argv.join(' ')}\n${r.stderr}`).toBe(want);
      return r;
    };
    // The right password really authenticates (this tor has no cookie to fall back on).
    await run(['plan', envSpec], { TR_PW: PASSWORD }, 0);
    await run(['apply', envSpec, '--json'], { TR_PW: PASSWORD }, 0);
    await run(['plan', fileSpec, '--format', 'markdown'], {}, 0);
    await run(['status', envSpec, '--json'], { TR_PW: PASSWORD }, 0);
    await run(['export', '--control', control, '--password-env', 'TR_PW'], { TR_PW: PASSWORD }, 0);
    // Wrong ones fail, saying which method and what to check.
    for (const r of [
      await run(['plan', envSpec], { TR_PW: WRONG }, 1),
      await run(['apply', envSpec, '--json'], { TR_PW: WRONG }, 1),
      await run(['plan', wrongFileSpec], {}, 1),
      await run(['plan', literalSpec], {}, 1),
      await run(['diff', envSpec], { TR_PW: WRONG }, 2),
      await run(['status', envSpec], { TR_PW: WRONG }, 1),
      await run(['export', '--control', control, '--password-env', 'TR_PW'], { TR_PW: WRONG }, 1),
    ]) {
      expect(r.stderr).toMatch(/authentication \(HASHEDPASSWORD\) failed: tor refused: 515 .*wrong password/);
    }
    expectNoLeak([['control password', PASSWORD], ['wrong control password', WRONG]], outputs);
  });
});

describe('secrets: client-auth private keys, in the base64 form tor uses on the control port', () => {
  let tor: TestTor;
  let dir: string;
  beforeAll(async () => {
    tor = await startTestTor({ control: 'port' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-ca-'));
  });
  afterAll(async () => {
    await tor?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('base64 keys are refused without being echoed (literal, ${env:}, ${file:}); a valid key reaches tor only on the wire', async () => {
    const service = generateServiceKey();
    const good = generateClientAuthKeyPair();
    const bad = generateClientAuthKeyPair();
    const b64 = bad.privateKeyBase64.reveal();
    const proxy = await startProxy(tor.controlAddress);
    const control = proxy.address;
    const outputs: string[] = [];
    const run = async (argv: string[], env: Record<string, string> = {}) => {
      const r = await cli(argv, env);
      totals.commandsRun++;
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    try {
      await writeFile(path.join(dir, 'b64.auth_private'), `${service.address}:descriptor:x25519:${b64}\n`, { mode: 0o600 });
      await writeFile(path.join(dir, 'good.auth_private'), clientAuthPrivateLine(service.address, good.privateKey).reveal() + '\n', { mode: 0o600 });
      const specs: Record<string, string> = {
        literal: `  - { address: ${service.address}, privateKey: "${b64}" }`,
        env: `  - { address: ${service.address}, privateKey: "\${env:TR_KEY}" }`,
        file: `  - { privateKey: "\${file:./b64.auth_private}" }`,
        viewForm: `  - { address: ${service.address}, privateKey: "x25519:${b64}" }`,
      };
      for (const [name, entry] of Object.entries(specs)) {
        const spec = path.join(dir, `${name}.yaml`);
        await writeFile(spec, `version: 1\nclientAuth:\n${entry}\n`);
        for (const argv of [['validate', spec], ['validate', spec, '--json'], ['plan', spec, '--control', control], ['apply', spec, '--control', control, '--json']]) {
          const r = await run(argv, { TR_KEY: b64 });
          expect(r.code, `${name}: ${argv[0]}\n${r.stderr}`).toBe(1);
          expect(r.stdout + r.stderr).toMatch(/private key|fields/);
        }
      }
      // A valid key: applied, and present on the wire in base64 — so the greps below can find it if it leaks.
      const goodSpec = path.join(dir, 'good.yaml');
      await writeFile(goodSpec, `version: 1\nclientAuth:\n  - { privateKey: "\${file:./good.auth_private}", name: good }\n`);
      const planFile = path.join(dir, 'plan.json');
      expect((await run(['plan', goodSpec, '--control', control, '--out', planFile])).code).toBe(0);
      const applied = await run(['apply', planFile, '--control', control, '--json']);
      expect(applied.code, applied.stderr).toBe(0);
      await run(['plan', goodSpec, '--control', control, '--format', 'github']);
      await run(['diff', goodSpec, '--control', control]);
      await run(['status', goodSpec, '--control', control, '--json']);
      expect(proxy.sent.join('')).toContain(`ONION_CLIENT_AUTH_ADD ${service.address} x25519:${good.privateKeyBase64.reveal()}`);
      expect((await tor.client.onionClientAuthView())[0]!.privateKey.reveal()).toBe(good.privateKeyBase64.reveal());

      const files = [planFile, ...(await walk(dir)).filter((f) => f.endsWith('.json') && !f.endsWith('plan.json'))];
      const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
      expectNoLeak(
        [
          ['refused key (base64)', b64.replace(/=+$/, '')],
          ['refused key (base32)', bad.privateKey.reveal()],
          ['applied key (base64)', good.privateKeyBase64.reveal().replace(/=+$/, '')],
          ['applied key (base32)', good.privateKey.reveal()],
        ],
        [...outputs, ...texts],
      );
    } finally {
      await proxy.close();
    }
  });
});

describe('secrets: values tor echoes back when it refuses them', () => {
  let tor: TestTor;
  let dir: string;
  beforeAll(async () => {
    tor = await startTestTor();
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-echo-'));
  });
  afterAll(async () => {
    await tor?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Tor quotes a refused value in its 513 reply and WARN log lines ("Nickname 'x' …", "Malformed policy
  // 'x'"); apply reports both. A ${env:} value is a secret: it must not come back out through tor.
  // The needle is the ASCII core of the value, so an echo C-escaped by tor (é as \303\251) is caught too.
  it.each([
    ['Nickname', (s: string) => `bad nick ${s}é"`],
    ['MyFamily', (s: string) => `${s}!`],
    ['OutboundBindAddress', (s: string) => s],
    ['ReachableAddresses', (s: string) => `${s} *:80`],
    ['ExitPolicy', (s: string) => `accept ${s}é`],
    ['Bridge', (s: string) => `${s}é`],
    ['ClientTransportPlugin', (s: string) => `${s}\\ exec /x`],
    ['HTTPSProxy', (s: string) => `${s}:99999`],
  ])('%s from ${env:}, refused by tor', async (option, value) => {
    const secret = `S3CRET${randomBytes(6).toString('hex')}`;
    const spec = path.join(dir, `${option}.yaml`);
    await writeFile(spec, `version: 1\noptions:\n  ${option}: \${env:TR_SECRET}\n`);
    const control = formatControlAddress(tor.controlAddress);
    const outputs: string[] = [];
    for (const argv of [['apply', spec, '--control', control], ['apply', spec, '--control', control, '--json']]) {
      const r = await cli(argv, { TR_SECRET: value(secret) });
      totals.commandsRun++;
      outputs.push(r.stdout, r.stderr);
      // Tor did refuse it, and said why: the redaction must keep the reason, only hide the value.
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(/tor refused: 5\d\d|tor: /);
    }
    expectNoLeak([[`${option} value from \${env:}`, secret]], outputs);
  });

  it('a secret already applied, quoted in the WARN lines of a later failing step', async () => {
    const secret = `S3CRET${randomBytes(6).toString('hex')}`;
    const control = formatControlAddress(tor.controlAddress);
    const spec = path.join(dir, 'socks.yaml');
    // Tor takes the unknown SocksPort flag with a warning, and repeats the warning on every later SETCONF.
    await writeFile(spec, `version: 1\noptions:\n  SocksPort: \${env:TR_SECRET}\n`);
    const first = await cli(['apply', spec, '--control', control], { TR_SECRET: `9050 ${secret}Flag` });
    expect(first.code, first.stdout).toBe(0);
    await writeFile(spec, `version: 1\noptions:\n  SocksPort: \${env:TR_SECRET}\n  Nickname: "not a nickname"\n`);
    const second = await cli(['apply', spec, '--control', control], { TR_SECRET: `9050 ${secret}Flag` });
    totals.commandsRun += 2;
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/Nickname 'not a nickname'/);
    expect(second.stdout).toMatch(/Unrecognized SocksPort option/);
    expectNoLeak([['SocksPort value from ${env:}', secret]], [first.stdout, first.stderr, second.stdout, second.stderr]);
    await tor.client.resetConf(['SocksPort']);
  });

  // persist: { file } writes the managed options for tor's next start: the secret must be in that file (tor
  // needs it) and nowhere else — not in plan, diff or apply output, nor in a saved plan, nor in tor's refusal
  // of a later apply.
  it('a ${env:} value persisted in a drop-in: only the drop-in holds it, 0640', async () => {
    const secret = `S3CRET${randomBytes(6).toString('hex')}`;
    const control = formatControlAddress(tor.controlAddress);
    const spec = path.join(dir, 'persisted.yaml');
    const dropIn = path.join(dir, 'persisted.conf');
    await writeFile(spec, `version: 1\npersist:\n  file: ./persisted.conf\n  include: true\noptions:\n  ContactInfo: \${env:TR_SECRET}\n`);
    const env = { TR_SECRET: `ops ${secret}` };
    const outputs: string[] = [];
    const planFile = path.join(dir, 'persisted-plan.json');
    for (const argv of [['plan', spec, '--control', control, '--out', planFile], ['plan', spec, '--control', control, '--json'], ['plan', spec, '--control', control, '--format', 'markdown'], ['diff', spec, '--control', control], ['apply', spec, '--control', control, '--json'], ['apply', spec, '--control', control]]) {
      const r = await cli(argv, env);
      totals.commandsRun++;
      outputs.push(r.stdout, r.stderr);
    }
    outputs.push(await readFile(planFile, 'utf8'));
    expect(await readFile(dropIn, 'utf8')).toContain(`ContactInfo ops ${secret}`);
    expect(await mode(dropIn)).toBe(0o640);
    totals.filesModeChecked++;
    // Tor refuses the Nickname and quotes it (it holds the secret too); the apply output must not.
    await writeFile(spec, `version: 1\npersist:\n  file: ./persisted.conf\noptions:\n  ContactInfo: \${env:TR_SECRET}\n  Nickname: \${env:TR_NICK}\n`);
    const refused = await cli(['apply', spec, '--control', control], { ...env, TR_NICK: `bad-${secret}` });
    totals.commandsRun++;
    outputs.push(refused.stdout, refused.stderr);
    expect(refused.code).toBe(1);
    expectNoLeak([['ContactInfo value from ${env:}', secret]], outputs);
    await tor.client.resetConf(['ContactInfo', 'Nickname']);
  });
});

describe('secrets: file and directory modes, whatever the umask', () => {
  let tor: TestTor;
  let dir: string;
  beforeAll(async () => {
    assertFreshBuild();
    tor = await startTestTor();
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-modes-'));
  });
  afterAll(async () => {
    await tor?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keys, plans, state, authorized_clients and exports are 0600 files in 0700 directories under umask 000, even over looser existing ones', async () => {
    const control = formatControlAddress(tor.controlAddress);
    const ca = generateClientAuthKeyPair();
    const remote = generateServiceKey();
    await writeFile(path.join(dir, 'remote.auth_private'), clientAuthPrivateLine(remote.address, ca.privateKey).reveal() + '\n', { mode: 0o600 });
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(
      spec,
      `version: 1
stateDirectory: ./state
onionServices:
  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 80 }], authorizedClients: [{ name: alice, publicKey: ${ca.publicKey} }] }
  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }
  - { name: own, type: ephemeral, key: { file: ./own-keys/own.key }, ports: [{ port: 81 }] }
clientAuth:
  - { privateKey: "\${file:./remote.auth_private}" }
`,
    );
    // Looser leftovers from someone else's umask: a state directory and a plan file that exist already.
    await mkdir(path.join(dir, 'state'), { mode: 0o755 });
    await chmod(path.join(dir, 'state'), 0o755);
    await writeFile(path.join(dir, 'plan.json'), '{}', { mode: 0o644 });
    await chmod(path.join(dir, 'plan.json'), 0o644);

    const runs = [
      ['plan', spec, '--control', control, '--out', path.join(dir, 'plan.json')],
      ['apply', path.join(dir, 'plan.json'), '--control', control],
      ['keys', 'generate', path.join(dir, 'loose/generated.key')],
      ['keys', 'client-auth', 'bob', '--address', remote.address, '--private-out', path.join(dir, 'loose/bob.auth_private')],
      ['keys', 'import', path.join(dir, 'hs/web'), path.join(dir, 'loose/imported.key')],
      ['keys', 'export', path.join(dir, 'state/keys/api.key'), path.join(dir, 'exported-hs')],
      // export writes the spec, tor's client credential beside it, and the adopted records.
      ['export', '--control', control, '--state-dir', path.join(dir, 'state'), '-o', path.join(dir, 'adopted.yaml')],
    ];
    for (const argv of runs) {
      const r = await cliChild(argv, { umask: 0o000, cwd: dir });
      totals.commandsRun++;
      expect(r.code, `${argv.slice(0, 2).join(' ')}\n${r.stderr}`).toBe(0);
    }
    const expected: Array<[string, number]> = [
      ['plan.json', 0o600],
      ['state', 0o700],
      ['state/state.json', 0o600],
      ['state/keys', 0o700],
      ['state/keys/keystore.json', 0o600],
      ['own-keys', 0o700],
      ['own-keys/own.key', 0o600],
      ['hs/web', 0o700],
      ['hs/web/authorized_clients', 0o700],
      ['hs/web/authorized_clients/alice.auth', 0o600],
      ['loose', 0o700],
      ['loose/generated.key', 0o600],
      ['loose/bob.auth_private', 0o600],
      ['loose/imported.key', 0o600],
      ['exported-hs', 0o700],
      ['exported-hs/hs_ed25519_secret_key', 0o600],
      ['adopted.yaml', 0o600],
      ['secrets', 0o700],
      [`secrets/${remote.address}.auth_private`, 0o600],
    ];
    const wrong: string[] = [];
    for (const [rel, want] of expected) {
      totals.filesModeChecked++;
      const got = await mode(path.join(dir, rel));
      if (got !== want) wrong.push(`${rel}: ${got.toString(8)} (want ${want.toString(8)})`);
    }
    totals.wrongModes += wrong.length;
    expect(wrong).toEqual([]);
  });
});

describe('secrets: SAFECOOKIE with a server that cannot prove it knows the cookie', () => {
  const SERVER_TO_CONTROLLER = 'Tor safe cookie authentication server-to-controller hash';
  const CONTROLLER_TO_SERVER = 'Tor safe cookie authentication controller-to-server hash';
  let dir: string;
  let cookieFile: string;
  const cookie = randomBytes(32);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-secrets-cookie-'));
    cookieFile = path.join(dir, 'control_auth_cookie');
    await writeFile(cookieFile, cookie, { mode: 0o600 });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A peer speaking tor's handshake; `honest` decides whether it computes SERVERHASH from the cookie. */
  async function peer(methods: string, honest: boolean) {
    const serverNonce = randomBytes(32);
    let clientNonce = Buffer.alloc(0);
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) {
        s.write(`250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods} COOKIEFILE=${JSON.stringify(cookieFile)}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`);
      } else if (line.startsWith('AUTHCHALLENGE')) {
        clientNonce = Buffer.from(line.split(' ')[2]!, 'hex');
        const hash = honest ? createHmac('sha256', SERVER_TO_CONTROLLER).update(Buffer.concat([cookie, clientNonce, serverNonce])).digest() : randomBytes(32);
        s.write(`250 AUTHCHALLENGE SERVERHASH=${hash.toString('hex').toUpperCase()} SERVERNONCE=${serverNonce.toString('hex').toUpperCase()}\r\n`);
      } else if (line.startsWith('AUTHENTICATE')) s.write('250 OK\r\n');
      else if (line.startsWith('GETINFO')) s.write('250-version=0.4.9.11\r\n250 OK\r\n');
      else s.write('510 Unrecognized command\r\n');
    });
    const expectedClientHash = () => createHmac('sha256', CONTROLLER_TO_SERVER).update(Buffer.concat([cookie, clientNonce, serverNonce])).digest('hex');
    return { server, expectedClientHash };
  }

  it('an honest peer gets AUTHENTICATE with the right client hash (so the refusal below is not vacuous)', async () => {
    const { server, expectedClientHash } = await peer('COOKIE,SAFECOOKIE', true);
    try {
      const client = await connect({ control: server.address });
      expect(client.authMethod).toBe('SAFECOOKIE');
      await client.close();
      const auth = server.lines.filter((l) => l.startsWith('AUTHENTICATE'));
      expect(auth).toEqual([`AUTHENTICATE ${expectedClientHash()}`]);
    } finally {
      await server.close();
    }
  });

  it.each(['SAFECOOKIE', 'COOKIE,SAFECOOKIE'])('a wrong SERVERHASH (methods %s): refused, AUTHENTICATE never sent, no fallback to plain COOKIE', async (methods) => {
    const { server } = await peer(methods, false);
    try {
      const err = await connect({ control: server.address }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as Error).message).toMatch(/server hash does not match cookie file .*refusing to authenticate/);
      // Not even the plain cookie: with COOKIE also offered, falling back would hand an impostor the cookie.
      expect(server.lines.filter((l) => l.startsWith('AUTHENTICATE'))).toEqual([]);
      expect(server.lines.join('\n')).not.toContain(cookie.toString('hex'));

      // The same through the CLI: exit 1 with the reason, nothing sent after AUTHCHALLENGE.
      const spec = path.join(dir, 'spec.yaml');
      await writeFile(spec, 'version: 1\noptions:\n  ContactInfo: x\n');
      const before = server.lines.length;
      const r = await cli(['plan', spec, '--control', server.address]);
      totals.commandsRun++;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/authentication \(SAFECOOKIE\) failed: tor's server hash does not match/);
      expect(server.lines.slice(before).map((l) => l.split(' ')[0])).toEqual(['PROTOCOLINFO', 'AUTHCHALLENGE']);
      expectNoLeak([['control cookie (hex)', cookie.toString('hex')], ['control cookie (HEX)', cookie.toString('hex').toUpperCase()]], [r.stdout, r.stderr, (err as Error).message]);
    } finally {
      await server.close();
    }
  });
});
