import { REDACTED } from './secret.js';

/**
 * The one redactor for every text that may quote a secret: tor's replies (ReplyError) and the WARN lines apply
 * reports. Tor quotes what it refuses (`Nickname 'x', nicknames must be…`, `Malformed IP "x" in address
 * pattern`), and every SETCONF re-validates the whole configuration, so the WARN lines of one step can quote any
 * option set earlier. Every secret is hidden whole and word by word (tor splits values on spaces and commas and
 * quotes the word it refuses), in each form tor writes it: raw, as esc_for_log() writes it and C-quoted. A
 * message still holding 8 characters of a secret after that is withheld whole.
 */
export function secretRedactor(secrets: readonly string[]): (text: string) => string {
  const values = secrets.filter(Boolean);
  const words = [...new Set(values.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean))];
  // A word tor would escape (quotes, backslash, bytes outside printable ASCII) is no ordinary text: hidden
  // wherever it is, however short, since its escaped forms are all a short secret leaves to find. A plain word
  // only from 4 characters and where it stands alone: "accept" in a secret ExitPolicy must not eat
  // "Unacceptable", nor "on" every sentence of tor's.
  const escaped = (w: string) => /[^\x20-\x7e]|["'\\]/.test(w);
  const anywhere = new Set([...values, ...words.filter(escaped)].flatMap((s) => [s, escapeForLog(s), cQuoted(s)]));
  const forms = [...anywhere].sort((a, b) => b.length - a.length);
  const asRegExp = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const plain = words.filter((w) => w.length >= 4 && !escaped(w)).sort((a, b) => b.length - a.length);
  const re = plain.length ? new RegExp(plain.map((w) => `(?<![A-Za-z0-9])${asRegExp(w)}(?![A-Za-z0-9])`).join('|'), 'g') : undefined;
  return (text) => {
    // Longer forms first, so a secret that contains another is hidden whole.
    let out = text;
    for (const f of forms) out = out.split(f).join(REDACTED);
    if (re) out = out.replace(re, REDACTED);
    const leftover = values.some((s) => Array.from({ length: Math.max(0, s.length - 7) }, (_, i) => s.slice(i, i + 8)).some((w) => out.includes(w)));
    return leftover ? "tor's message quotes a secret value of the spec; withheld (see tor's log)" : out;
  };
}

/**
 * tor's esc_for_log() (src/lib/log/escape.c) without the surrounding quotes: how tor quotes values in log lines
 * and in many refusals. `\\`, `\"` and `\'` backslashed, CR/LF/TAB as `\r \n \t`, other bytes outside printable
 * ASCII as 3-digit octal, so `café` is `caf\303\251`.
 */
function escapeForLog(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    if (b === 0x5c || b === 0x22 || b === 0x27) out += '\\' + String.fromCharCode(b);
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x09) out += '\\t';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += '\\' + b.toString(8).padStart(3, '0');
  }
  return out;
}

/**
 * A C-quoted string without its quotes, as quoteString() sends a value and tor echoes the command's text:
 * `\\ \" \r \n \t`, other control bytes as `\xHH`, non-ASCII as it is. Unlike quoteString it never refuses a
 * value: a redactor must hide whatever it is given.
 */
function cQuoted(value: string): string {
  return value.replace(/[\\"\x00-\x1f\x7f]/g, (c) => C_ESCAPES[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

const C_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '"': '\\"', '\r': '\\r', '\n': '\\n', '\t': '\\t' };
