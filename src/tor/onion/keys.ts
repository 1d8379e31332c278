import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { TorError } from '../errors.js';
import { reveal, Secret, type MaybeSecret } from '../secret.js';
import { addressChecksum, ed25519, ONION_VERSION } from './address.js';
import { base32Encode } from './base32.js';
import { generateRawKeyPair } from './keygen.js';
import { ensureSecretDir, writeSecretFilesAtomic } from './persist.js';

// Onion addresses have a module of their own, which the spec's checks use without loading key code.
export {
  isValidOnionAddress,
  ONION_ADDRESS_LENGTH,
  OnionAddressError,
  parseOnionAddress,
  type OnionAddressProblem,
  type ParsedOnionAddress,
} from './address.js';

const ADD_ONION_PREFIX = 'ED25519-V3:';

export const SECRET_KEY_FILE = 'hs_ed25519_secret_key';
export const PUBLIC_KEY_FILE = 'hs_ed25519_public_key';
export const HOSTNAME_FILE = 'hostname';

/** Tor's tagged key files start with `== <type>: <tag> ==` NUL-padded to 32 bytes. */
const SECRET_HEADER = tagHeader('== ed25519v1-secret: type0 ==');
const PUBLIC_HEADER = tagHeader('== ed25519v1-public: type0 ==');

/** DER PKCS#8 wrapping of a raw 32-byte ed25519 seed (RFC 8410), the one way to import a raw seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A key (seed, expanded key or ADD_ONION blob) is malformed. Messages never contain key material. */
export class OnionKeyError extends TorError {
  override name = 'OnionKeyError';
}

/** One of tor's key files is unusable. Names the file and what is wrong, never the bytes. */
export class KeyFileError extends TorError {
  override name = 'KeyFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${problem}`, options);
  }
}

/**
 * A v3 onion service identity key. The onion address is derived from it and nothing else: lose the key and
 * the address is gone. Holds tor's 64-byte *expanded* secret key (clamped scalar ‖ PRF secret; what tor
 * stores and what ADD_ONION takes), not the 32-byte seed, because keys read back from tor have no seed.
 *
 * Never printable: `String()`, template literals, `JSON.stringify()` and `util.inspect()` show only the
 * address. The secret leaves only through `toAddOnionBlob()`, `expandedSecretKey` and `encodeSecretKeyFile()`,
 * each as a Secret.
 */
export class OnionServiceKey {
  readonly #expanded: Secret<Buffer>;
  readonly #publicKey: Buffer;
  /** 56 lowercase characters, without `.onion`. */
  readonly address: string;

  private constructor(expanded: Buffer, publicKey: Buffer) {
    this.#expanded = new Secret(expanded);
    this.#publicKey = publicKey;
    this.address = onionAddressFromPublicKey(publicKey);
  }

  /** Expand a 32-byte ed25519 seed the way tor does; the public key comes from node:crypto. */
  static fromSeed(seed: Uint8Array): OnionServiceKey {
    if (seed.length !== 32) throw new OnionKeyError(`an ed25519 seed is 32 bytes, got ${seed.length}`);
    const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
    return OnionServiceKey.#fromSeedAndPublic(seed, Buffer.from(x!, 'base64url'));
  }

  /** Generation: node:crypto hands out seed and public key together (8× faster than importing a seed). */
  static generate(): OnionServiceKey {
    const { privateKey: seed, publicKey } = generateRawKeyPair('ed25519');
    return OnionServiceKey.#fromSeedAndPublic(seed, publicKey);
  }

