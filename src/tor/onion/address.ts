/**
 * v3 onion addresses: parsing and checking what tor checks. Apart from keys.ts so that checking a spec's
 * addresses loads no key code; node:crypto (for the checksum, ~2.5 ms to load) and @noble/curves (for the
 * point check) are loaded when an address is first checked, not when this module is.
 */
import { createRequire } from 'node:module';
import { TorError } from '../errors.js';
import { nodeCrypto } from '../node-crypto.js';
import { base32Decode } from './base32.js';

type Ed25519 = (typeof import('@noble/curves/ed25519.js'))['ed25519'];
let nobleEd25519: Ed25519 | undefined;
/**
 * @noble/curves, loaded on first use (synchronously: Node ≥ 20.19 requires ES modules): only an expanded key
 * (keys.ts) and an onion address's point check need it, and most commands neither, so their start-up does
 * not pay for it.
 */
export function ed25519(): Ed25519 {
  return (nobleEd25519 ??= (createRequire(import.meta.url)('@noble/curves/ed25519.js') as typeof import('@noble/curves/ed25519.js')).ed25519);
}

/** Length of a v3 onion address without `.onion`. */
export const ONION_ADDRESS_LENGTH = 56;
export const ONION_VERSION = 3;

export type OnionAddressProblem = 'length' | 'characters' | 'version' | 'checksum' | 'public-key';

export class OnionAddressError extends TorError {
  override name = 'OnionAddressError';
  constructor(
    readonly address: string,
    readonly problem: OnionAddressProblem,
    detail: string,
  ) {
    super(`onion address ${JSON.stringify(address.length > 80 ? `${address.slice(0, 80)}…` : address)}: ${detail}`);
  }
}

/** SHA3-256(".onion checksum" ‖ pub ‖ version)[0..2]. */
export function addressChecksum(publicKey: Uint8Array, version: number): Buffer {
  return nodeCrypto().createHash('sha3-256').update('.onion checksum').update(publicKey).update(Buffer.of(version)).digest().subarray(0, 2);
}

export interface ParsedOnionAddress {
  /** Canonical form: 56 lowercase characters, no `.onion`. */
  address: string;
  publicKey: Buffer;
}

/**
 * Parse a v3 onion address, with or without `.onion`, in any case. Checks what tor's hs_address_is_valid()
 * checks (length, base32, checksum, and that the key is a curve point without a torsion component, which
 * tor requires so one service cannot have several addresses) plus the version byte, which tor leaves to the
 * checksum. Each failure is an OnionAddressError with its own `problem`. `verifyPoint: false` skips the
 * curve-point checks (checksum and version are always checked).
 */
export function parseOnionAddress(text: string, options: { verifyPoint?: boolean } = {}): ParsedOnionAddress {
  const lower = text.toLowerCase();
  const bare = lower.endsWith('.onion') ? lower.slice(0, -'.onion'.length) : lower;
  if (bare.length !== ONION_ADDRESS_LENGTH) {
    const v2 = bare.length === 16 ? ' (16 is a v2 address; tor no longer supports v2 onion services)' : '';
    throw new OnionAddressError(text, 'length', `a v3 onion address has 56 characters before ".onion", this has ${bare.length}${v2}`);
  }
  const bad = /[^a-z2-7]/.exec(bare);
  if (bad) {
    throw new OnionAddressError(text, 'characters', `character ${bad.index + 1} (${JSON.stringify(bad[0])}) is not base32 (a-z, 2-7)`);
  }
  const raw = base32Decode(bare);
  const publicKey = raw.subarray(0, 32);
  const version = raw[34]!;
  if (version !== ONION_VERSION) {
    throw new OnionAddressError(text, 'version', `version byte is ${version}, expected ${ONION_VERSION}: not a v3 address, or mistyped near the end`);
  }
  if (!raw.subarray(32, 34).equals(addressChecksum(publicKey, version))) {
    throw new OnionAddressError(text, 'checksum', 'checksum mismatch: the address is mistyped or truncated');
  }
  // The point checks cost ~1 ms (a scalar multiplication); callers that compare the address with a key
  // anyway, or hand it to tor which checks it again, may skip them.
  const problem = options.verifyPoint === false ? undefined : publicKeyProblem(publicKey);
  if (problem) throw new OnionAddressError(text, 'public-key', `${problem}; tor refuses this address`);
  return { address: bare, publicKey: Buffer.from(publicKey) };
}

function publicKeyProblem(publicKey: Uint8Array): string | undefined {
  const point = decodePoint(publicKey);
  if (!point) return 'its public key is not a point on ed25519';
  if (point.is0()) return 'its public key is the identity point';
  if (!point.isTorsionFree()) return 'its public key has a torsion component';
  return undefined;
}

function decodePoint(bytes: Uint8Array) {
  try {
    // Lenient (ZIP-215) decoding: what rejects a key is what tor's ed25519_validate_pubkey() checks (a
    // decodable point, not the identity, no torsion), not how its y coordinate is spelled.
    return ed25519().Point.fromBytes(bytes, true);
  } catch {
    return undefined;
  }
}

export function isValidOnionAddress(text: string): boolean {
  try {
    parseOnionAddress(text);
    return true;
  } catch (err) {
    if (err instanceof OnionAddressError) return false;
    throw err;
  }
}

