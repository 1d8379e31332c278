/**
 * SOCKS5 against scripted servers: the bytes we send for tor's RESOLVE / RESOLVE_PTR, replies in every
 * shape and chunking, and the mapping of reply codes (tor's extended onion codes included) to typed errors.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AddressTypeNotSupportedError,
  CommandNotSupportedError,
  ConnectionRefusedError,
  encodeRequest,
  GeneralFailureError,
  HostUnreachableError,
  NetworkUnreachableError,
  NotAllowedError,
  OnionBadAddressError,
  OnionBadClientAuthError,
  OnionDescriptorInvalidError,
  OnionDescriptorNotFoundError,
  OnionIntroFailedError,
  OnionIntroTimeoutError,
  OnionMissingClientAuthError,
  OnionRendezvousFailedError,
  OnionServiceError,
  parseReply,
  parseSocksAddress,
  replyCode,
  resolve,
  resolvePtr,
  SocksConnectionError,
  SocksError,
  SocksProtocolError,
  SocksReplyError,
  socksReplyError,
  SocksTimeoutError,
  torConnect,
  TtlExpiredError,
} from '../../src/tor/socks/index.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/**
 * A SOCKS server that plays `steps` in order: `read` waits for exactly that many bytes and records them,
 * `write` sends bytes (each its own TCP write), `close` ends the connection.
 */
type Step = { read: number } | { write: number[] } | { close: true };

async function socksServer(steps: Step[]): Promise<{ port: number; received: number[][] }> {
  const received: number[][] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let i = 0;
    let waiting: (() => void) | undefined;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      waiting?.();
    });
    const run = async () => {
      for (; i < steps.length; i++) {
        const step = steps[i]!;
        if ('read' in step) {
          while (buf.length < step.read) await new Promise<void>((r) => (waiting = r));
          received.push([...buf.subarray(0, step.read)]);
          buf = buf.subarray(step.read);
        } else if ('write' in step) {
          socket.write(Buffer.from(step.write));
          await new Promise((r) => setTimeout(r, 5));
        } else socket.end();
      }
    };
    void run();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => closers.push(async () => void s.destroy()));
  return { port: (server.address() as net.AddressInfo).port, received };
}

const NO_AUTH: Step[] = [{ read: 3 }, { write: [5, 0] }];
const name = (s: string) => [s.length, ...Buffer.from(s)];

