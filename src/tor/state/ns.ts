/**
 * Router status entries as tor prints them for `GETINFO ns/all`, `ns/id/…` and the NS / NEWCONSENSUS events
 * (tor: routerstatus_format_entry with NS_CONTROL_PORT; dir-spec §3.4.1 for the line formats):
 *
 * ```
 * r relay1 ZSoLQx9HxqlwQrMPoQpm7qssmQo 2Bu0d6x3LgkmmbVl3T5+Ry4gf8o 2024-05-14 12:00:00 127.0.0.1 5004 7004
 * a [2001:db8::1]:9001                        (optional, IPv6 ORPort)
 * s Exit Fast Guard HSDir Running Stable V2Dir Valid
 * w Bandwidth=20 Unmeasured=1
 * p accept 1-65535                            (only when tor holds the full descriptor, i.e. not on clients)
 * ```
 *
 * Parsed in one pass over the text with indexOf: this runs on every consensus (10,000 entries on the real
 * network), so no regular expression or split per line on the hot path.
 */
import { ProtocolError } from '../errors.js';

export interface PortRange {
  min: number;
  max: number;
}

/** `p accept 80,443` / `p reject 25,119,135-139`: ports allowed to most addresses (dir-spec "p" line). */
export interface ExitPolicySummary {
  action: 'accept' | 'reject';
  ports: PortRange[];
}

export interface RouterStatus {
  nickname: string;
  /** RSA identity fingerprint, 40 upper-case hex digits. */
  fingerprint: string;
  /** Digest of the router descriptor, 40 upper-case hex digits. */
  digest: string;
  published: Date;
  address: string;
  orPort: number;
  /** 0 when the relay has no DirPort. */
  dirPort: number;
  /** From `a` lines: `[v6]:port`. */
  orAddresses: string[];
  flags: string[];
  /** Consensus weight (kB/s) from the `w` line. */
  bandwidth?: number;
  /** Measured by bandwidth authorities (votes only; tor omits it on the control port). */
  measured?: number;
  /** `Unmeasured=1`: the weight is the relay's own claim. */
  unmeasured: boolean;
  /** From a `p` line, which tor prints only when it holds the relay's full descriptor. */
  exitPolicy?: ExitPolicySummary;
  /** `v` line, e.g. `Tor 0.4.9.11`. */
  version?: string;
  /** `pr` line: supported subprotocols. */
  protocols?: string;
}

/** Parse every router status entry in `text` (lines separated by LF or CRLF; other lines ignored). */
export function parseNetworkStatus(text: string): RouterStatus[] {
  const out: RouterStatus[] = [];
  let current: RouterStatus | undefined;
  const len = text.length;
  let pos = 0;
  while (pos < len) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = len;
    let lineEnd = end;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    const c0 = text.charCodeAt(pos);
    const c1 = pos + 1 < lineEnd ? text.charCodeAt(pos + 1) : -1;
    if (c1 === SPACE || pos + 1 === lineEnd) {
      switch (c0) {
        case R:
          current = parseR(text, pos + 2, lineEnd);
          out.push(current);
          break;
        case S:
          if (current) current.flags = pos + 2 < lineEnd ? text.slice(pos + 2, lineEnd).split(' ') : [];
          break;
        case W:
          if (current) parseW(current, text, pos + 2, lineEnd);
          break;
        case P:
          if (current) current.exitPolicy = parsePolicySummary(text.slice(pos + 2, lineEnd));
          break;
        case A:
          if (current) current.orAddresses.push(text.slice(pos + 2, lineEnd));
          break;
        case V:
          if (current) current.version = text.slice(pos + 2, lineEnd);
          break;
      }
    } else if (c0 === P && c1 === R && current && text.charCodeAt(pos + 2) === SPACE) {
      current.protocols = text.slice(pos + 3, lineEnd);
    }
    pos = end + 1;
  }
  return out;
}

const SPACE = 0x20;
const R = 0x72;
const S = 0x73;
const W = 0x77;
const P = 0x70;
const A = 0x61;
const V = 0x76;

