import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/tor/errors.js';
import { parseMicrodescriptor, REJECT_ALL } from '../../src/tor/state/microdesc.js';
import { base64ToHex, parseNetworkStatus, parsePolicySummary, policyAllows } from '../../src/tor/state/ns.js';

// Entries as tor 0.4.9 prints them for GETINFO ns/all (routerstatus_format_entry, NS_CONTROL_PORT).
const NS = [
  'r exit2 BodOise+nUnthQzB33IKgqzCC6A okY8L+J+w5gfbZ0HYAnAgwIWkD0 2038-01-01 00:00:00 127.0.0.3 34989 0',
  's Exit Fast Guard HSDir Running Stable V2Dir Valid',
  'w Bandwidth=0',
  'r auth2 fhKaeGTZg/wPsj4RflK02vPCdDU jqTrBLWU4IToO41uH/nAe4Hs+Wk 2024-05-14 12:34:56 127.0.0.1 45195 45477',
  'a [2001:db8::1]:9001',
  's Authority Fast Guard HSDir Running V2Dir Valid',
  'v Tor 0.4.9.11',
  'pr Cons=1-2 Desc=1-2 Link=1-5',
  'w Bandwidth=20 Measured=30 Unmeasured=1 Future=7',
  'p reject 25,119,135-139',
  'r quiet 4YlWaRAnEGJ0OV3hvwwBRifAgYc o29zZj7opLrcXx7n0/kNwwLxkGs 2038-01-01 00:00:00 10.0.0.1 443 0',
  's',
].join('\n');

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex').toUpperCase();

describe('parseNetworkStatus', () => {
  it('parses r, a, s, v, pr, w and p lines of every entry', () => {
    const [exit2, auth2, quiet] = parseNetworkStatus(NS);
    expect(exit2).toEqual({
      nickname: 'exit2',
      fingerprint: hex('BodOise+nUnthQzB33IKgqzCC6A'),
      digest: hex('okY8L+J+w5gfbZ0HYAnAgwIWkD0'),
      published: new Date(Date.UTC(2038, 0, 1)),
      address: '127.0.0.3',
      orPort: 34989,
      dirPort: 0,
      orAddresses: [],
      flags: ['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'V2Dir', 'Valid'],
      bandwidth: 0,
      unmeasured: false,
    });
    expect(auth2).toMatchObject({
      nickname: 'auth2',
      published: new Date(Date.UTC(2024, 4, 14, 12, 34, 56)),
      orPort: 45195,
      dirPort: 45477,
      orAddresses: ['[2001:db8::1]:9001'],
      version: 'Tor 0.4.9.11',
      protocols: 'Cons=1-2 Desc=1-2 Link=1-5',
      bandwidth: 20,
      measured: 30,
      unmeasured: true,
      exitPolicy: { action: 'reject', ports: [{ min: 25, max: 25 }, { min: 119, max: 119 }, { min: 135, max: 139 }] },
    });
    expect(quiet).toMatchObject({ nickname: 'quiet', flags: [] });
    expect(quiet!.bandwidth).toBeUndefined();
  });

  it('shares one frozen flags array and policy object between entries that have the same lines', () => {
    const text = [NS.split('\n').slice(0, 3).join('\n'), NS.split('\n').slice(0, 3).join('\n').replace('exit2', 'exit3'), 'p accept 80', 'r x AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1 2', 's Exit Fast Guard HSDir Running Stable V2Dir Valid', 'p accept 80'].join('\n');
    const [a, b, c] = parseNetworkStatus(text);
    expect(a!.flags).toBe(b!.flags);
    expect(Object.isFrozen(a!.flags)).toBe(true);
    expect(b!.exitPolicy).toBe(c!.exitPolicy);
    expect(Object.isFrozen(c!.exitPolicy!.ports[0])).toBe(true);
  });

  it('reads CRLF line ends and ignores lines it does not know', () => {
    const text = ['m 1,2 sha256=abc', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-02-29 23:59:60 1.2.3.4 1 2', 'id ed25519 none', 's Running', ''].join('\r\n');
    const [r] = parseNetworkStatus(text);
    expect(r).toMatchObject({ nickname: 'n', fingerprint: '0'.repeat(40), flags: ['Running'], dirPort: 2 });
    expect(r!.published.toISOString()).toBe('2020-03-01T00:00:00.000Z');
  });

  it('returns nothing for an empty document', () => {
    expect(parseNetworkStatus('')).toEqual([]);
  });

  it.each([
    ['too few fields', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1'],
    ['short identity', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1 2'],
    ['bad base64', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAA* AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1 2'],
    ['port out of range', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 65536 2'],
    ['bad date', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-13-01 00:00:00 1.2.3.4 1 2'],
    ['too many fields', 'r n AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1 2 3\ns Running'],
    ['an empty nickname', 'r  AAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA 2020-01-01 00:00:00 1.2.3.4 1 2'],
  ])('refuses an r line with %s', (_, line) => {
    expect(() => parseNetworkStatus(line)).toThrow(ProtocolError);
  });

  it('agrees with a straightforward split-based parser on generated entries', () => {
    const b64 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b).toString('base64').replace(/=+$/, ''));
    const entry = fc.record({
      nickname: fc.stringMatching(/^[A-Za-z0-9]{1,19}$/),
      identity: b64,
      digest: b64,
      time: fc.integer({ min: 0, max: 4102444799 }),
      address: fc.ipV4(),
      orPort: fc.integer({ min: 0, max: 65535 }),
      dirPort: fc.integer({ min: 0, max: 65535 }),
      flags: fc.uniqueArray(fc.constantFrom('Exit', 'Fast', 'Guard', 'Running', 'Stable', 'Valid'), { maxLength: 6 }),
      bandwidth: fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        const text = entries
          .map((e) => {
            const t = new Date(e.time * 1000).toISOString().replace('T', ' ').slice(0, 19);
            const lines = [`r ${e.nickname} ${e.identity} ${e.digest} ${t} ${e.address} ${e.orPort} ${e.dirPort}`, `s ${e.flags.join(' ')}`.trimEnd()];
            if (e.bandwidth !== undefined) lines.push(`w Bandwidth=${e.bandwidth}`);
            return lines.join('\n');
          })
          .join('\n');
        const parsed = parseNetworkStatus(text);
        expect(parsed.map((p) => [p.nickname, p.fingerprint, p.digest, p.published.getTime() / 1000, p.address, p.orPort, p.dirPort, p.flags, p.bandwidth])).toEqual(
          entries.map((e) => [e.nickname, hex(e.identity), hex(e.digest), e.time, e.address, e.orPort, e.dirPort, e.flags, e.bandwidth]),
        );
      }),
    );
  });
});

describe('base64ToHex', () => {
  it('matches Buffer for every 20-byte digest, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
        const padded = Buffer.from(bytes).toString('base64');
        const want = Buffer.from(bytes).toString('hex').toUpperCase();
        expect(base64ToHex(padded, 0, padded.length)).toBe(want);
        expect(base64ToHex(padded.replace(/=+$/, ''), 0, 27)).toBe(want);
      }),
    );
  });

  it('refuses other lengths and characters', () => {
    expect(base64ToHex('AAAA', 0, 4)).toBeUndefined();
    expect(base64ToHex('AAAAAAAAAAAAAAAAAAAAAAAAAA\u00e9', 0, 27)).toBeUndefined();
  });
});

