import { ProtocolError, UsageError } from '../errors.js';

/**
 * Quote a value as a control-protocol QuotedString, which tor decodes as a C string
 * (tor: src/lib/encoding/cstring.c, unescape_string). Escapes `\\ \" \r \n \t`; every other control
 * byte becomes `\xHH`, so no byte of the value can end or split the command line. NUL is refused:
 * tor stores C strings, so a NUL would silently truncate the value.
 */
export function quoteString(value: string, what = 'value'): string {
  // A lone surrogate would reach tor as U+FFFD: the value would silently change.
  if (!value.isWellFormed()) throw new UsageError(`${what} is not well-formed Unicode (lone surrogate)`);
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    switch (c) {
      case 0x5c: out += '\\\\'; break;
      case 0x22: out += '\\"'; break;
      case 0x0d: out += '\\r'; break;
      case 0x0a: out += '\\n'; break;
      case 0x09: out += '\\t'; break;
      case 0x00: throw new UsageError(`${what} contains a NUL byte, which tor cannot store`);
      default:
        if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
        // U+2028/2029 and other non-ASCII go as UTF-8 bytes: only CR and LF end a line for tor.
        else out += value[i];
    }
  }
  return out + '"';
}

/**
 * Quote a value for tor's simpler "qstring" decoder (AUTHENTICATE's password: tor's decode_qstring), where a
 * backslash only protects the next character: `\t` would arrive as `t`. Only `\` and `"` are escaped; other
 * bytes go as they are. CR, LF and NUL cannot be carried at all and are refused.
 */
export function quoteQString(value: string, what = 'value'): string {
  if (/[\r\n\0]/.test(value)) throw new UsageError(`${what} contains CR, LF or NUL, which tor cannot receive here`);
  if (!value.isWellFormed()) throw new UsageError(`${what} is not well-formed Unicode (lone surrogate)`);
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

export interface Unquoted {
  value: string;
  /** Index just past the closing quote. */
  end: number;
  /**
   * Only when the decoded bytes are not UTF-8 (then `value` is their latin-1 reading, one character per
   * byte): the bytes exactly as tor wrote them. Tor writes paths as the raw bytes of the file name, so this
   * is what opens the file.
   */
  bytes?: Buffer;
}

// ignoreBOM keeps a leading U+FEFF: it is part of the value (TextDecoder would drop it otherwise).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decode a QuotedString starting at `text[start] === '"'`. Escapes decode to bytes (tor writes non-ASCII as
 * `\ooo` octal), then bytes to UTF-8; bytes that are not UTF-8 are kept (see `bytes`) rather than turned
 * into U+FFFD.
 *
 * ```
 * 250 ContactInfo="caf\303\251 \"x\""   →  café "x"
 * COOKIEFILE="/tmp/d\341ta/cookie"       →  "/tmp/d\u00e1ta/cookie", bytes 2f 74 … 64 e1 74 61 …
 * ```
 */
export function unquoteString(text: string, start = 0): Unquoted {
  if (text[start] !== '"') throw new ProtocolError('expected a quoted string', text.slice(start));
  const bytes: number[] = [];
  let plainFrom = -1;
  let simple = true;
  let i = start + 1;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') break;
    if (ch !== '\\') {
      if (plainFrom < 0) plainFrom = i;
      const code = ch.charCodeAt(0);
      if (code < 0x80) bytes.push(code);
      else {
        simple = false;
        // Outside the BMP a character is two UTF-16 units; encoding either one alone gives U+FFFD.
        const char = String.fromCodePoint(text.codePointAt(i)!);
        for (const b of Buffer.from(char, 'utf8')) bytes.push(b);
        i += char.length - 1;
      }
      continue;
    }
    simple = false;
    const n = text[i + 1];
    switch (n) {
      case 'n': bytes.push(0x0a); i++; break;
      case 'r': bytes.push(0x0d); i++; break;
      case 't': bytes.push(0x09); i++; break;
      case '\\': case '"': case "'": case '?': bytes.push(n.charCodeAt(0)); i++; break;
      case 'x': case 'X': {
        const hex = text.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new ProtocolError('bad \\x escape in quoted string', text.slice(start));
        bytes.push(parseInt(hex, 16));
        i += 3;
        break;
      }
      default: {
        const m = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
        if (!m) throw new ProtocolError('bad escape in quoted string', text.slice(start));
        const v = parseInt(m[0], 8);
        if (v > 255) throw new ProtocolError('octal escape above 255 in quoted string', text.slice(start));
        bytes.push(v);
        i += m[0].length;
      }
    }
  }
  if (i >= text.length) throw new ProtocolError('unterminated quoted string', text.slice(start));
  if (simple) return { value: text.slice(start + 1, i), end: i + 1 };
  const buf = Buffer.from(bytes);
  try {
    return { value: UTF8.decode(buf), end: i + 1 };
  } catch {
    return { value: buf.toString('latin1'), end: i + 1, bytes: buf };
  }
}

export interface Token {
  /** Set for `KEY=VALUE` tokens (KEY is `[A-Za-z0-9_-]+`); positional tokens have none. */
  key?: string;
  value: string;
  /** A QuotedString whose bytes are not UTF-8: the bytes (see Unquoted). */
  bytes?: Buffer;
}

/**
 * Split a reply or event line into positional words and `KEY=VALUE` pairs; values may be QuotedStrings.
 *
 * ```
 * AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/run/tor/control.authcookie"
 *   → [ {value:'AUTH'}, {key:'METHODS', value:'COOKIE,SAFECOOKIE'}, {key:'COOKIEFILE', value:'/run/…'} ]
 * 1 BUILT $AAAA~relay,$BBBB~exit PURPOSE=GENERAL
 *   → positional '1', 'BUILT', '$AAAA~relay,$BBBB~exit' ('$' cannot start a key), then PURPOSE
 * ```
 */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && text[i] === ' ') i++;
    if (i >= n) break;
    let key: string | undefined;
    let j = i;
    while (j < n && isKeyChar(text.charCodeAt(j))) j++;
    if (j > i && text[j] === '=') {
      key = text.slice(i, j);
      i = j + 1;
    }
    if (text[i] === '"') {
      const q = unquoteString(text, i);
      i = q.end;
      const token: Token = key === undefined ? { value: q.value } : { key, value: q.value };
      if (q.bytes) token.bytes = q.bytes;
      out.push(token);
    } else {
      let k = i;
      while (k < n && text[k] !== ' ') k++;
      const value = text.slice(i, k);
      out.push(key === undefined ? { value } : { key, value });
      i = k;
    }
  }
  return out;
}

function isKeyChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;
}

/** Split tokenized fields into positional values and a key→value map (later duplicates win). */
export function fields(text: string): { positional: string[]; kv: Map<string, string> } {
  const positional: string[] = [];
  const kv = new Map<string, string>();
  for (const t of tokenize(text)) {
    if (t.key === undefined) positional.push(t.value);
    else kv.set(t.key, t.value);
  }
  return { positional, kv };
}

/**
 * A value in tor's reply form `key=value` where value is raw to end of line, or a QuotedString when
 * tor quoted it (non-printable, non-ASCII, or starting with `"`/`#`).
 */
export function decodeReplyValue(raw: string): string {
  if (raw.startsWith('"')) {
    const q = unquoteString(raw, 0);
    if (q.end === raw.length) return q.value;
  }
  return raw;
}
