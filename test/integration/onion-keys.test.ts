import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TorClient } from '../../src/tor/client.js';
import { ReplyError } from '../../src/tor/errors.js';
import type { LogEvent } from '../../src/tor/events.js';
import {
  base32Encode,
  clientAuthPrivateKeyFromBase64,
  clientAuthPrivateLine,
  encodeHostnameFile,
  encodePublicKeyFile,
  encodeSecretKeyFile,
  ensureSecretDir,
  generateClientAuthKeyPair,
  generateServiceKey,
  isValidOnionAddress,
  onionAddressFromPublicKey,
  OnionServiceKey,
  parseClientAuthPrivate,
  parseServiceAuthLine,
  readTorKeyFiles,
  serviceAuthLine,
  writeSecretFileAtomic,
  writeTorKeyFiles,
} from '../../src/tor/onion/index.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

/** Tor writes hostname a few ms after the 250; poll for it rather than sleeping. */
async function waitForFile(file: string, timeout = 2000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('onion keys against a real tor', () => {
  let tor: TestTor;
  let client: TorClient;
  let dirCount = 0;
  const newDir = async () => {
    const dir = path.join(tor.dataDirectory, `hs${++dirCount}`);
    await ensureSecretDir(dir);
    return dir;
  };

  beforeAll(async () => {
    tor = await startTestTor();
    client = tor.client;
  });
  afterAll(async () => {
    await tor?.cleanup();
  });
  afterEach(async () => {
    await client.resetConf(['HiddenServiceDir']);
    const detached = (await client.getInfo('onions/detached')).split('\n').filter(Boolean);
    for (const id of detached) await client.delOnion(id);
  });

  it('gives a locally generated key the address computed offline', async () => {
    const key = generateServiceKey();
    const { serviceId, privateKey } = await client.addOnion({ key: key.toAddOnionBlob(), ports: [{ port: 80 }], flags: ['Detach'] });
    expect(serviceId).toBe(key.address);
    expect(privateKey).toBeUndefined();
  });

  it('agrees on the RFC 8032 TEST 1 address pinned in the unit tests', async () => {
    const key = OnionServiceKey.fromSeed(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'));
    const { serviceId } = await client.addOnion({ key: key.toAddOnionBlob(), ports: [{ port: 80 }], flags: ['Detach'] });
    expect(serviceId).toBe('25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid');
  });

  it("reads tor's own generated key, and writes the blob back byte for byte", async () => {
    const { serviceId, privateKey } = await client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach'] });
    expect(privateKey).toBeDefined();
    const key = OnionServiceKey.fromAddOnionBlob(privateKey!);
    expect(key.address).toBe(serviceId);
    expect(key.toAddOnionBlob().reveal()).toBe(privateKey!.reveal());
  });

  it("loads a filesystem service's files tor wrote, which match our encoders byte for byte", async () => {
    const dir = await newDir();
    await client.setConf([
      ['HiddenServiceDir', dir],
      ['HiddenServicePort', '80 127.0.0.1:8080'],
    ]);
    const hostname = await waitForFile(path.join(dir, 'hostname'));
    const key = await readTorKeyFiles(dir);
    expect(hostname).toBe(`${key.address}.onion\n`);
    expect(encodeSecretKeyFile(key).reveal()).toEqual(await readFile(path.join(dir, 'hs_ed25519_secret_key')));
    expect(encodePublicKeyFile(key)).toEqual(await readFile(path.join(dir, 'hs_ed25519_public_key')));
    expect(encodeHostnameFile(key)).toBe(hostname);
  });

  it('serves from key files we wrote (an ephemeral key moved to a filesystem service) without replacing them', async () => {
    const { serviceId, privateKey } = await client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach'] });
    // The same key loaded twice is an "Onion address collision" (550), so the ephemeral service goes first.
    await client.delOnion(serviceId);
    const key = OnionServiceKey.fromAddOnionBlob(privateKey!);
    const dir = path.join(tor.dataDirectory, 'imported');
    await writeTorKeyFiles(dir, key);
    const hostnamePath = path.join(dir, 'hostname');
    await writeFile(hostnamePath, 'stale, so that only tor can make it right');
    const written = await readFile(path.join(dir, 'hs_ed25519_secret_key'));
    await client.setConf([
      ['HiddenServiceDir', dir],
      ['HiddenServicePort', '80 127.0.0.1:8080'],
    ]);
    const deadline = Date.now() + 2000;
    while ((await readFile(hostnamePath, 'utf8')).startsWith('stale') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await readFile(hostnamePath, 'utf8')).toBe(`${serviceId}.onion\n`);
    // A secret key file tor could not parse would have been silently replaced by a new key.
    expect(await readFile(path.join(dir, 'hs_ed25519_secret_key'))).toEqual(written);
  });

  it('judges onion addresses exactly as tor does (ONION_CLIENT_AUTH_ADD runs hs_address_is_valid)', async () => {
    const key = generateServiceKey();
    const torsioned = Buffer.from(
      ed25519.Point.fromBytes(key.publicKey)
        .add(ed25519.Point.fromBytes(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex')))
        .toBytes(),
    );
    const candidates = [
      key.address,
      key.address.toUpperCase(),
      '2fvhjskjet3n5syd6yfg5lhvwcs62bojmthr35ko5bllr3iqdb4ctdyd',
      'l5satjgud6gucryazcyvyvhuxhr74u6ygigiuyixe3a6ysis67ororad',
      'p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnad',
      'ijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbezhid',
      onionAddressFromPublicKey(Buffer.from(`01${'00'.repeat(31)}`, 'hex')),
      onionAddressFromPublicKey(torsioned),
      `${key.address.slice(0, 30)}${key.address[30] === 'q' ? 'r' : 'q'}${key.address.slice(31)}`,
      key.address.slice(1),
    ];
    const { privateKeyBase64 } = generateClientAuthKeyPair();
    for (const address of candidates) {
      const torSays = await client.onionClientAuthAdd({ address, privateKey: privateKeyBase64 }).then(
        () => true,
        (err: unknown) => {
          expect(err).toBeInstanceOf(ReplyError);
          expect((err as ReplyError).torMessage).toMatch(/^Invalid v3 address/);
          return false;
        },
      );
      expect({ address, valid: isValidOnionAddress(address) }).toEqual({ address, valid: torSays });
      if (torSays) await client.onionClientAuthRemove(address);
    }
  });

  it('is stricter than tor on one point: tor does not check the version byte, only the checksum over it', async () => {
    const pub = generateServiceKey().publicKey;
    const sum = createHash('sha3-256').update('.onion checksum').update(pub).update(Buffer.of(4)).digest().subarray(0, 2);
    const v4 = base32Encode(Buffer.concat([pub, sum, Buffer.of(4)]));
    await client.onionClientAuthAdd({ address: v4, privateKey: generateClientAuthKeyPair().privateKeyBase64 });
    await client.onionClientAuthRemove(v4);
    expect(isValidOnionAddress(v4)).toBe(false);
  });

  it("accepts our client-auth public key in ADD_ONION in either case, and refuses base32 padding", async () => {
    const { publicKey } = generateClientAuthKeyPair();
    for (const k of [publicKey, publicKey.toUpperCase()]) {
      await client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['Detach', 'DiscardPK'], clientAuthV3: [k] });
    }
    await expect(client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80 }], flags: ['DiscardPK'], clientAuthV3: [`${publicKey.toUpperCase()}====`] })).rejects.toThrow(/Cannot decode v3 client auth key/);
  });

  it('hands tor a client private key in base64 and reads back the same key, and the .auth_private file tor writes', async () => {
    const authDir = path.join(tor.dataDirectory, 'client-auth');
    await ensureSecretDir(authDir);
    await client.setConf([['ClientOnionAuthDir', authDir]]);
    try {
      const pair = generateClientAuthKeyPair();
      const address = generateServiceKey().address;
      await client.onionClientAuthAdd({ address, privateKey: pair.privateKeyBase64, permanent: true });
      const [entry] = await client.onionClientAuthView(address);
      expect(entry!.privateKey.reveal()).toBe(pair.privateKeyBase64.reveal());
      expect(clientAuthPrivateKeyFromBase64(entry!.privateKey).reveal()).toBe(pair.privateKey.reveal());

      const file = await readFile(path.join(authDir, `${address}.auth_private`), 'utf8');
      expect(file).toBe(clientAuthPrivateLine(address, pair.privateKey).reveal());
      const parsed = parseClientAuthPrivate(file);
      expect(parsed.address).toBe(address);
      expect(parsed.privateKey.reveal()).toBe(pair.privateKey.reveal());
      await client.onionClientAuthRemove(address);
    } finally {
      await client.resetConf(['ClientOnionAuthDir']);
    }
  });

  it('loads authorized_clients/*.auth files we write, and skips the padded form our parser also refuses', async () => {
    const dir = await newDir();
    const clients = path.join(dir, 'authorized_clients');
    await ensureSecretDir(clients);
    const { publicKey } = generateClientAuthKeyPair();
    await writeSecretFileAtomic(path.join(clients, 'alice.auth'), serviceAuthLine(publicKey));
    const padded = `descriptor:x25519:${publicKey.toUpperCase()}====\n`;
    await writeSecretFileAtomic(path.join(clients, 'padded.auth'), padded);
    expect(() => parseServiceAuthLine(padded)).toThrow(/remove the "=" padding/);

    const logs: LogEvent[] = [];
    const offInfo = await client.on('INFO', (e) => logs.push(e));
    const offWarn = await client.on('WARN', (e) => logs.push(e));
    try {
      await client.setConf([
        ['HiddenServiceDir', dir],
        ['HiddenServicePort', '80 127.0.0.1:8080'],
      ]);
      await waitForFile(path.join(dir, 'hostname'));
      await client.getInfo('version');
    } finally {
      await offInfo();
      await offWarn();
    }
    const messages = logs.map((e) => `${e.type} ${e.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/^INFO .*Loaded a client authorization key file alice\.auth/));
    expect(messages).not.toContainEqual(expect.stringMatching(/Loaded a client authorization key file padded\.auth/));
    expect(messages).toContainEqual(expect.stringMatching(/^WARN .*Client authorization encoded base32 public key length is invalid/));
  });
});
