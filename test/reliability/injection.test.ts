/**
 * Command injection, end to end: hostile text in every place a spec lets a user put text that reaches tor.
 * Each value either round-trips exactly (tor holds it, and a second apply finds nothing to do) or is
 * refused before anything changes. Three independent witnesses that nothing extra ran: the CLI's own
 * trace, the bytes a proxy saw on the wire (one LF per command), and a second controller counting
 * CONF_CHANGED events.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyFile } from '../../src/reconcile/local.js';
import type { ConfChangedEvent } from '../../src/tor/events.js';
import { connect } from '../../src/tor/client.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey } from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { cli, figures, startPasswordTor, startProxy, torPasswordHash, type PasswordTor, type Proxy } from './helpers.js';

/** Hostile values: escapes, quoting, format strings, encodings, and the three bytes that end a command. */
const VALUES: Array<[label: string, value: string]> = [
  ['plain', 'plain'],
  ['safe name characters', 'ok.name-1_x'],
  ['double quote', 'dq"uote'],
  ['single quote', "sq'uote"],
  ['backslash', 'back\\slash'],
  ['trailing backslash', 'trail\\'],
  ['escape sequences as text', '\\x41\\101\\n'],
  ['percent', '%s%n%%'],
  ['non-ASCII', 'café ☕ 終 😀'],
  ['tab', 'tab\tin'],
  ['control bytes', 'ctl\x01\x1b\x7f'],
  ['leading #', '#hash'],
  ['leading quote', '"lead'],
  ['spaces', ' spaced out '],
  ['key=value text', 'a=b c="d"'],
  ['a command as text', 'SIGNAL HALT'],
  ['U+2028 and NEL', '\u2028sep\u0085'],
  ['CR', 'cr\rin'],
  ['LF', 'lf\nin'],
  ['CRLF + command', 'x\r\nSIGNAL HALT'],
  ['CRLF + SETCONF', '\r\nSETCONF ContactInfo=pwned'],
  ['NUL', 'nul\0in'],
  ['lone surrogate', 'lone\ud800'],
];

const LINE_BREAK_OR_NUL = /[\r\n\0]/;
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

interface Target {
  /** What must be refused; everything else must round-trip. */
  refuses(v: string): boolean;
  spec(v: string, env: Record<string, string>): string;
  /** Control commands a successful first apply sends (keywords), and the CONF_CHANGED keys it causes. */
  commands: string[];
  changedKeys: RegExp | null;
  /** Reads back from tor (and disk) what the value became; throws when it is not exactly `v`. */
  readBack(v: string): Promise<void>;
  skip?(v: string): boolean;
}

let tor: TestTor;
let proxy: Proxy;
let work: string;
const events: ConfChangedEvent[] = [];
const pair = generateClientAuthKeyPair();
const serviceForAuth = generateServiceKey();

beforeAll(async () => {
  tor = await startTestTor({ control: 'port' });
  proxy = await startProxy(tor.controlAddress);
  await tor.client.on('CONF_CHANGED', (e) => events.push(e));
});
afterAll(async () => {
  await proxy?.close();
  await tor?.cleanup();
});

/** Everything a run could have changed, read by the second controller. */
async function snapshot() {
  const c = tor.client;
  const [text, detached, auth] = await Promise.all([c.getInfo('config-text'), c.getInfo('onions/detached'), c.onionClientAuthView()]);
  return { text, detached, auth: auth.map((a) => `${a.address} ${a.clientName ?? ''} ${a.flags.join(',')}`).sort() };
}

async function resetTor(): Promise<void> {
  const c = tor.client;
  await c.resetConf(['ContactInfo', 'HiddenServiceDir']);
  for (const a of (await c.getInfo('onions/detached')).split('\n').filter(Boolean)) await c.delOnion(a);
  for (const a of await c.onionClientAuthView()) await c.onionClientAuthRemove(a.address);
  await c.getInfo('version');
  events.length = 0;
}

const yamlString = (v: string) => JSON.stringify(v);