describe('SOCKS5 reply codes', () => {
  it.each([
    [0x01, GeneralFailureError, /general SOCKS server failure/],
    [0x02, NotAllowedError, /not allowed/],
    [0x03, NetworkUnreachableError, /network unreachable/],
    [0x04, HostUnreachableError, /could not resolve/],
    [0x05, ConnectionRefusedError, /refused/],
    [0x06, TtlExpiredError, /gave up/],
    [0x07, CommandNotSupportedError, /command not supported/],
    [0x08, AddressTypeNotSupportedError, /address type/],
    [0xf0, OnionDescriptorNotFoundError, /descriptor not found/],
    [0xf1, OnionDescriptorInvalidError, /descriptor is invalid/],
    [0xf2, OnionIntroFailedError, /introduction failed/],
    [0xf3, OnionRendezvousFailedError, /rendezvous failed/],
    [0xf4, OnionMissingClientAuthError, /requires client authorization/],
    [0xf5, OnionBadClientAuthError, /rejected this tor's client authorization key/],
    [0xf6, OnionBadAddressError, /invalid onion address/],
    [0xf7, OnionIntroTimeoutError, /introduction timed out/],
  ] as const)('reply code %i maps to its own error class with a readable message', (code, cls, message) => {
    const err = socksReplyError(code, 'x.onion:80');
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(SocksReplyError);
    expect(err).toBeInstanceOf(SocksError);
    expect(err instanceof OnionServiceError).toBe(code >= 0xf0);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(new RegExp(`^x\\.onion:80: .*\\(SOCKS5 reply 0x${code.toString(16).toUpperCase().padStart(2, '0')}\\)$`));
  });

  it('keeps an unknown code as a plain SocksReplyError', () => {
    const err = socksReplyError(0x42, 't');
    expect(err.constructor).toBe(SocksReplyError);
    expect(err.message).toBe('t: unknown SOCKS5 reply code (SOCKS5 reply 0x42)');
  });

  it('finds the reply code in a server transcript, with and without the auth round', () => {
    expect(replyCode(Buffer.from([5, 0, 5, 0xf4, 0, 1]), false)).toBe(0xf4);
    expect(replyCode(Buffer.from([5, 2, 1, 0, 5, 0xf0, 0, 1]), true)).toBe(0xf0);
    expect(replyCode(Buffer.from([5, 0, 5, 0xf0]), true)).toBe(0xf0);
    expect(replyCode(Buffer.from([5, 2, 1, 0]), true)).toBeUndefined();
    expect(replyCode(Buffer.from([5]), false)).toBeUndefined();
  });
});

describe('SOCKS5 encoding', () => {
  it('encodes IPv4, IPv6 and names', () => {
    expect([...encodeRequest(0xf0, '10.1.2.3', 80)]).toEqual([5, 0xf0, 0, 1, 10, 1, 2, 3, 0, 80]);
    expect([...encodeRequest(0xf1, '2001:db8::1', 0)]).toEqual([5, 0xf1, 0, 4, 0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 1, 0, 0]);
    expect([...encodeRequest(1, 'a.onion', 443)]).toEqual([5, 1, 0, 3, ...name('a.onion'), 1, 187]);
  });

  it.each(['', 'a b', 'x'.repeat(256), 'a\nb'])('refuses the host name %j', (host) => {
    expect(() => encodeRequest(1, host, 80)).toThrow();
  });

  it('parses replies with each address type, and waits for the rest of a partial one', () => {
    expect(parseReply(Buffer.from([5, 0, 0, 1, 10, 1, 2, 3, 0, 0]))).toEqual({ reply: { code: 0, address: '10.1.2.3', port: 0 }, length: 10 });
    const v6 = Buffer.from([5, 0, 0, 4, 0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 5, 0, 0]);
    expect(parseReply(v6)?.reply.address).toBe('2001:db8::5');
    expect(parseReply(Buffer.from([5, 0, 0, 3, ...name('web.test'), 0, 0]))?.reply.address).toBe('web.test');
    expect(parseReply(Buffer.from([5, 0, 0, 3, 8, 0x77]))).toBeUndefined();
    expect(parseReply(Buffer.from([5, 0, 0]))).toBeUndefined();
    // tor's failure: REP then zeroes, ATYP 0.
    expect(parseReply(Buffer.from([5, 4, 0, 0, 0, 0, 0, 0, 0, 0]))?.reply.code).toBe(4);
    expect(() => parseReply(Buffer.from([4, 0, 0, 1]))).toThrow(SocksProtocolError);
    expect(() => parseReply(Buffer.from([5, 0, 0, 9]))).toThrow(SocksProtocolError);
  });

  it('parses SOCKS addresses', () => {
    expect(parseSocksAddress('9050')).toEqual({ host: '127.0.0.1', port: 9050 });
    expect(parseSocksAddress('10.0.0.1:9150')).toEqual({ host: '10.0.0.1', port: 9150 });
    expect(parseSocksAddress('[::1]:9050')).toEqual({ host: '::1', port: 9050 });
    expect(parseSocksAddress('unix:/run/tor/socks')).toEqual({ path: '/run/tor/socks' });
    expect(() => parseSocksAddress('localhost')).toThrow();
    expect(() => parseSocksAddress('1.2.3.4:70000')).toThrow();
  });
});

describe('RESOLVE and RESOLVE_PTR against a scripted SOCKS server', () => {
  it('sends RESOLVE for the name and returns the address, reply arriving a byte at a time', async () => {
    const reply = [5, 0, 0, 1, 10, 1, 2, 3, 0, 0];
    const server = await socksServer([...NO_AUTH, { read: 7 + 'www.example.test'.length }, ...reply.map((b) => ({ write: [b] }))]);
    expect(await resolve(`${server.port}`, 'www.example.test')).toBe('10.1.2.3');
    expect(server.received).toEqual([[5, 1, 0], [5, 0xf0, 0, 3, ...name('www.example.test'), 0, 0]]);
  });

  it('sends the isolation key as username/password', async () => {
    const server = await socksServer([{ read: 3 }, { write: [5, 2] }, { read: 2 + 5 + 1 + 13 }, { write: [1, 0] }, { read: 7 + 6 }, { write: [5, 0, 0, 4, 0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 9, 0, 0] }]);
    expect(await resolve(`${server.port}`, 'v6.one', { isolation: 'alice' })).toBe('2001:db8::9');
    expect(server.received[0]).toEqual([5, 1, 2]);
    expect(server.received[1]).toEqual([1, 5, ...Buffer.from('alice'), 13, ...Buffer.from('tor-reconcile')]);
  });

  it('sends RESOLVE_PTR for an address and returns the name', async () => {
    const server = await socksServer([...NO_AUTH, { read: 10 }, { write: [5, 0, 0, 3, ...name('pub.example.test'), 0, 0] }]);
    expect(await resolvePtr(`${server.port}`, '192.0.2.7')).toBe('pub.example.test');
    expect(server.received[1]).toEqual([5, 0xf1, 0, 1, 192, 0, 2, 7, 0, 0]);
  });

  it('turns a failure reply into the typed error', async () => {
    const server = await socksServer([...NO_AUTH, { read: 12 }, { write: [5, 4, 0, 0, 0, 0, 0, 0, 0, 0] }]);
    const err = await resolve(`${server.port}`, 'nx.test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect(err).toMatchObject({ code: 4, target: 'RESOLVE nx.test' });
  });

  it('reports a server that hangs up mid-handshake', async () => {
    const server = await socksServer([...NO_AUTH, { read: 12 }, { close: true }]);
    await expect(resolve(`${server.port}`, 'nx.test')).rejects.toBeInstanceOf(SocksConnectionError);
  });

  it('times out a server that never answers', async () => {
    const server = await socksServer([{ read: 3 }]);
    const err = await resolve(`${server.port}`, 'slow.test', { timeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocksTimeoutError);
    expect((err as Error).message).toMatch(/no SOCKS reply within/);
  });

  it('refuses what is not SOCKS5', async () => {
    const server = await socksServer([{ read: 3 }, { write: [4, 0] }]);
    await expect(resolve(`${server.port}`, 'x.test')).rejects.toBeInstanceOf(SocksProtocolError);
  });

  it('refuses an authentication method it did not offer', async () => {
    const server = await socksServer([{ read: 3 }, { write: [5, 0xff] }]);
    await expect(resolve(`${server.port}`, 'x.test')).rejects.toThrow(/none of the offered authentication methods/);
  });

  it('reports a closed SOCKS port as SocksConnectionError', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(resolve(`${port}`, 'x.test')).rejects.toThrow(/cannot connect to tor's SOCKS port 127\.0\.0\.1:\d+/);
  });
});

describe('torConnect (the socks package) against a scripted SOCKS server', () => {
  it("maps tor's extended onion code even though the package cannot name it", async () => {
    const onion = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion';
    const server = await socksServer([...NO_AUTH, { read: 7 + onion.length }, { write: [5, 0xf4, 0, 1, 0, 0, 0, 0, 0, 0] }]);
    const err = await torConnect(`${server.port}`, onion, 80).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnionMissingClientAuthError);
    expect(err).toMatchObject({ code: 0xf4, target: `${onion}:80` });
  });

  it('maps the code after a username/password round too', async () => {
    // The package offers no-auth and username/password; tor picks the latter whenever it is offered.
    const server = await socksServer([{ read: 4 }, { write: [5, 2] }, { read: 2 + 3 + 1 + 13 }, { write: [1, 0] }, { read: 7 + 7 }, { write: [5, 2, 0, 1, 0, 0, 0, 0, 0, 0] }]);
    const err = await torConnect(`${server.port}`, 'x.onion', 80, { isolation: 'bob' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAllowedError);
    expect(server.received[0]).toEqual([5, 2, 0, 2]);
    expect(server.received[1]).toEqual([1, 3, ...Buffer.from('bob'), 13, ...Buffer.from('tor-reconcile')]);
  });

  it('hands back a socket that carries data both ways once tor says yes', async () => {
    const server = await socksServer([...NO_AUTH, { read: 7 + 8 }, { write: [5, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x68, 0x69] }, { read: 4 }, { write: [0x6f, 0x6b] }]);
    const socket = await torConnect(`${server.port}`, 'web.test', 80);
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    socket.write('ping');
    await expect.poll(() => Buffer.concat(got).toString()).toBe('hiok');
    expect(server.received[2]).toEqual([...Buffer.from('ping')]);
    socket.destroy();
  });

  it('reports a server that closes before replying as SocksConnectionError', async () => {
    const server = await socksServer([...NO_AUTH, { read: 7 + 8 }, { close: true }]);
    await expect(torConnect(`${server.port}`, 'web.test', 80)).rejects.toBeInstanceOf(SocksConnectionError);
  });
});
