/**
 * Key-pair generation with the raw key bytes out, the one way that does not hang on Node 20.
 *
 * `generateKeyPairSync(type).privateKey.export({ format: 'jwk' })` deadlocks intermittently on Node 20.20
 * (issue #16: the main thread waits in ~KeyGenJob for a lock the JWK export on the same stack holds; 1 to 8
 * hangs in 8 loops of 1,000–5,000 generations). Asking for JWK in the generation call itself exports inside
 * the job and never hung (0 of ~37 loops), and is faster. test/unit/keygen-hang.test.ts reproduces the hang
 * in a child process bounded by a timeout.
 */
import type { JsonWebKey } from 'node:crypto';
import { nodeCrypto } from '../node-crypto.js';

/** The raw private and public key of a new `ed25519` or `x25519` pair (seed/scalar and public point, 32 bytes each). */
export function generateRawKeyPair(type: 'ed25519' | 'x25519'): { privateKey: Buffer; publicKey: Buffer } {
  // @types/node types only PEM and DER encodings here; with `jwk` node returns the JWK objects.
  const generate = nodeCrypto().generateKeyPairSync as unknown as (
    t: 'ed25519' | 'x25519',
    options: { publicKeyEncoding: { format: 'jwk' }; privateKeyEncoding: { format: 'jwk' } },
  ) => { publicKey: JsonWebKey; privateKey: JsonWebKey };
  const pair = generate(type, { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } });
  return { privateKey: Buffer.from(pair.privateKey.d!, 'base64url'), publicKey: Buffer.from(pair.publicKey.x!, 'base64url') };
}