const TARGETS: Record<string, Target> = {
  'option value (${env:})': {
    refuses: (v) => LINE_BREAK_OR_NUL.test(v) || !v.isWellFormed(),
    spec: (v, env) => ((env.V = v), 'version: 1\noptions:\n  ContactInfo: ${env:V}\n'),
    commands: ['SETCONF'],
    changedKeys: /^ContactInfo$/,
    async readBack(v) {
      expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).toEqual([v]);
    },
  },
  'option value (YAML literal)': {
    refuses: (v) => LINE_BREAK_OR_NUL.test(v) || !v.isWellFormed(),
    spec: (v) => `version: 1\noptions:\n  ContactInfo: ${yamlString(v)}\n`,
    commands: ['SETCONF'],
    changedKeys: /^ContactInfo$/,
    async readBack(v) {
      expect((await tor.client.getConf(['ContactInfo'])).get('ContactInfo')).toEqual([v]);
    },
  },
  'HiddenServiceDir': {
    refuses: (v) => LINE_BREAK_OR_NUL.test(v) || !v.isWellFormed(),
    skip: (v) => v.includes('/') || v.trim() === '' || v.startsWith('$') || v.includes('${'),
    spec: (v) => `version: 1\nonionServices:\n  - { name: web, type: filesystem, directory: ${yamlString(`./hs/${v}`)}, ports: [{ port: 80 }] }\n`,
    commands: ['SETCONF'],
    changedKeys: /^HiddenService(Dir|Port)$/,
    async readBack(v) {
      const dir = path.join(work, 'hs', v);
      expect((await tor.client.getConf(['HiddenServiceDir'])).get('HiddenServiceDir')).toEqual([dir]);
      // Tor really serves it from that directory (and nowhere else): it wrote the hostname there.
      expect(await readFile(path.join(dir, 'hostname'), 'utf8')).toMatch(/^[a-z2-7]{56}\.onion\n$/);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    },
  },
  'ephemeral service name': {
    refuses: (v) => !SAFE_NAME.test(v),
    spec: (v) => `version: 1\nstateDirectory: ./state\nonionServices:\n  - { name: ${yamlString(v)}, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }\n`,
    commands: ['ADD_ONION'],
    changedKeys: null,
    async readBack(v) {
      const state = JSON.parse(await readFile(path.join(work, 'state/state.json'), 'utf8')) as { ephemeral: Array<{ name: string; address: string }> };
      expect(state.ephemeral.map((r) => r.name)).toEqual([v]);
      expect((await tor.client.getInfo('onions/detached')).split('\n')).toContain(state.ephemeral[0]!.address);
      expect((await loadKeyFile(path.join(work, 'state/keys', `${v}.key`))).address).toBe(state.ephemeral[0]!.address);
    },
  },
  'authorized client name': {
    refuses: (v) => !SAFE_NAME.test(v),
    spec: (v) =>
      `version: 1\nonionServices:\n  - { name: web, type: filesystem, directory: ./hs/web, ports: [{ port: 80 }], authorizedClients: [{ name: ${yamlString(v)}, publicKey: ${pair.publicKey} }] }\n`,
    commands: ['SETCONF'],
    changedKeys: /^HiddenService(Dir|Port)$/,
    async readBack(v) {
      expect((await readFile(path.join(work, 'hs/web/authorized_clients', `${v}.auth`), 'utf8')).trim()).toBe(`descriptor:x25519:${pair.publicKey}`);
    },
  },
  'client-auth ClientName': {
    refuses: (v) => !SAFE_NAME.test(v),
    spec: (v) => `version: 1\nclientAuth:\n  - { privateKey: "\${file:./auth_private}", name: ${yamlString(v)} }\n`,
    commands: ['ONION_CLIENT_AUTH_ADD'],
    changedKeys: null,
    async readBack(v) {
      const view = await tor.client.onionClientAuthView();
      expect(view.map((e) => e.clientName)).toEqual([v]);
    },
  },
};

