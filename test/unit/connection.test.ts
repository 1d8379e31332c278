import { afterEach, describe, expect, it } from 'vitest';
import { ControlConnection } from '../../src/tor/connection.js';
import { ConnectionClosedError, ConnectionError, ProtocolError, TimeoutError } from '../../src/tor/errors.js';
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

  it('explains a refused connection', async () => {
    const err = await ControlConnection.connect('tcp:127.0.0.1:1').catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/connection refused.*ControlPort/);
  });
});
