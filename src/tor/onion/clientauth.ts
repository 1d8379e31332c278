/**
 * x25519 keys for v3 onion service client authorization, in the spellings tor reads and writes:
 * - service side, `<HiddenServiceDir>/authorized_clients/<name>.auth`: `descriptor:x25519:<base32 public key>`
 *   (also `ClientAuthV3=<base32 public key>` in ADD_ONION);
 * - client side, `<ClientOnionAuthDir>/<name>.auth_private`: `<address>:descriptor:x25519:<base32 private key>`;
 * - ONION_CLIENT_AUTH_ADD / _VIEW on the control port: `x25519:<base64 private key>`.
 *
 * Base32 here is always 52 characters without padding: tor (hs_service.c, hs_client.c) rejects any other
 * length, so the `====` that coreutils' base32 appends makes tor skip the file with only a log warning.
 * Tor decodes either case and writes lowercase (BASE32_CHARS in binascii.h); so does this module.
 */
import { TorError } from '../errors.js';
import { nodeCrypto } from '../node-crypto.js';
import { reveal, Secret, type MaybeSecret } from '../secret.js';
import { Base32Error, base32Decode, base32Encode } from './base32.js';
import { generateRawKeyPair } from './keygen.js';
import { OnionAddressError, parseOnionAddress } from './address.js';

const KEY_BASE32_LENGTH = 52;
const AUTH_TYPE = 'descriptor';
const KEY_TYPE = 'x25519';

/** DER PKCS#8 wrapping of a raw 32-byte x25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A malformed client-authorization key or line. Messages never contain key material. */
export class ClientAuthError extends TorError {
  override name = 'ClientAuthError';
}

export interface ClientAuthKeyPair {
  /** Base32 (lowercase, unpadded): for `.auth` files and ADD_ONION's ClientAuthV3. Not secret. */
  publicKey: string;
  /** Base32 (lowercase, unpadded): for `.auth_private` files. */
  privateKey: Secret<string>;
  /** Base64 (padded): for ONION_CLIENT_AUTH_ADD. */
  privateKeyBase64: Secret<string>;
}

export function generateClientAuthKeyPair(): ClientAuthKeyPair {
  const { privateKey: d, publicKey: x } = generateRawKeyPair('x25519');
  return { publicKey: base32Encode(x), privateKey: new Secret(base32Encode(d)), privateKeyBase64: new Secret(d.toString('base64')) };
}

/** The base32 public key belonging to a base32 private key. */
export function clientAuthPublicFromPrivate(privateKey: MaybeSecret): string {
  const d = decodeKey(reveal(privateKey), 'private');
  const { createPrivateKey, createPublicKey } = nodeCrypto();
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  return base32Encode(Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url'));
}

/** Base32 private key (`.auth_private`) → base64 (ONION_CLIENT_AUTH_ADD). */
export function clientAuthPrivateKeyToBase64(privateKey: MaybeSecret): Secret<string> {
  return new Secret(decodeKey(reveal(privateKey), 'private').toString('base64'));
}

/** Base64 private key (ONION_CLIENT_AUTH_VIEW) → base32 (`.auth_private`). */
export function clientAuthPrivateKeyFromBase64(privateKeyBase64: MaybeSecret): Secret<string> {
  const text = reveal(privateKeyBase64);
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    throw new ClientAuthError(`not a base64 x25519 private key: expected 43 characters of A-Z a-z 0-9 + / and an optional "=", got ${text.length} characters`);
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64').slice(0, 43) !== text.slice(0, 43)) {
    throw new ClientAuthError('non-canonical base64: the unused bits of the last character are not zero');
  }
  assertNonZero(bytes);
  return new Secret(base32Encode(bytes));
}

/** The content of an `authorized_clients/<name>.auth` file, without a newline (tor ignores one if added). */
export function serviceAuthLine(publicKey: string): string {
  return `${AUTH_TYPE}:${KEY_TYPE}:${base32Encode(decodeKey(publicKey, 'public'))}`;
}

