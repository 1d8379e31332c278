import { TorError } from '../errors.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * Padding that completes the last 8-character block, indexed by the number of characters in it. Lengths
 * 1, 3 and 6 cannot come from whole bytes.
 */
const PADDING: Record<number, number | undefined> = { 0: 0, 2: 6, 4: 4, 5: 3, 7: 1 };

/**
 * Not base32. Messages give positions but never the characters: the input is often a private key.
 */
export class Base32Error extends TorError {
  override name = 'Base32Error';
}

/** RFC 4648 base32, lowercase and unpadded: the form tor itself writes (onion addresses, .auth_private files). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * RFC 4648 base32, either case, with or without `=` padding (if present it must be exactly right).
 * Stricter than tor, which ignores the unused low bits of the last character: those must be zero here,
 * so every value has exactly one spelling (per case) and comparing encoded keys is comparing keys.
 */
export function base32Decode(text: string): Buffer {
  const padded = /=*$/.exec(text)![0].length;
  const body = text.slice(0, text.length - padded);
  const tail = body.length % 8;
  const expectedPadding = PADDING[tail];
  if (expectedPadding === undefined) {
    throw new Base32Error(`${body.length} base32 characters cannot encode a whole number of bytes`);
  }
  if (padded && padded !== expectedPadding) {
    throw new Base32Error(`wrong base32 padding: ${padded} "=" after ${body.length} characters, expected ${expectedPadding}`);
  }
  const out = Buffer.alloc(Math.floor((body.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < body.length; i++) {
    const v = valueOf(body.charCodeAt(i));
    if (v < 0) throw new Base32Error(`character ${i + 1} of ${text.length} is not base32 (A-Z, 2-7, "=" padding at the end)`);
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = buffer >>> bits;
      buffer &= (1 << bits) - 1;
    }
  }
  if (buffer !== 0) throw new Base32Error('non-canonical base32: the unused bits of the last character are not zero');
  return out;
}

function valueOf(code: number): number {
  if (code >= 0x61 && code <= 0x7a) return code - 0x61;
  if (code >= 0x41 && code <= 0x5a) return code - 0x41;
  if (code >= 0x32 && code <= 0x37) return code - 0x32 + 26;
  return -1;
}
