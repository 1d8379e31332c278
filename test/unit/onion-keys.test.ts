import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { format, inspect } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Base32Error,
  base32Decode,
  base32Encode,
  ClientAuthError,
  clientAuthPrivateKeyFromBase64,
  clientAuthPrivateKeyToBase64,
  clientAuthPrivateLine,
  clientAuthPublicFromPrivate,
  encodeHostnameFile,
  encodePublicKeyFile,
  encodeSecretKeyFile,
  ensureSecretDir,
  generateClientAuthKeyPair,
  generateServiceKey,
  isValidOnionAddress,
  KeyFileError,
  OnionAddressError,
  onionAddressFromPublicKey,
  OnionKeyError,
  OnionServiceKey,
  parseClientAuthPrivate,
  parseOnionAddress,
  parsePublicKeyFile,
  parseSecretKeyFile,
  parseServiceAuthLine,
  readTorKeyFiles,
  SecretFileError,
  serviceAuthLine,
  writeSecretFileAtomic,
  writeSecretFilesAtomic,
  writeTorKeyFiles,
} from '../../src/tor/onion/index.js';
import { Secret } from '../../src/tor/secret.js';
import { propertyRuns } from '../helpers/property.js';

const hex = (h: string) => Buffer.from(h, 'hex');

/** RFC 8032 §7.1 TEST 1. Its onion address was checked against tor 0.4.9.11 (test/integration/onion-keys.test.ts). */
const RFC8032_TEST1 = {
  seed: hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
  publicKey: hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
  address: '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid',
};
/** RFC 8032 TEST 3, which tor's ed25519_impl_spot_check() runs at startup. */
const RFC8032_TEST3 = {
  seed: hex('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7'),
  publicKey: hex('fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025'),
};

/** A point of order 8: adding it to a public key gives the same service a second, "torsioned" address. */
const TORSION_POINT = ed25519.Point.fromBytes(hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));