/** Parse an `.auth` file's content as tor does: three `:`-separated fields, whitespace around each ignored. */
export function parseServiceAuthLine(text: string): { publicKey: string } {
  const fields = text.split(':').map((f) => f.trim());
  if (fields.length !== 3) {
    const hint = fields.length === 4 ? " (is this a client's .auth_private line?)" : '';
    throw new ClientAuthError(`an .auth file holds "descriptor:x25519:<base32 public key>" (3 ":"-separated fields), this has ${fields.length}${hint}`);
  }
  const [authType, keyType, key] = fields as [string, string, string];
  assertTypes(authType, keyType);
  return { publicKey: base32Encode(decodeKey(key, 'public')) };
}

/** The content of a client's `<ClientOnionAuthDir>/<name>.auth_private` file, exactly as tor writes it. */
export function clientAuthPrivateLine(address: string, privateKey: MaybeSecret): Secret<string> {
  const onion = parseAddress(address);
  return new Secret(`${onion}:${AUTH_TYPE}:${KEY_TYPE}:${base32Encode(decodeKey(reveal(privateKey), 'private'))}`);
}

export interface ParsedClientAuthPrivate {
  /** 56 lowercase characters without `.onion`; absent when a bare key was given. */
  address?: string;
  /** Base32, lowercase, unpadded. */
  privateKey: Secret<string>;
}

/** A bare base32 private key, or a whole `<address>:descriptor:x25519:<key>` line (`.auth_private` content). */
export function parseClientAuthPrivate(text: MaybeSecret): ParsedClientAuthPrivate {
  const fields = reveal(text)
    .split(':')
    .map((f) => f.trim());
  if (fields.length === 1) return { privateKey: new Secret(base32Encode(decodeKey(fields[0]!, 'private'))) };
  if (fields.length !== 4) {
    throw new ClientAuthError(`expected a base32 private key or "<address>:descriptor:x25519:<base32 private key>", got ${fields.length} ":"-separated fields`);
  }
  const [address, authType, keyType, key] = fields as [string, string, string, string];
  assertTypes(authType, keyType);
  return { address: parseAddress(address), privateKey: new Secret(base32Encode(decodeKey(key, 'private'))) };
}

function assertTypes(authType: string, keyType: string): void {
  // Tor compares both with strcmp: case matters.
  if (authType !== AUTH_TYPE) throw new ClientAuthError(`the authorization type must be "${AUTH_TYPE}" (the only one tor supports)`);
  if (keyType !== KEY_TYPE) throw new ClientAuthError(`the key type must be "${KEY_TYPE}" (the only one tor supports)`);
}

function parseAddress(address: string): string {
  try {
    return parseOnionAddress(address).address;
  } catch (err) {
    if (err instanceof OnionAddressError) throw new ClientAuthError(err.message, { cause: err });
    throw err;
  }
}

function decodeKey(text: string, kind: 'public' | 'private'): Buffer {
  if (text.length !== KEY_BASE32_LENGTH) {
    const padded = text.replace(/=+$/, '').length === KEY_BASE32_LENGTH ? ' (remove the "=" padding: tor rejects it)' : '';
    throw new ClientAuthError(`an x25519 ${kind} key is ${KEY_BASE32_LENGTH} base32 characters, got ${text.length}${padded}`);
  }
  let bytes: Buffer;
  try {
    bytes = base32Decode(text);
  } catch (err) {
    if (err instanceof Base32Error) throw new ClientAuthError(`x25519 ${kind} key: ${err.message}`, { cause: err });
    throw err;
  }
  if (kind === 'private') assertNonZero(bytes);
  return bytes;
}

function assertNonZero(privateKey: Buffer): void {
  if (privateKey.every((b) => b === 0)) throw new ClientAuthError('the x25519 private key is all zeros (tor refuses it)');
}