describe('exit policy summaries', () => {
  it('answers whether a port is allowed', () => {
    const accept = parsePolicySummary('accept 80,443,1000-2000');
    expect([80, 443, 1000, 1500, 2000].map((p) => policyAllows(accept, p))).toEqual([true, true, true, true, true]);
    expect([22, 999, 2001].map((p) => policyAllows(accept, p))).toEqual([false, false, false]);
    const reject = parsePolicySummary('reject 25');
    expect([policyAllows(reject, 25), policyAllows(reject, 80)]).toEqual([false, true]);
  });

  it.each(['allow 80', 'accept', 'accept 0', 'accept 90-80', 'accept 70000', 'accept 80,'])('refuses %j', (text) => {
    expect(() => parsePolicySummary(text)).toThrow(ProtocolError);
  });
});

describe('parseMicrodescriptor', () => {
  it('reads the exit policies, ed25519 identity and family', () => {
    const md = parseMicrodescriptor(
      [
        'onion-key',
        '-----BEGIN RSA PUBLIC KEY-----',
        'MIGJAoGBALX5v3H6zdETSzNDx7RcPeIGDJWehD4D0LL2rOJo3la8ZInK7Vdx6e/c',
        '-----END RSA PUBLIC KEY-----',
        'ntor-onion-key WQcdWCPmPIKisIfvgHStdV41u74lNWHcR7nmTe+hHhE',
        'family $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA $BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
        'p accept 1-65535',
        'p6 accept 80,443',
        'id ed25519 DYupfbDs6O6vau9VONxnu2+6HWf98AQWGxIr7gkh6iw',
      ].join('\n'),
    );
    expect(md).toEqual({
      exitPolicy: { action: 'accept', ports: [{ min: 1, max: 65535 }] },
      exitPolicyV6: { action: 'accept', ports: [{ min: 80, max: 80 }, { min: 443, max: 443 }] },
      ed25519: 'DYupfbDs6O6vau9VONxnu2+6HWf98AQWGxIr7gkh6iw',
      family: ['$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'],
    });
  });

  it('treats a microdescriptor without a p line as rejecting every port', () => {
    const md = parseMicrodescriptor('onion-key\nntor-onion-key x\nid ed25519 y');
    expect(md.exitPolicy).toBe(REJECT_ALL);
    expect(policyAllows(md.exitPolicy, 443)).toBe(false);
  });
});