  static #fromSeedAndPublic(seed: Uint8Array, publicKey: Buffer): OnionServiceKey {
    const expanded = createHash('sha512').update(seed).digest();
    expanded[0]! &= 248;
    expanded[31]! &= 127;
    expanded[31]! |= 64;
    return new OnionServiceKey(expanded, publicKey);
  }

  /**
   * From tor's 64-byte expanded secret key. node:crypto cannot derive a public key without the seed, so the
   * scalar (first 32 bytes, little-endian) is multiplied onto the base point with @noble/curves.
   *
   * Refuses a scalar that is not clamped (low 3 bits clear, bit 255 clear, bit 254 set). Tor, mkp224o and
   * this module only ever produce clamped scalars; an unclamped one means the 64 bytes are something else,
   * typically libsodium's seed ‖ public key, which tor would silently accept as a *different* key.
   */
  static fromExpanded(expanded: Uint8Array | Secret<Buffer>): OnionServiceKey {
    const bytes = expanded instanceof Secret ? expanded.reveal() : expanded;
    if (bytes.length !== 64) throw new OnionKeyError(`an expanded ed25519 secret key is 64 bytes, got ${bytes.length}`);
    if ((bytes[0]! & 7) !== 0 || (bytes[31]! & 0xc0) !== 0x40) {
      throw new OnionKeyError(
        'not an expanded ed25519 secret key: its scalar is not clamped (64 bytes of seed ‖ public key, as libsodium stores keys, are a different format)',
      );
    }
    const scalar = BigInt(`0x${Buffer.from(bytes.subarray(0, 32)).reverse().toString('hex')}`);
    const { Point } = ed25519();
    const point = Point.BASE.multiply(scalar % Point.Fn.ORDER);
    return new OnionServiceKey(Buffer.from(bytes), Buffer.from(point.toBytes()));
  }

  /** From `ED25519-V3:<base64>`, as ADD_ONION returns it in `PrivateKey=` and takes it back. */
  static fromAddOnionBlob(blob: MaybeSecret): OnionServiceKey {
    const text = reveal(blob).trim();
    if (!text.startsWith(ADD_ONION_PREFIX)) {
      const type = /^[A-Za-z0-9-]{1,20}(?=:)/.exec(text)?.[0];
      const detail = type === 'RSA1024' ? 'RSA1024 keys are v2 onion services, which tor no longer supports' : type ? `key type ${type} is not ED25519-V3` : 'it does not start with "ED25519-V3:"';
      throw new OnionKeyError(`not an ADD_ONION ED25519-V3 key blob: ${detail}`);
    }
    const base64 = text.slice(ADD_ONION_PREFIX.length);
    if (!/^[A-Za-z0-9+/]{86}(?:==)?$/.test(base64)) {
      throw new OnionKeyError(`the ED25519-V3 key must be 64 bytes of base64 (86 characters, or 88 with "=="), got ${base64.length} characters`);
    }
    return OnionServiceKey.fromExpanded(Buffer.from(base64, 'base64'));
  }

  /** The 32-byte ed25519 public key (a copy). */
  get publicKey(): Buffer {
    return Buffer.from(this.#publicKey);
  }

  /** The 64-byte expanded secret key (a copy: changing it cannot alter this key). */
  get expandedSecretKey(): Secret<Buffer> {
    return new Secret(Buffer.from(this.#expanded.reveal()));
  }

  /** `ED25519-V3:<base64>` with padding, byte for byte what ADD_ONION returns for tor-generated keys. */
  toAddOnionBlob(): Secret<string> {
    return new Secret(ADD_ONION_PREFIX + this.#expanded.reveal().toString('base64'));
  }

  toString(): string {
    return this.address;
  }

  toJSON(): { address: string } {
    return { address: this.address };
  }

  [Symbol.toPrimitive](): string {
    return this.address;
  }

  [inspect.custom](): string {
    return `OnionServiceKey { address: '${this.address}' }`;
  }
}

/** A new random service key (seed from node:crypto's CSPRNG). */
export function generateServiceKey(): OnionServiceKey {
  return OnionServiceKey.generate();
}

/** base32(pub ‖ SHA3-256(".onion checksum" ‖ pub ‖ 0x03)[0..2] ‖ 0x03), lowercase, without `.onion`. */
export function onionAddressFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new OnionKeyError(`an ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return base32Encode(Buffer.concat([publicKey, addressChecksum(publicKey, ONION_VERSION), Buffer.of(ONION_VERSION)]));
}

/** `hs_ed25519_secret_key`: the 32-byte header then the 64-byte expanded key (96 bytes). */
export function encodeSecretKeyFile(key: OnionServiceKey): Secret<Buffer> {
  return new Secret(Buffer.concat([SECRET_HEADER, key.expandedSecretKey.reveal()]));
}

/** `hs_ed25519_public_key`: the 32-byte header then the 32-byte public key (64 bytes). */
export function encodePublicKeyFile(key: OnionServiceKey): Buffer {
  return Buffer.concat([PUBLIC_HEADER, key.publicKey]);
}

/** `hostname`: the address, `.onion` and a newline, as tor writes it. */
export function encodeHostnameFile(key: OnionServiceKey): string {
  return `${key.address}.onion\n`;
}

/** Parse `hs_ed25519_secret_key`; `file` only names it in errors. */
export function parseSecretKeyFile(contents: Buffer, file: string = SECRET_KEY_FILE): OnionServiceKey {
  const body = taggedBody(contents, file, SECRET_HEADER, PUBLIC_HEADER, 64, 'secret');
  try {
    return OnionServiceKey.fromExpanded(body);
  } catch (err) {
    if (err instanceof OnionKeyError) throw new KeyFileError(file, err.message, { cause: err });
    throw err;
  }
}

/** Parse `hs_ed25519_public_key` into the 32-byte public key; `file` only names it in errors. */
export function parsePublicKeyFile(contents: Buffer, file: string = PUBLIC_KEY_FILE): Buffer {
  return Buffer.from(taggedBody(contents, file, PUBLIC_HEADER, SECRET_HEADER, 32, 'public'));
}

function taggedBody(contents: Buffer, file: string, header: Buffer, otherHeader: Buffer, length: number, kind: 'secret' | 'public'): Buffer {
  const other = kind === 'secret' ? 'public' : 'secret';
  if (contents.subarray(0, 32).equals(otherHeader)) throw new KeyFileError(file, `is an ed25519 ${other} key file, not a ${kind} key file`);
  if (contents.length !== 32 + length) {
    throw new KeyFileError(file, `is ${contents.length} bytes; an ed25519 ${kind} key file is ${32 + length} (32-byte header, ${length}-byte key)`);
  }
  if (!contents.subarray(0, 32).equals(header)) {
    throw new KeyFileError(file, `does not start with tor's header ${JSON.stringify(header.toString('latin1').replace(/\0+$/, ''))} and NUL padding`);
  }
  return contents.subarray(32);
}

/**
 * Load a filesystem onion service's key from its HiddenServiceDir. `hs_ed25519_secret_key` is required;
 * `hs_ed25519_public_key` and `hostname`, which tor recreates from the secret key, are checked against it
 * when present, since a mismatch means the directory mixes files from two services.
 */
export async function readTorKeyFiles(dir: string): Promise<OnionServiceKey> {
  const secretPath = path.join(dir, SECRET_KEY_FILE);
  const publicPath = path.join(dir, PUBLIC_KEY_FILE);
  const hostnamePath = path.join(dir, HOSTNAME_FILE);
  const [secret, pub, hostname] = await Promise.all([readFile(secretPath), readOptional(publicPath), readOptional(hostnamePath)]).catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    throw new KeyFileError(e.path ?? secretPath, e.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${e.message}`, { cause: err });
  });
  const key = parseSecretKeyFile(secret, secretPath);
  if (pub && !parsePublicKeyFile(pub, publicPath).equals(key.publicKey)) {
    throw new KeyFileError(publicPath, `does not match ${SECRET_KEY_FILE} (it is the public key of another service)`);
  }
  if (hostname) {
    const named = hostname.toString('utf8').trim();
    if (named !== `${key.address}.onion`) {
      throw new KeyFileError(hostnamePath, `names ${JSON.stringify(named.slice(0, 80))} but ${SECRET_KEY_FILE} is the key of ${key.address}.onion`);
    }
  }
  return key;
}

async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Write the key as tor's three files into `dir` (created or tightened to 0700; files 0600, each replaced
 * atomically), so that tor loads it as a HiddenServiceDir. Refuses to replace an `hs_ed25519_secret_key`
 * that holds a different key or cannot be parsed: that file may be the only copy of another address.
 */
export async function writeTorKeyFiles(dir: string, key: OnionServiceKey): Promise<void> {
  await ensureSecretDir(dir);
  const secretPath = path.join(dir, SECRET_KEY_FILE);
  const existing = await readOptional(secretPath);
  if (existing) {
    let existingAddress: string | undefined;
    try {
      existingAddress = parseSecretKeyFile(existing, secretPath).address;
    } catch (err) {
      if (!(err instanceof KeyFileError)) throw err;
    }
    if (existingAddress !== key.address) {
      const holds = existingAddress ? `the key of ${existingAddress}.onion` : 'a key that cannot be parsed';
      throw new KeyFileError(secretPath, `already holds ${holds}; refusing to replace it with the key of ${key.address}.onion`);
    }
  }
  await writeSecretFilesAtomic([
    { path: secretPath, data: encodeSecretKeyFile(key) },
    { path: path.join(dir, PUBLIC_KEY_FILE), data: encodePublicKeyFile(key) },
    { path: path.join(dir, HOSTNAME_FILE), data: encodeHostnameFile(key) },
  ]);
}

function tagHeader(text: string): Buffer {
  const header = Buffer.alloc(32);
  header.write(text, 'latin1');
  return header;
}
