import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticate } from '../../src/tor/auth.js';
import { connect, type TorClient } from '../../src/tor/client.js';
import { ControlConnection } from '../../src/tor/connection.js';
import { AuthenticationError, ConnectionClosedError, ConnectionError, ProtocolError, TimeoutError, UsageError } from '../../src/tor/errors.js';
import { commands } from '../../src/tor/protocol/encoder.js';
import { Secret } from '../../src/tor/secret.js';
import { fakeTor } from '../helpers/fake-tor.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function authed(onLine: Parameters<typeof fakeTor>[0]) {
  const server = await fakeTor((line, s) => {
    if (line.startsWith('AUTHENTICATE')) s.write('250 OK\r\n');
    else onLine(line, s);
  });
  closers.push(server.close);
  const conn = await ControlConnection.connect(server.address);
  closers.push(() => conn.close());
  await conn.request(commands.authenticate());
  return { conn, server };
}

describe('ControlConnection against a scripted peer', () => {
  it('rejects pending commands with a ProtocolError on garbage and closes', async () => {
    const { conn } = await authed((_, s) => s.write('HTTP/1.1 400 Bad Request\r\n'));
    const err = await conn.request(commands.getInfo(['version'])).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toContain('HTTP/1.1 400');
    expect(conn.isClosed).toBe(true);
  });

  it('refuses a 10 MB line without buffering it', async () => {
    const { conn } = await authed((_, s) => {
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 160 && !s.destroyed; i++) s.write(chunk);
    });
    const before = process.memoryUsage().arrayBuffers;
    const err = await conn.request(commands.getInfo(['version'])).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/line longer than/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it('refuses a data block that never ends once the reply limit is reached', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('AUTHENTICATE')) return void s.write('250 OK\r\n');
      s.write('250+config-text=\r\n');
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write('SomeOption value\r\n'.repeat(1000))), 1);
    });
    closers.push(server.close);
    const conn = await ControlConnection.connect(server.address, { limits: { maxReplyBytes: 1 << 20 } });
    closers.push(() => conn.close());
    await conn.request(commands.authenticate());
    const err = await conn.request(commands.getInfo(['config-text'])).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/reply larger than/);
  });

  it('times out one command and still matches later replies to their commands', async () => {
    let n = 0;
    const { conn } = await authed((line, s) => {
      const i = ++n;
      // Answer the first command late: after the second was sent, but in order, as tor would.
      if (i === 1) setTimeout(() => s.write(`250-first\r\n250 OK\r\n`), 150);
      else setTimeout(() => s.write(`250-second\r\n250 OK\r\n`), 160);
      void line;
    });
    const first = conn.request(commands.getInfo(['a']), { timeout: 50 }).catch((e) => e);
    const second = conn.request(commands.getInfo(['b']));
    expect(await first).toBeInstanceOf(TimeoutError);
    expect((await second).lines[0]!.text).toBe('second');
  });

  it('treats a reply with no command waiting as a protocol error', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('AUTHENTICATE')) s.write('250 OK\r\n250 OK\r\n');
    });
    closers.push(server.close);
    const conn = await ControlConnection.connect(server.address);
    const closed = new Promise<Error>((r) => conn.onClose(r));
    await conn.request(commands.authenticate());
    expect(await closed).toBeInstanceOf(ProtocolError);
  });

  it('rejects everything pending, in and behind the gate, when the peer hangs up', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) s.destroy();
    });
    closers.push(server.close);
    const conn = await ControlConnection.connect(server.address);
    const gated = conn.request(commands.getInfo(['version'])).catch((e) => e);
    const info = conn.request(commands.protocolInfo()).catch((e) => e);
    const [a, b] = await Promise.all([gated, info]);
    expect(a).toBeInstanceOf(ConnectionClosedError);
    expect(b).toBeInstanceOf(ConnectionClosedError);
    expect(b.message).toContain('PROTOCOLINFO');
    await expect(conn.request(commands.protocolInfo())).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('writes pipelined commands in one go and shows secrets only on the wire', async () => {
    const { conn, server } = await authed((line, s) => s.write('250 OK\r\n'));
    const shown: string[] = [];
    conn.onCommand((c) => shown.push(c.display));
    await Promise.all([
      conn.request(commands.setConf([['HashedControlPassword', new Secret('16:SECRETHASH')]])),
      conn.request(commands.getInfo(['version'])),
    ]);
    expect(server.lines).toContain('SETCONF HashedControlPassword="16:SECRETHASH"');
    expect(shown.join('\n')).not.toContain('SECRETHASH');
    expect(shown[0]).toBe('SETCONF HashedControlPassword=<redacted>');
  });

  it('over TCP, acknowledges a reply tor leaves half-written with a keyless GETINFO whose answer is nobody\'s', async () => {
    const rest: Array<() => void> = [];
    const { conn } = await authed((line, s) => {
      // Half of `a`'s reply; the rest of it, then `b`'s, only when the test says (tor's Nagle waiting for an ACK).
      if (line === 'GETINFO a') {
        s.write('250-a=1\r\n');
        rest.push(() => s.write('250 OK\r\n'));
      } else if (line === 'GETINFO b') rest.push(() => s.write('250-b=2\r\n250 OK\r\n'));
      else s.write(`250-${line.slice('GETINFO '.length)}=2\r\n250 OK\r\n`);
    });
    const seen: string[] = [];
    conn.onCommand((c) => seen.push(c.display));
    const base = conn.stats;
    const a = conn.request(commands.getInfo(['a']));
    const b = conn.request(commands.getInfo(['b']));
    // Data came and left `a` waiting, with nothing else to write: one nudge (answered after `b`, in order).
    const deadline = Date.now() + 2000;
    while (conn.stats.nudges === base.nudges && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(conn.stats.nudges - base.nudges).toBe(1);
    for (const r of rest.splice(0)) r();
    expect((await a).lines[0]!.text).toBe('a=1');
    expect((await b).lines[0]!.text).toBe('b=2');
    // Its answer went to nobody: the next command still gets its own.
    expect((await conn.request(commands.getInfo(['c']))).lines[0]!.text).toBe('c=2');
    expect(seen).toEqual(['GETINFO a', 'GETINFO b', 'GETINFO c']);
    expect(conn.stats.commands - base.commands).toBe(3);
    expect(conn.inFlight).toBe(0);
  });

  it('sends no nudge when told not to (a control-port filter that drops what it does not allow)', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('AUTHENTICATE')) return void s.write('250 OK\r\n');
      // Half a reply, the rest 30 ms later whatever the client does.
      s.write('250-a=1\r\n');
      setTimeout(() => s.write('250 OK\r\n'), 30);
    });
    closers.push(server.close);
    const conn = await ControlConnection.connect(server.address, { nudge: false });
    closers.push(() => conn.close());
    await conn.request(commands.authenticate());
    expect((await conn.request(commands.getInfo(['a']))).lines[0]!.text).toBe('a=1');
    expect(conn.stats.nudges).toBe(0);
  });

  it('over TCP, sends no nudge when replies arrive whole', async () => {
    const { conn } = await authed((line, s) => s.write(`250-${line.slice('GETINFO '.length)}=x\r\n250 OK\r\n`));
    const base = conn.stats;
    for (let i = 0; i < 20; i++) await conn.request(commands.getInfo([`k${i}`]));
    // Answered in one piece each: the last data of every reply left nothing waiting.
    expect(conn.stats.nudges - base.nudges).toBe(0);
  });

  it('over TCP, sends no nudge when a reply\'s caller writes the next command itself (it carries the acknowledgement)', async () => {
    const held: Array<() => void> = [];
    const { conn } = await authed((line, s) => {
      const answer = () => s.write(`250-${line.slice('GETINFO '.length)}=x\r\n250 OK\r\n`);
      // `a` at once; `b` and `c` only when the test says, in order.
      if (line === 'GETINFO a') answer();
      else held.push(answer);
    });
    const base = conn.stats;
    let c: Promise<unknown> | undefined;
    const a = conn.request(commands.getInfo(['a'])).then(() => {
      c = conn.request(commands.getInfo(['c']));
    });
    const b = conn.request(commands.getInfo(['b']));
    await a;
    // `a`'s data left `b` waiting, but `a`'s caller wrote `c` before the connection would have nudged.
    await new Promise((r) => setTimeout(r, 30));
    expect(conn.stats.nudges - base.nudges).toBe(0);
    for (const answer of held.splice(0)) answer();
    await Promise.all([b, c]);
  });

  it('rejects every pipelined command when the peer hangs up, nudges included, without an unhandled rejection', async () => {
    const { conn, server } = await authed((line, s) => {
      // Half of the first reply, then nothing more.
      if (line === 'GETINFO k0') s.write('250-k0=x\r\n');
    });
    const all = Array.from({ length: 40 }, (_, i) => conn.request(commands.getInfo([`k${i}`])).catch((e) => e));
    const deadline = Date.now() + 2000;
    while (conn.stats.nudges === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(conn.stats.nudges).toBe(1);
    await server.close();
    for (const err of await Promise.all(all)) expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(conn.inFlight).toBe(0);
  });

  it('explains a refused connection', async () => {
    const err = await ControlConnection.connect('tcp:127.0.0.1:1').catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/connection refused.*ControlPort/);
  });
});