/** Every way a secret could leak into text: hex, base64 and base64url of the whole and of each half. */
function secretSpellings(secret: Buffer): string[] {
  return [secret, secret.subarray(0, 32), secret.subarray(32)].flatMap((b) => [b.toString('hex'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')]);
}

function expectNoLeak(text: string, secret: Buffer): void {
  for (const s of secretSpellings(secret)) expect(text).not.toContain(s);
}

describe('base32', () => {
  it('encodes the RFC 4648 test vectors, lowercase and unpadded', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
  });

  it('decodes the RFC 4648 padded uppercase spellings', () => {
    expect(base32Decode('MY======').toString()).toBe('f');
    expect(base32Decode('MZXW6YQ=').toString()).toBe('foob');
    expect(base32Decode('MZXW6YTBOI======').toString()).toBe('foobar');
    expect(base32Decode('MzXw6').toString()).toBe('foo');
  });

  it('round-trips any bytes, in either case, with or without padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const encoded = base32Encode(bytes);
        expect(encoded).toMatch(/^[a-z2-7]*$/);
        expect(encoded.length).toBe(Math.ceil((bytes.length * 8) / 5));
        expect(base32Decode(encoded)).toEqual(Buffer.from(bytes));
        expect(base32Decode(encoded.toUpperCase())).toEqual(Buffer.from(bytes));
        const padded = encoded + '='.repeat((8 - (encoded.length % 8)) % 8);
        expect(base32Decode(padded)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('refuses bad characters without echoing them, impossible lengths, wrong padding and non-canonical tails', () => {
    expect(() => base32Decode('mzxw1')).toThrow(/character 5 of 5 is not base32/);
    expect(() => base32Decode('mzxw1')).not.toThrow(/"1"/);
    expect(() => base32Decode('m')).toThrow(Base32Error);
    expect(() => base32Decode('mzx')).toThrow(/3 base32 characters cannot encode/);
    expect(() => base32Decode('mzxw6y')).toThrow(Base32Error);
    expect(() => base32Decode('my=====')).toThrow(/wrong base32 padding/);
    expect(() => base32Decode('mzxw6===')).not.toThrow();
    expect(() => base32Decode('mzxw6====')).toThrow(/wrong base32 padding/);
    expect(() => base32Decode('mz')).toThrow(/non-canonical/);
  });
});

describe('onion addresses', () => {
  it("matches tor's test_build_address vector (public key of 32 × 0x42)", () => {
    expect(onionAddressFromPublicKey(Buffer.alloc(32, 0x42))).toBe('ijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbezhid');
  });

  it('derives the RFC 8032 test keys and their address', () => {
    const k1 = OnionServiceKey.fromSeed(RFC8032_TEST1.seed);
    expect(k1.publicKey).toEqual(RFC8032_TEST1.publicKey);
    expect(k1.address).toBe(RFC8032_TEST1.address);
    expect(OnionServiceKey.fromSeed(RFC8032_TEST3.seed).publicKey).toEqual(RFC8032_TEST3.publicKey);
  });

  it("accepts the addresses of tor's test_hs_control, with or without .onion, in any case", () => {
    for (const a of ['2fvhjskjet3n5syd6yfg5lhvwcs62bojmthr35ko5bllr3iqdb4ctdyd', 'jt4grrjwzyz3pjkylwfau5xnjaj23vxmhskqaeyfhrfylelw4hvxcuyd', 'jamie3vkiwibfiwucd6vxijskbhpjdyajmzeor4mc4i7yopvpo4p7cyd']) {
      const parsed = parseOnionAddress(a);
      expect(onionAddressFromPublicKey(parsed.publicKey)).toBe(a);
      expect(parseOnionAddress(`${a.toUpperCase()}.ONION`)).toEqual({ address: a, publicKey: parsed.publicKey });
      expect(parseOnionAddress(`${a}.onion`).address).toBe(a);
      expect(isValidOnionAddress(a)).toBe(true);
    }
  });

  it('parses back the public key of any generated key', () => {
    for (let i = 0; i < 20; i++) {
      const key = generateServiceKey();
      expect(key.address).toMatch(/^[a-z2-7]{55}d$/);
      expect(parseOnionAddress(key.address).publicKey).toEqual(key.publicKey);
    }
  });

  const problemOf = (text: string) => {
    try {
      parseOnionAddress(text);
    } catch (err) {
      expect(err).toBeInstanceOf(OnionAddressError);
      return { problem: (err as OnionAddressError).problem, message: (err as Error).message };
    }
    return undefined;
  };

  it('names the length problem, with a hint for v2 addresses', () => {
    expect(problemOf('blah')?.problem).toBe('length');
    expect(problemOf('p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnadb')?.problem).toBe('length');
    expect(problemOf('expyuzz4wqqyqhjn.onion')?.message).toMatch(/has 16 \(16 is a v2 address/);
    expect(problemOf(`${generateServiceKey().address}.onion.`)?.problem).toBe('length');
  });

  it('names the first character outside base32', () => {
    expect(problemOf('?'.repeat(56))?.message).toMatch(/character 1 \("\?"\) is not base32/);
    const a = generateServiceKey().address;
    expect(problemOf(`${a.slice(0, 9)}0${a.slice(10)}`)?.message).toMatch(/character 10 \("0"\)/);
  });

  it("reports prop224's bad-checksum examples and a single typo as checksum failures", () => {
    expect(problemOf('l5satjgud6gucryazcyvyvhuxhr74u6ygigiuyixe3a6ysis67ororad')?.problem).toBe('checksum');
    expect(problemOf('btojiu7nu5y5iwut64eufevogqdw4wmqzugnoluw232r4t3ecsfv37ad')?.problem).toBe('checksum');
    const a = generateServiceKey().address;
    const typo = `${a.slice(0, 20)}${a[20] === 'a' ? 'b' : 'a'}${a.slice(21)}`;
    expect(problemOf(typo)?.problem).toBe('checksum');
  });

  it('refuses a version other than 3 even when its checksum is right', () => {
    const pub = generateServiceKey().publicKey;
    const sum = createHash('sha3-256').update('.onion checksum').update(pub).update(Buffer.of(4)).digest().subarray(0, 2);
    const v4 = base32Encode(Buffer.concat([pub, sum, Buffer.of(4)]));
    expect(problemOf(v4)).toEqual({ problem: 'version', message: expect.stringMatching(/version byte is 4, expected 3/) });
  });

  it('refuses public keys tor refuses: not a point, the identity, a torsion component', () => {
    // Tor's old test_build_address vector: the address derivation is right, but 32 × 0x42 is not on the curve.
    expect(problemOf('ijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbezhid')?.message).toMatch(/not a point on ed25519/);
    expect(problemOf(onionAddressFromPublicKey(hex(`01${'00'.repeat(31)}`)))?.message).toMatch(/identity point/);
    const key = generateServiceKey();
    const torsioned = Buffer.from(ed25519.Point.fromBytes(key.publicKey).add(TORSION_POINT).toBytes());
    expect(problemOf(onionAddressFromPublicKey(torsioned))?.message).toMatch(/torsion component/);
    // Tor's old test_validate_address "valid" vector predates its torsion check; tor 0.4.9 rejects it too.
    expect(problemOf('p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnad')?.problem).toBe('public-key');
    expect(isValidOnionAddress('p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnad')).toBe(false);
  });
});

describe('OnionServiceKey', () => {
  it('expands a seed as tor does: SHA-512, then clamp', () => {
    const expanded = OnionServiceKey.fromSeed(RFC8032_TEST1.seed).expandedSecretKey.reveal();
    const h = createHash('sha512').update(RFC8032_TEST1.seed).digest();
    expect(expanded.subarray(32)).toEqual(h.subarray(32));
    expect(expanded[0]).toBe(h[0]! & 248);
    expect(expanded[31]).toBe((h[31]! & 127) | 64);
    expect(expanded.subarray(1, 31)).toEqual(h.subarray(1, 31));
  });

  it('derives from the expanded key (@noble/curves) the public key node:crypto derives from the seed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const fromSeed = OnionServiceKey.fromSeed(seed);
        const nodePublic = createPublicKey(createPrivateKey({ key: Buffer.concat([hex('302e020100300506032b657004220420'), seed]), format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x;
        expect(fromSeed.publicKey.toString('base64url')).toBe(nodePublic);
        const fromExpanded = OnionServiceKey.fromExpanded(fromSeed.expandedSecretKey);
        expect(fromExpanded.publicKey).toEqual(fromSeed.publicKey);
        expect(fromExpanded.address).toBe(fromSeed.address);
      }),
      { numRuns: propertyRuns(50) },
    );
  });

  it('refuses an expanded key of the wrong size or with an unclamped scalar (e.g. libsodium seed ‖ public key)', () => {
    expect(() => OnionServiceKey.fromExpanded(Buffer.alloc(63))).toThrow(/64 bytes, got 63/);
    const libsodiumStyle = Buffer.concat([RFC8032_TEST1.seed, RFC8032_TEST1.publicKey]);
    expect(() => OnionServiceKey.fromExpanded(libsodiumStyle)).toThrow(OnionKeyError);
    const good = generateServiceKey().expandedSecretKey.reveal();
    for (const [byte, flip] of [
      [0, 1],
      [31, 0x80],
      [31, 0x40],
    ] as const) {
      const bad = Buffer.from(good);
      bad[byte]! ^= flip;
      expect(() => OnionServiceKey.fromExpanded(bad)).toThrow(/not clamped/);
    }
    expect(() => OnionServiceKey.fromSeed(Buffer.alloc(31))).toThrow(/32 bytes, got 31/);
  });

  it('round-trips the ADD_ONION blob, as a string or a Secret, padded or not', () => {
    const key = generateServiceKey();
    const blob = key.toAddOnionBlob();
    expect(blob).toBeInstanceOf(Secret);
    expect(blob.reveal()).toMatch(/^ED25519-V3:[A-Za-z0-9+/]{86}==$/);
    expect(Buffer.from(blob.reveal().slice(11), 'base64')).toEqual(key.expandedSecretKey.reveal());
    expect(OnionServiceKey.fromAddOnionBlob(blob).address).toBe(key.address);
    expect(OnionServiceKey.fromAddOnionBlob(blob.reveal()).address).toBe(key.address);
    expect(OnionServiceKey.fromAddOnionBlob(blob.reveal().replace(/==$/, '')).address).toBe(key.address);
    expect(OnionServiceKey.fromAddOnionBlob(`${blob.reveal()}\n`).address).toBe(key.address);
  });

  it('refuses other blobs with a precise error that never contains the key', () => {
    const key = generateServiceKey();
    const base64 = key.toAddOnionBlob().reveal().slice('ED25519-V3:'.length);
    const secret = key.expandedSecretKey.reveal();
    const cases: Array<[string, RegExp]> = [
      [`RSA1024:${base64}`, /RSA1024 keys are v2 onion services/],
      [`ED25519-V2:${base64}`, /key type ED25519-V2 is not ED25519-V3/],
      [base64, /does not start with "ED25519-V3:"/],
      [`ED25519-V3:${base64.slice(0, 80)}`, /got 80 characters/],
      [`ED25519-V3:${base64.slice(0, 85)}!=`, /got 87 characters/],
      [`ED25519-V3:${Buffer.concat([RFC8032_TEST1.seed, RFC8032_TEST1.publicKey]).toString('base64')}`, /not clamped/],
    ];
    for (const [blob, message] of cases) {
      let error: unknown;
      try {
        OnionServiceKey.fromAddOnionBlob(blob);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(OnionKeyError);
      expect((error as Error).message).toMatch(message);
      expectNoLeak((error as Error).message, secret);
      expect((error as Error).message).not.toContain(base64.slice(0, 20));
    }
  });

  it('never prints the secret: String, template, JSON, inspect, format', () => {
    const key = generateServiceKey();
    const secret = key.expandedSecretKey.reveal();
    const renderings = [
      String(key),
      key.toString(),
      `${key}`,
      key + '',
      JSON.stringify(key),
      JSON.stringify({ nested: [key] }),
      inspect(key),
      inspect({ key }, { showHidden: true, depth: Infinity, getters: true }),
      format('%s %o %O %j', key, key, key, key),
      String(key.toAddOnionBlob()),
      JSON.stringify(key.toAddOnionBlob()),
      inspect(key.expandedSecretKey),
      inspect(encodeSecretKeyFile(key), { showHidden: true }),
      JSON.stringify(Object.entries(key)),
    ];
    for (const text of renderings) expectNoLeak(text, secret);
    expect(String(key)).toBe(key.address);
    expect(JSON.stringify(key)).toBe(JSON.stringify({ address: key.address }));
    expect(inspect(key)).toBe(`OnionServiceKey { address: '${key.address}' }`);
  });

  it('hands out copies: changing them does not change the key', () => {
    const key = generateServiceKey();
    const before = key.toAddOnionBlob().reveal();
    key.expandedSecretKey.reveal().fill(0);
    key.publicKey.fill(0);
    expect(key.toAddOnionBlob().reveal()).toBe(before);
    expect(onionAddressFromPublicKey(key.publicKey)).toBe(key.address);
  });
});

describe("tor's key files", () => {
  const SECRET_HEADER = Buffer.from('== ed25519v1-secret: type0 ==\0\0\0', 'latin1');
  const PUBLIC_HEADER = Buffer.from('== ed25519v1-public: type0 ==\0\0\0', 'latin1');

  it('encodes the layout tor writes and parses it back', () => {
    const key = generateServiceKey();
    const secretFile = encodeSecretKeyFile(key).reveal();
    expect(secretFile.length).toBe(96);
    expect(secretFile.subarray(0, 32)).toEqual(SECRET_HEADER);
    expect(secretFile.subarray(32)).toEqual(key.expandedSecretKey.reveal());
    const publicFile = encodePublicKeyFile(key);
    expect(publicFile).toEqual(Buffer.concat([PUBLIC_HEADER, key.publicKey]));
    expect(encodeHostnameFile(key)).toBe(`${key.address}.onion\n`);
    expect(parseSecretKeyFile(secretFile).address).toBe(key.address);
    expect(parsePublicKeyFile(publicFile)).toEqual(key.publicKey);
  });

  it('names the file and the problem for each malformed file, without key bytes', () => {
    const key = generateServiceKey();
    const secret = key.expandedSecretKey.reveal();
    const secretFile = encodeSecretKeyFile(key).reveal();
    const publicFile = encodePublicKeyFile(key);
    const wrongTag = Buffer.from(secretFile);
    wrongTag.write('type1', 21, 'latin1');
    const unclamped = Buffer.from(secretFile);
    unclamped[32]! |= 1;
    const cases: Array<[() => unknown, string, RegExp]> = [
      [() => parseSecretKeyFile(secretFile.subarray(0, 95), '/hs/hs_ed25519_secret_key'), '/hs/hs_ed25519_secret_key', /is 95 bytes; an ed25519 secret key file is 96/],
      [() => parseSecretKeyFile(Buffer.concat([secretFile, Buffer.of(0)])), 'hs_ed25519_secret_key', /is 97 bytes/],
      [() => parseSecretKeyFile(wrongTag), 'hs_ed25519_secret_key', /does not start with tor's header "== ed25519v1-secret: type0 =="/],
      [() => parseSecretKeyFile(publicFile), 'hs_ed25519_secret_key', /is an ed25519 public key file, not a secret key file/],
      [() => parseSecretKeyFile(unclamped), 'hs_ed25519_secret_key', /not clamped/],
      [() => parsePublicKeyFile(secretFile), 'hs_ed25519_public_key', /is an ed25519 secret key file, not a public key file/],
      [() => parsePublicKeyFile(publicFile.subarray(1)), 'hs_ed25519_public_key', /is 63 bytes; an ed25519 public key file is 64/],
    ];
    for (const [parse, file, message] of cases) {
      let error: unknown;
      try {
        parse();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(KeyFileError);
      expect((error as KeyFileError).file).toBe(file);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message.startsWith(`${file}: `)).toBe(true);
      expectNoLeak((error as Error).message, secret);
    }
  });

  describe('on disk', () => {
    let root: string;
    beforeAll(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'tr-onion-'));
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('writes a 0700 directory of 0600 files that readTorKeyFiles loads', async () => {
      const dir = path.join(root, 'write-read', 'hs');
      const key = generateServiceKey();
      await writeTorKeyFiles(dir, key);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      expect((await readdir(dir)).sort()).toEqual(['hostname', 'hs_ed25519_public_key', 'hs_ed25519_secret_key']);
      for (const f of await readdir(dir)) expect((await stat(path.join(dir, f))).mode & 0o777).toBe(0o600);
      expect(await readFile(path.join(dir, 'hostname'), 'utf8')).toBe(`${key.address}.onion\n`);
      expect((await readTorKeyFiles(dir)).address).toBe(key.address);
    });

    it('needs only the secret key; checks the public key and hostname against it', async () => {
      const dir = path.join(root, 'mismatch');
      const key = generateServiceKey();
      const other = generateServiceKey();
      await writeTorKeyFiles(dir, key);
      await rm(path.join(dir, 'hostname'));
      await rm(path.join(dir, 'hs_ed25519_public_key'));
      expect((await readTorKeyFiles(dir)).address).toBe(key.address);

      await writeFile(path.join(dir, 'hs_ed25519_public_key'), encodePublicKeyFile(other));
      await expect(readTorKeyFiles(dir)).rejects.toThrow(new KeyFileError(path.join(dir, 'hs_ed25519_public_key'), 'does not match hs_ed25519_secret_key (it is the public key of another service)'));
      await writeFile(path.join(dir, 'hs_ed25519_public_key'), encodePublicKeyFile(key));

      await writeFile(path.join(dir, 'hostname'), encodeHostnameFile(other));
      await expect(readTorKeyFiles(dir)).rejects.toThrow(`names "${other.address}.onion" but hs_ed25519_secret_key is the key of ${key.address}.onion`);
    });

    it('reports a missing secret key file by name', async () => {
      const dir = path.join(root, 'empty');
      await mkdir(dir);
      const error = await readTorKeyFiles(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyFileError);
      expect((error as KeyFileError).file).toBe(path.join(dir, 'hs_ed25519_secret_key'));
      expect((error as Error).message).toMatch(/does not exist/);
    });

    it('refuses to overwrite a secret key file holding another key, or one it cannot parse', async () => {
      const dir = path.join(root, 'overwrite');
      const key = generateServiceKey();
      await writeTorKeyFiles(dir, key);
      await writeTorKeyFiles(dir, key);
      const other = generateServiceKey();
      await expect(writeTorKeyFiles(dir, other)).rejects.toThrow(`already holds the key of ${key.address}.onion; refusing to replace it with the key of ${other.address}.onion`);
      expect((await readTorKeyFiles(dir)).address).toBe(key.address);
      await writeFile(path.join(dir, 'hs_ed25519_secret_key'), 'garbage');
      await expect(writeTorKeyFiles(dir, key)).rejects.toThrow(/already holds a key that cannot be parsed/);
    });
  });
});

describe('client authorization keys', () => {
  // From tor's src/test/test_hs_control.c (test_hs_control_store_permanent_creds).
  const TOR_VECTORS = [
    { base64: 'iJ1tjKCrMAbiFT2bVrCjhbfMDnE1fpaRbIS5ZHKUvEQ=', base32: 'rcow3dfavmyanyqvhwnvnmfdqw34ydtrgv7jnelmqs4wi4uuxrca' },
    { base64: 'UDRvZLvcJo0QRLvDfkpgbtsqbkhIUQZyeo2FNBrgS18=', base32: 'ka2g6zf33qti2ecexpbx4stan3nsu3sijbiqm4t2rwctigxajnpq' },
  ];
  const TOR_ADDRESS = '2fvhjskjet3n5syd6yfg5lhvwcs62bojmthr35ko5bllr3iqdb4ctdyd';

  it("converts between the control port's base64 and the files' base32 like tor", () => {
    for (const v of TOR_VECTORS) {
      expect(clientAuthPrivateKeyFromBase64(v.base64).reveal()).toBe(v.base32);
      expect(clientAuthPrivateKeyFromBase64(v.base64.replace(/=$/, '')).reveal()).toBe(v.base32);
      expect(clientAuthPrivateKeyToBase64(v.base32).reveal()).toBe(v.base64);
      expect(clientAuthPrivateKeyToBase64(new Secret(v.base32.toUpperCase())).reveal()).toBe(v.base64);
    }
  });

  it('writes the .auth_private line byte for byte as tor does, and parses it back', () => {
    const line = clientAuthPrivateLine(TOR_ADDRESS, TOR_VECTORS[0]!.base32);
    expect(line).toBeInstanceOf(Secret);
    expect(line.reveal()).toBe(`${TOR_ADDRESS}:descriptor:x25519:${TOR_VECTORS[0]!.base32}`);
    expect(clientAuthPrivateLine(`${TOR_ADDRESS.toUpperCase()}.onion`, TOR_VECTORS[0]!.base32.toUpperCase()).reveal()).toBe(line.reveal());
    const parsed = parseClientAuthPrivate(line);
    expect(parsed.address).toBe(TOR_ADDRESS);
    expect(parsed.privateKey.reveal()).toBe(TOR_VECTORS[0]!.base32);
    expect(parseClientAuthPrivate(` ${TOR_ADDRESS}.onion : descriptor : x25519 : ${TOR_VECTORS[0]!.base32.toUpperCase()}\n`).privateKey.reveal()).toBe(TOR_VECTORS[0]!.base32);
    const bare = parseClientAuthPrivate(`${TOR_VECTORS[1]!.base32}\n`);
    expect(bare.address).toBeUndefined();
    expect(bare.privateKey.reveal()).toBe(TOR_VECTORS[1]!.base32);
  });

  it('derives x25519 public keys correctly (RFC 7748 §6.1)', () => {
    const alicePrivate = base32Encode(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    expect(clientAuthPublicFromPrivate(alicePrivate)).toBe(base32Encode(hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')));
  });

  it('generates consistent key pairs in the spellings tor uses', () => {
    const pair = generateClientAuthKeyPair();
    expect(pair.publicKey).toMatch(/^[a-z2-7]{52}$/);
    expect(pair.privateKey.reveal()).toMatch(/^[a-z2-7]{52}$/);
    expect(pair.privateKeyBase64.reveal()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(clientAuthPublicFromPrivate(pair.privateKey)).toBe(pair.publicKey);
    expect(clientAuthPrivateKeyToBase64(pair.privateKey).reveal()).toBe(pair.privateKeyBase64.reveal());
    expect(generateClientAuthKeyPair().publicKey).not.toBe(pair.publicKey);
    const printed = [String(pair.privateKey), JSON.stringify(pair), inspect(pair, { depth: Infinity, showHidden: true })];
    for (const text of printed) {
      expect(text).not.toContain(pair.privateKey.reveal());
      expect(text).not.toContain(pair.privateKeyBase64.reveal().slice(0, 40));
    }
  });

  it('formats and parses the service-side .auth line, normalising case', () => {
    const { publicKey } = generateClientAuthKeyPair();
    expect(serviceAuthLine(publicKey)).toBe(`descriptor:x25519:${publicKey}`);
    expect(serviceAuthLine(publicKey.toUpperCase())).toBe(`descriptor:x25519:${publicKey}`);
    expect(parseServiceAuthLine(`descriptor:x25519:${publicKey.toUpperCase()}\n`)).toEqual({ publicKey });
    expect(parseServiceAuthLine(` descriptor : x25519 : ${publicKey} `)).toEqual({ publicKey });
  });

  it('refuses what tor would skip, with errors that never contain a private key', () => {
    const pair = generateClientAuthKeyPair();
    const pub = pair.publicKey;
    const priv = pair.privateKey.reveal();
    const cases: Array<[() => unknown, RegExp]> = [
      [() => parseServiceAuthLine(`descriptor:x25519:${pub.toUpperCase()}====`), /got 56 \(remove the "=" padding: tor rejects it\)/],
      [() => parseServiceAuthLine(`x25519:${pub}`), /3 ":"-separated fields\), this has 2$/],
      [() => parseServiceAuthLine(`${TOR_ADDRESS}:descriptor:x25519:${priv}`), /this has 4 \(is this a client's \.auth_private line\?\)/],
      [() => parseServiceAuthLine(`Descriptor:x25519:${pub}`), /authorization type must be "descriptor"/],
      [() => parseServiceAuthLine(`descriptor:X25519:${pub}`), /key type must be "x25519"/],
      [() => parseServiceAuthLine(`descriptor:x25519:${pub.slice(0, 51)}1`), /character 52 of 52 is not base32/],
      [() => serviceAuthLine(pub.slice(1)), /52 base32 characters, got 51/],
      [() => parseClientAuthPrivate(`${priv}====`), /remove the "=" padding/],
      [() => parseClientAuthPrivate(`${priv.slice(0, 51)}0`), /private key: character 52 of 52 is not base32/],
      [() => parseClientAuthPrivate('a'.repeat(52)), /all zeros/],
      [() => parseClientAuthPrivate(`descriptor:x25519:${priv}`), /got 3 ":"-separated fields/],
      [() => parseClientAuthPrivate(`${TOR_ADDRESS.slice(1)}:descriptor:x25519:${priv}`), /a v3 onion address has 56 characters/],
      [() => parseClientAuthPrivate(`${TOR_ADDRESS}:descriptor:curve25519:${priv}`), /key type must be "x25519"/],
      [() => clientAuthPrivateKeyFromBase64('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), /all zeros/],
      [() => clientAuthPrivateKeyFromBase64('QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUEK'), /got 44 characters/],
      [() => clientAuthPrivateKeyFromBase64(`${pair.privateKeyBase64.reveal().slice(0, 42)}-=`), /got 44 characters/],
      [() => clientAuthPrivateKeyFromBase64(`${pair.privateKeyBase64.reveal().slice(0, 42)}B=`), /non-canonical base64/],
    ];
    for (const [run, message] of cases) {
      let error: unknown;
      try {
        run();
      } catch (err) {
        error = err;
      }
      expect(error, String(message)).toBeInstanceOf(ClientAuthError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain(priv);
      expect((error as Error).message).not.toContain(priv.toUpperCase());
    }
  });
});

describe('secret files', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'tr-persist-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('replaces a file atomically with mode 0600 and leaves no temporary file', async () => {
    const dir = path.join(root, 'atomic');
    await mkdir(dir);
    const file = path.join(dir, 'key');
    await writeFile(file, 'old', { mode: 0o644 });
    await writeSecretFileAtomic(file, new Secret('new'));
    expect(await readFile(file, 'utf8')).toBe('new');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await writeSecretFileAtomic(file, Buffer.from([1, 2, 3]));
    expect(await readFile(file)).toEqual(Buffer.from([1, 2, 3]));
    expect(await readdir(dir)).toEqual(['key']);
  });

  it('applies the mode exactly, not filtered by the umask', async () => {
    expect(process.umask() & 0o066).not.toBe(0); // otherwise this test could not fail
    const file = path.join(root, 'shared');
    await writeSecretFileAtomic(file, 'x', 0o666);
    expect((await stat(file)).mode & 0o777).toBe(0o666);
  });

  it('writes nothing and leaves no temporary file when one of several files fails', async () => {
    const dir = path.join(root, 'partial');
    await mkdir(dir);
    const error = await writeSecretFilesAtomic([
      { path: path.join(dir, 'a'), data: 'a' },
      { path: path.join(dir, 'missing', 'b'), data: 'b' },
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretFileError);
    expect((error as SecretFileError).path).toBe(path.join(dir, 'missing', 'b'));
    expect((error as Error).message).toMatch(/cannot write: ENOENT/);
    expect(await readdir(dir)).toEqual([]);
    await expect(writeSecretFilesAtomic([{ path: path.join(dir, 'x'), data: '1' }, { path: path.join(dir, '.', 'x'), data: '2' }])).rejects.toThrow(/listed twice/);
  });

  it('rejects, naming the target, when the rename fails, and leaves no temporary file', async () => {
    const dir = path.join(root, 'rename');
    await mkdir(path.join(dir, 'key'), { recursive: true });
    await writeFile(path.join(dir, 'key', 'inside'), 'keep');
    // A non-empty directory at the target: the file's write and fsync succeed, only the rename can fail.
    for (const write of [() => writeSecretFileAtomic(path.join(dir, 'key'), new Secret('new')), () => writeSecretFilesAtomic([{ path: path.join(dir, 'other'), data: 'o' }, { path: path.join(dir, 'key'), data: 'k' }])]) {
      const error = await write().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SecretFileError);
      expect((error as SecretFileError).path).toBe(path.join(dir, 'key'));
      expect((error as Error).message).toMatch(/cannot rename: E(ISDIR|NOTEMPTY|EXIST)/);
      expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(await readFile(path.join(dir, 'key', 'inside'), 'utf8')).toBe('keep');
    }
  });

  it('fsyncs all temporary files concurrently, renames only after, then fsyncs each directory once', async () => {
    const dirA = path.join(root, 'par-a');
    const dirB = path.join(root, 'par-b');
    await mkdir(dirA);
    await mkdir(dirB);
    const targets = [path.join(dirA, '1'), path.join(dirA, '2'), path.join(dirA, '3'), path.join(dirB, '4')];
    const probe = await open(path.join(root, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    const realSync = prototype.sync;
    // Each fsync waits until all of its kind (4 files, then 2 directories) have started, or 1 s: concurrent
    // code passes at once and deterministically, serial code shows up in maxActive.
    const barrier = (n: number) => {
      let arrived = 0;
      let open!: () => void;
      const opened = new Promise<void>((r) => (open = r));
      return () => {
        if (++arrived === n) open();
        return Promise.race([opened, new Promise((r) => setTimeout(r, 1000))]);
      };
    };
    const fileBarrier = barrier(4);
    const dirBarrier = barrier(2);
    const active = { file: 0, dir: 0 };
    const maxActive = { file: 0, dir: 0 };
    const syncs: Array<{ directory: boolean; targetsPresent: number }> = [];
    vi.spyOn(prototype, 'sync').mockImplementation(async function (this: { stat(): Promise<{ isDirectory(): boolean }> }) {
      const directory = (await this.stat()).isDirectory();
      const kind = directory ? 'dir' : 'file';
      maxActive[kind] = Math.max(maxActive[kind], ++active[kind]);
      const present = (await Promise.all(targets.map((t) => stat(t).then(() => 1, () => 0)))).reduce<number>((a, b) => a + b, 0);
      syncs.push({ directory, targetsPresent: present });
      await (directory ? dirBarrier : fileBarrier)();
      active[kind]--;
      return realSync.call(this);
    });
    await writeSecretFilesAtomic(targets.map((t) => ({ path: t, data: t })));
    const fileSyncs = syncs.filter((s) => !s.directory);
    const dirSyncs = syncs.filter((s) => s.directory);
    expect(fileSyncs).toHaveLength(4);
    expect(fileSyncs.every((s) => s.targetsPresent === 0)).toBe(true);
    expect(dirSyncs).toEqual([
      { directory: true, targetsPresent: 4 },
      { directory: true, targetsPresent: 4 },
    ]);
    expect(maxActive).toEqual({ file: 4, dir: 2 });
    for (const t of targets) expect(await readFile(t, 'utf8')).toBe(t);
  });

  it('creates a secret directory 0700, tightens a wider one and says so, refuses a file', async () => {
    const nested = path.join(root, 'dirs', 'a', 'b');
    expect(await ensureSecretDir(nested)).toEqual({ created: true });
    expect((await stat(nested)).mode & 0o777).toBe(0o700);
    expect(await ensureSecretDir(nested)).toEqual({ created: false });

    const wide = path.join(root, 'dirs', 'wide');
    await mkdir(wide, { mode: 0o755 });
    await chmod(wide, 0o755);
    expect(await ensureSecretDir(wide)).toEqual({ created: false, previousMode: 0o755 });
    expect((await stat(wide)).mode & 0o777).toBe(0o700);

    const file = path.join(root, 'dirs', 'file');
    await writeFile(file, '');
    await expect(ensureSecretDir(file)).rejects.toThrow(SecretFileError);
  });
});

describe('OnionServiceKey.generate', () => {
  it('gives the public key that the expanded secret key derives to', () => {
    for (let i = 0; i < 20; i++) {
      const k = OnionServiceKey.generate();
      expect(OnionServiceKey.fromExpanded(k.expandedSecretKey).address).toBe(k.address);
    }
  });
});