describe('injection against a real tor: every hostile value round-trips exactly or is refused before anything changes', () => {
  const totals = { cases: 0, roundTrips: 0, refused: 0, refusedOffline: 0, commandsSent: 0, wireLines: 0, confChangedEvents: 0 };

  it.each(Object.keys(TARGETS))('%s', async (name) => {
    const target = TARGETS[name]!;
    for (const [label, v] of VALUES) {
      if (target.skip?.(v)) continue;
      totals.cases++;
      work = await mkdtemp(path.join(os.tmpdir(), 'tr-inject-'));
      try {
        await writeFile(path.join(work, 'auth_private'), clientAuthPrivateLine(serviceForAuth.address, pair.privateKey).reveal() + '\n', { mode: 0o600 });
        const env: Record<string, string> = {};
        const spec = path.join(work, 'spec.yaml');
        await writeFile(spec, target.spec(v, env));
        await resetTor();
        const before = await snapshot();
        const connsBefore = proxy.connections;
        const wireBefore = proxy.sent.length;

        const r = await cli(['apply', spec, '--control', proxy.address], env);
        await tor.client.getInfo('version'); // every CONF_CHANGED the run caused has reached us
        const what = `${name} / ${label} (${JSON.stringify(v)}): exit ${r.code}\n${r.stdout}${r.stderr}`;
        expect(r.stderr, what).not.toMatch(/internal error/);
        const wire = proxy.sent.slice(wireBefore).join('');
        const lines = wire.split('\n').length - 1;
        totals.wireLines += lines;
        totals.commandsSent += r.sent.length;
        totals.confChangedEvents += events.length;

        if (target.refuses(v)) {
          expect(r.code, what).toBe(1);
          expect(r.mutating, what).toEqual([]);
          expect(events, what).toEqual([]);
          expect(await snapshot(), what).toEqual(before);
          // A spec error stops everything before tor is even contacted; an encoder refusal (UsageError) comes
          // after the read-only commands of planning.
          if (proxy.connections === connsBefore) totals.refusedOffline++;
          else expect(r.stderr, what).toMatch(/tor-reconcile: .*(not well-formed|NUL|not allowed|line break)/);
          totals.refused++;
          continue;
        }
        expect(r.code, what).toBe(0);
        expect(r.mutating.map((c) => c.split(' ')[0]), what).toEqual(target.commands);
        // On the wire, one line per command: PROTOCOLINFO, AUTHCHALLENGE, AUTHENTICATE, then the traced ones.
        expect(lines, `${what}\nwire:\n${wire}`).toBe(3 + r.sent.length);
        if (target.changedKeys) {
          expect(events, what).toHaveLength(1);
          for (const [k] of events[0]!.changes) expect(k, what).toMatch(target.changedKeys);
        } else expect(events, what).toEqual([]);
        await target.readBack(v);
        // Exactly: tor's read-back compares equal, so a second run finds nothing to do.
        const again = await cli(['apply', spec, '--control', proxy.address], env);
        expect(again.code, what).toBe(0);
        expect(again.mutating, `${what}\n${again.stdout}`).toEqual([]);
        totals.roundTrips++;
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
  });

  afterAll(() => {
    figures('injection (spec values, directories, names)', { ...totals, extraCommands: 0 });
  });
});

describe('injection against a real tor: control passwords', () => {
  const MASTER = 'master-password-for-the-second-controller';
  let ptor: PasswordTor;
  let pproxy: Proxy;
  const totals = { cases: 0, authenticated: 0, refused: 0, authenticateSent: 0 };

  beforeAll(async () => {
    ptor = await startPasswordTor([torPasswordHash(MASTER)]);
    pproxy = await startProxy(ptor.control);
  });
  afterAll(async () => {
    await pproxy?.close();
    await ptor?.stop();
    figures('injection (control passwords)', totals);
  });

  /**
   * Tor decodes AUTHENTICATE's quoted password with decode_qstring, where a backslash only quotes the next
   * character: TAB and control bytes must go raw (C escapes like `\t` would arrive as `t`).
   */
  const check = async (label: string, v: string) => {
    totals.cases++;
    const admin = await connect({ control: ptor.control, password: MASTER });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-inject-pw-'));
    try {
      // Tor accepts any of several hashes: the master one keeps the second controller in.
      if (v.isWellFormed() && !v.includes('\0')) await admin.setConf({ HashedControlPassword: [torPasswordHash(MASTER), torPasswordHash(v)] });
      const spec = path.join(dir, 'spec.yaml');
      await writeFile(spec, `version: 1\ntor:\n  password: \${env:PW}\noptions:\n  ContactInfo: pw-test\n`);
      const from = pproxy.sent.length;
      const connsBefore = pproxy.connections;
      const r = await cli(['plan', spec, '--control', pproxy.address], { PW: v });
      const wire = pproxy.sent.slice(from).join('');
      const authLines = wire.split('\r\n').filter((l) => l.startsWith('AUTHENTICATE'));
      totals.authenticateSent += authLines.length;
      const what = `${label} (${JSON.stringify(v)}): exit ${r.code}\n${r.stderr}`;
      expect(r.stderr, what).not.toMatch(/internal error/);
      // Every LF on the wire is the end of a CRLF-terminated command.
      expect(wire.split('\n').length - 1, what).toBe(wire.split('\r\n').length - 1);
      if (LINE_BREAK_OR_NUL.test(v) || !v.isWellFormed()) {
        // A line break or NUL is a spec error (tor is never contacted); a lone surrogate is refused by the
        // encoder. Either way AUTHENTICATE never leaves, so the password cannot be cut short or mangled.
        expect(r.code, what).toBe(1);
        expect(authLines, what).toEqual([]);
        if (LINE_BREAK_OR_NUL.test(v)) expect(pproxy.connections, what).toBe(connsBefore);
        totals.refused++;
        return;
      }
      // Tor checked the exact bytes against the hash: a changed byte would be "Password did not match".
      expect(r.code, what).toBe(0);
      expect(authLines, what).toHaveLength(1);
      // Besides PROTOCOLINFO and AUTHENTICATE, only what the trace shows.
      expect(wire.split('\r\n').length - 1, `${what}\n${wire}`).toBe(2 + r.sent.length);
      totals.authenticated++;
    } finally {
      await admin.close();
      await rm(dir, { recursive: true, force: true });
    }
  };

  it.each(VALUES.map(([label, v]) => ({ label, v })))('$label', ({ label, v }) => check(label, v));
});