/**
 * Run `fn` with queueMicrotask collecting what the callbacks it schedules throw (where the library surfaces
 * a caller's bug as an uncaught error), instead of failing the test run with it.
 */
async function surfaced(fn: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((cb) => {
    Promise.resolve().then(() => {
      try {
        cb();
      } catch (err) {
        errors.push(err);
      }
    });
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return errors;
}

describe('ControlConnection taps', () => {
  it('keeps replies matched to commands when a tap throws, and surfaces the error', async () => {
    let n = 0;
    const { conn, server } = await authed((line, s) => s.write(`250-reply${++n}\r\n250 OK\r\n`));
    const off = conn.onCommand(() => {
      throw new Error('tap bug');
    });
    let first: unknown;
    const errors = await surfaced(async () => {
      first = await conn.request(commands.getInfo(['a'])).catch((e: unknown) => e);
    });
    off();
    expect(first).toMatchObject({ lines: [{ text: 'reply1' }, { text: 'OK' }] });
    expect(errors).toEqual([new Error('tap bug')]);
    expect((await conn.request(commands.getInfo(['b']))).lines[0]!.text).toBe('reply2');
    expect(server.lines.slice(-2)).toEqual(['GETINFO a', 'GETINFO b']);
  });
});

describe('authentication against a scripted peer', () => {
  const info = (methods: string, cookieFile: string) => `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods} COOKIEFILE="${cookieFile}"\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`;

  async function cookieFile(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-cookie-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'some-32-byte-file');
    await writeFile(file, Buffer.alloc(32, 7));
    return file;
  }

  it('never sends the file a COOKIE-only peer names (tor always offers SAFECOOKIE too)', async () => {
    const file = await cookieFile();
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) s.write(info('COOKIE', file));
      else s.write('250 OK\r\n');
    });
    closers.push(server.close);
    const err = await connect({ control: server.address }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/offers COOKIE without SAFECOOKIE.*refusing/);
    expect(server.lines).toEqual(['PROTOCOLINFO 1']);
  });

  it('uses plain COOKIE when the caller names the cookie file', async () => {
    const file = await cookieFile();
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) s.write(info('COOKIE', '/elsewhere'));
      else s.write('250 OK\r\n');
    });
    closers.push(server.close);
    const client = await connect({ control: server.address, cookieFile: file });
    closers.push(() => client.close());
    expect(client.authMethod).toBe('COOKIE');
    expect(server.lines).toEqual(['PROTOCOLINFO 1', `AUTHENTICATE ${'07'.repeat(32)}`]);
  });

  it('says that tor named no methods when PROTOCOLINFO has no AUTH line, and sends nothing more', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
      else s.write('250 OK\r\n');
    });
    closers.push(server.close);
    const err = await connect({ control: server.address }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toBe('authentication failed: tor named no authentication methods in its PROTOCOLINFO reply (no AUTH line)');
    expect(server.lines).toEqual(['PROTOCOLINFO 1']);
  });

  it('gives up on a peer that never answers PROTOCOLINFO, naming the step', async () => {
    const server = await fakeTor(() => {});
    closers.push(server.close);
    const err = await connect({ control: server.address, connectTimeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/^PROTOCOLINFO 1: no reply from tor within 100 ms/);
  }, 5000);

  it('gives up on a peer that never answers AUTHENTICATE, without showing the credential', async () => {
    const server = await fakeTor((line, s) => {
      if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=HASHEDPASSWORD\r\n250 OK\r\n');
    });
    closers.push(server.close);
    const conn = await ControlConnection.connect(server.address);
    closers.push(() => conn.close());
    const err = await authenticate(conn, { password: 'hunter2', connectTimeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe('AUTHENTICATE <redacted>: no reply from tor within 100 ms');
  }, 5000);
});

/** A client on a scripted tor: NULL authentication; `onLine` gets everything after AUTHENTICATE. */
async function scriptedClient(onLine: (line: string, s: import('node:net').Socket) => void): Promise<{ client: TorClient; server: Awaited<ReturnType<typeof fakeTor>> }> {
  const server = await fakeTor((line, s) => {
    if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
    else if (line === 'AUTHENTICATE') s.write('250 OK\r\n');
    else onLine(line, s);
  });
  closers.push(server.close);
  const client = await connect({ control: server.address });
  closers.push(() => client.close());
  return { client, server };
}

describe('TorClient against a scripted peer', () => {
  it('refuses a client-auth key that is not one word without putting the key in the error', async () => {
    const { client, server } = await scriptedClient((_, s) => s.write('250 OK\r\n'));
    const key = 'c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWI=';
    for (const bad of [key + '\n', key + ' ', ' ' + key]) {
      const err = await client.onionClientAuthAdd({ address: 'a'.repeat(56), privateKey: new Secret(bad) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).not.toContain(key.slice(0, 8));
    }
    expect(server.lines).toEqual(['PROTOCOLINFO 1', 'AUTHENTICATE']);
  });

  it('waitFor: a timeout before SETEVENTS is answered rejects at once, then unsubscribes', async () => {
    const { client, server } = await scriptedClient((line, s) => {
      if (line === 'SETEVENTS SIGNAL') setTimeout(() => s.write('250 OK\r\n'), 300);
      else s.write('250 OK\r\n');
    });
    const started = Date.now();
    const err = await client.waitFor('SIGNAL', () => true, 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(250);
    await expect.poll(() => server.lines.slice(2)).toEqual(['SETEVENTS SIGNAL', 'SETEVENTS']);
  });

  it('waitFor: a throwing predicate rejects the wait and unsubscribes', async () => {
    const { client, server } = await scriptedClient((line, s) => {
      s.write('250 OK\r\n');
      if (line === 'SETEVENTS SIGNAL') s.write('650 SIGNAL NEWNYM\r\n');
    });
    const err = await client
      .waitFor(
        'SIGNAL',
        () => {
          throw new Error('predicate bug');
        },
        2000,
      )
      .catch((e: unknown) => e);
    expect(err).toEqual(new Error('predicate bug'));
    expect(server.lines.slice(2)).toEqual(['SETEVENTS SIGNAL', 'SETEVENTS']);
  });

  it('waitFor: rejects when the connection closes', async () => {
    const { client } = await scriptedClient((line, s) => {
      s.write('250 OK\r\n');
      if (line === 'SETEVENTS SIGNAL') s.destroy();
    });
    await expect(client.waitFor('SIGNAL', () => true, 2000)).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('delivers an event to every listener even when one throws, and surfaces the error', async () => {
    const { client } = await scriptedClient((line, s) => s.write(line.startsWith('GETINFO') ? '650 SIGNAL NEWNYM\r\n250 OK\r\n' : '250 OK\r\n'));
    const seen: string[] = [];
    await client.on('SIGNAL', () => {
      throw new Error('listener bug');
    });
    await client.on('SIGNAL', (e) => seen.push(e.signal));
    client.onAny(() => {
      throw new Error('any-listener bug');
    });
    client.onAny((e) => seen.push(`any ${e.type}`));
    const errors = await surfaced(async () => {
      await client.getInfo('version');
    });
    expect(seen).toEqual(['any SIGNAL', 'NEWNYM']);
    expect(errors).toEqual([new Error('any-listener bug'), new Error('listener bug')]);
  });
});