/** `nickname identity digest YYYY-MM-DD HH:MM:SS address orport dirport` */
function parseR(text: string, start: number, end: number): RouterStatus {
  const f: number[] = [start];
  for (let i = text.indexOf(' ', start); i !== -1 && i < end; i = text.indexOf(' ', i + 1)) f.push(i + 1);
  if (f.length !== 8) throw new ProtocolError('router status "r" line does not have 8 fields', text.slice(start - 2, end));
  const field = (i: number) => text.slice(f[i]!, i + 1 < f.length ? f[i + 1]! - 1 : end);
  const fingerprint = base64ToHex(text, f[1]!, f[2]! - 1);
  const digest = base64ToHex(text, f[2]!, f[3]! - 1);
  const orPort = port(text, f[6]!, f[7]! - 1);
  const dirPort = port(text, f[7]!, end);
  const published = isoDate(text, f[3]!);
  if (fingerprint === undefined || digest === undefined || orPort < 0 || dirPort < 0 || published === undefined) {
    throw new ProtocolError('malformed router status "r" line', text.slice(start - 2, end));
  }
  return {
    nickname: field(0),
    fingerprint,
    digest,
    published,
    address: field(5),
    orPort,
    dirPort,
    orAddresses: [],
    flags: [],
    unmeasured: false,
  };
}

/** `Bandwidth=20 Measured=30 Unmeasured=1`, any order, unknown keys skipped. */
function parseW(rs: RouterStatus, text: string, start: number, end: number): void {
  let i = start;
  while (i < end) {
    let sp = text.indexOf(' ', i);
    if (sp === -1 || sp > end) sp = end;
    const eq = text.indexOf('=', i);
    if (eq !== -1 && eq < sp) {
      const value = uint(text, eq + 1, sp);
      if (value >= 0) {
        const keyLen = eq - i;
        if (keyLen === 9 && text.startsWith('Bandwidth', i)) rs.bandwidth = value;
        else if (keyLen === 8 && text.startsWith('Measured', i)) rs.measured = value;
        else if (keyLen === 10 && text.startsWith('Unmeasured', i)) rs.unmeasured = value === 1;
      }
    }
    i = sp + 1;
  }
}

/** `accept 80,443,1000-2000` → summary; throws ProtocolError on anything else. */
export function parsePolicySummary(text: string): ExitPolicySummary {
  const sp = text.indexOf(' ');
  const action = text.slice(0, sp);
  if (sp === -1 || (action !== 'accept' && action !== 'reject')) throw new ProtocolError('exit policy summary is not "accept|reject PORTLIST"', text);
  const ports: PortRange[] = [];
  for (const item of text.slice(sp + 1).split(',')) {
    const dash = item.indexOf('-');
    const min = uint(item, 0, dash === -1 ? item.length : dash);
    const max = dash === -1 ? min : uint(item, dash + 1, item.length);
    if (min < 1 || max < min || max > 65535) throw new ProtocolError('bad port range in exit policy summary', text);
    ports.push({ min, max });
  }
  return { action, ports };
}

/** Whether a summary lets the relay exit to `port` on most addresses. */
export function policyAllows(policy: ExitPolicySummary, port: number): boolean {
  const listed = policy.ports.some((r) => port >= r.min && port <= r.max);
  return policy.action === 'accept' ? listed : !listed;
}

/** Decimal digits in text[start, end) → number; -1 if empty, not all digits, or too long. */
function uint(text: string, start: number, end: number): number {
  if (end <= start || end - start > 9) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function port(text: string, start: number, end: number): number {
  const n = uint(text, start, end);
  return n > 65535 ? -1 : n;
}

/** `YYYY-MM-DD HH:MM:SS` at `start` (the space between date and time is one of the r line's separators). */
function isoDate(text: string, start: number): Date | undefined {
  if (text.charCodeAt(start + 4) !== 45 || text.charCodeAt(start + 7) !== 45 || text.charCodeAt(start + 13) !== 58 || text.charCodeAt(start + 16) !== 58) return undefined;
  const y = uint(text, start, start + 4);
  const mo = uint(text, start + 5, start + 7);
  const d = uint(text, start + 8, start + 10);
  const h = uint(text, start + 11, start + 13);
  const mi = uint(text, start + 14, start + 16);
  const s = uint(text, start + 17, start + 19);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return undefined;
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/**
 * Unpadded base64 of a 20-byte digest (27 characters) → 40 upper-case hex digits, without allocating a
 * Buffer per call; undefined if it is not exactly that.
 */
export function base64ToHex(text: string, start: number, end: number): string | undefined {
  let stop = end;
  while (stop > start && text.charCodeAt(stop - 1) === 61) stop--; // tolerate "=" padding
  if (stop - start !== 27) return undefined;
  let out = '';
  let i = start;
  for (; i + 4 <= stop; i += 4) {
    const a = b64(text, i), b = b64(text, i + 1), c = b64(text, i + 2), d = b64(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out += HEX[n >>> 16]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
  }
  const a = b64(text, i), b = b64(text, i + 1), c = b64(text, i + 2);
  if ((a | b | c) < 0) return undefined;
  const n = (a << 18) | (b << 12) | (c << 6);
  return out + HEX[n >>> 16]! + HEX[(n >>> 8) & 255]!;
}

function b64(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? B64[c]! : -1;
}
