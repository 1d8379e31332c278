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
  readonly action: 'accept' | 'reject';
  readonly ports: readonly PortRange[];
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
  orAddresses: readonly string[];
  /** Shared and frozen between entries with the same flags. */
  flags: readonly string[];
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

/**
 * Parse every router status entry in `text` (lines separated by LF or CRLF; other lines ignored). Entries
 * with the same `s` or `p` line share one frozen flags array / policy object: a consensus has a few hundred
 * distinct ones among thousands of relays, and not allocating them per entry halves the parse time.
 */
export function parseNetworkStatus(text: string): RouterStatus[] {
  const out: RouterStatus[] = [];
  const flagSets = new Map<string, readonly string[]>();
  const policies = new Map<string, ExitPolicySummary>();
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
          if (current) {
            const line = pos + 2 < lineEnd ? text.slice(pos + 2, lineEnd) : '';
            let flags = flagSets.get(line);
            if (!flags) flagSets.set(line, (flags = Object.freeze(line ? line.split(' ') : [])));
            current.flags = flags;
          }
          break;
        case W:
          if (current) parseW(current, text, pos + 2, lineEnd);
          break;
        case P:
          if (current) {
            const line = text.slice(pos + 2, lineEnd);
            let policy = policies.get(line);
            if (!policy) policies.set(line, (policy = parsePolicySummary(line)));
            current.exitPolicy = policy;
          }
          break;
        case A:
          if (current) current.orAddresses = [...current.orAddresses, text.slice(pos + 2, lineEnd)];
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

/** `nickname identity digest YYYY-MM-DD HH:MM:SS address orport dirport`: field starts found with indexOf. */
function parseR(text: string, start: number, end: number): RouterStatus {
  const s1 = next(text, start, end);
  const s2 = next(text, s1, end);
  const s3 = next(text, s2, end);
  const s4 = next(text, s3, end);
  const s5 = next(text, s4, end);
  const s6 = next(text, s5, end);
  const s7 = next(text, s6, end);
  const fingerprint = s2 > 0 ? base64ToHex(text, s1, s2 - 1) : undefined;
  const digest = s3 > 0 ? base64ToHex(text, s2, s3 - 1) : undefined;
  const published = s5 > 0 ? isoDate(text, s3, s5 - 1) : undefined;
  const orPort = s7 > 0 ? port(text, s6, s7 - 1) : -1;
  const dirPort = s7 > 0 && next(text, s7, end) === -1 ? port(text, s7, end) : -1;
  if (s1 - 1 === start || fingerprint === undefined || digest === undefined || published === undefined || orPort < 0 || dirPort < 0) {
    throw new ProtocolError('malformed router status "r" line (want: nickname identity digest date time address orport dirport)', text.slice(start - 2, end));
  }
  return {
    nickname: text.slice(start, s1 - 1),
    fingerprint,
    digest,
    published,
    address: text.slice(s5, s6 - 1),
    orPort,
    dirPort,
    orAddresses: NONE,
    flags: NONE,
    unmeasured: false,
  };
}

/** Start of the field after the one at `from`, or -1 past the end of the line. */
function next(text: string, from: number, end: number): number {
  if (from <= 0) return -1;
  const sp = text.indexOf(' ', from);
  return sp === -1 || sp >= end ? -1 : sp + 1;
}

/** Most entries have no `a` line: no array each. */
const NONE: readonly string[] = Object.freeze([]);

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

/** `accept 80,443,1000-2000` → summary (frozen); throws ProtocolError on anything else. */
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
    ports.push(Object.freeze({ min, max }));
  }
  return Object.freeze({ action, ports: Object.freeze(ports) });
}

/** Whether a summary lets the relay exit to `port` on most addresses. */
export function policyAllows(policy: ExitPolicySummary, port: number): boolean {
  const listed = policy.ports.some((r) => port >= r.min && port <= r.max);
  return policy.action === 'accept' ? listed : !listed;
}

/** Decimal digits in text[start, end) → number; -1 if empty, not all digits, or beyond exact doubles. */
function uint(text: string, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
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

/** `YYYY-MM-DD HH:MM:SS` in text[start, end) (the space between date and time is one of the r line's separators). */
function isoDate(text: string, start: number, end: number): Date | undefined {
  if (end - start !== 19 || text.charCodeAt(start + 4) !== 45 || text.charCodeAt(start + 7) !== 45 || text.charCodeAt(start + 13) !== 58 || text.charCodeAt(start + 16) !== 58) return undefined;
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
