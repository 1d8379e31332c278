import { REDACTED } from './secret.js';

/**
 * The one redactor for every text that may quote a secret: tor's replies (ReplyError) and the WARN lines apply
 * reports. Tor quotes what it refuses (`Nickname 'x', nicknames must be…`, `Malformed IP "x" in address
 * pattern`), and every SETCONF re-validates the whole configuration, so the WARN lines of one step can quote any
 * option set earlier. Every secret is hidden: whole, and word by word, raw and as tor's esc_for_log() writes it.
 * A message still holding 8 characters of a secret after that is withheld whole.
 */
export function secretRedactor(secrets: readonly string[]): (text: string) => string {
  const values = secrets.filter(Boolean);
  const words = [...new Set(values.flatMap((s) => s.split(/[\s,]+/)).filter((w) => w.length >= 4))];
  // A plain word only where it stands alone: "accept" in a secret ExitPolicy must not eat "Unacceptable". A
  // word tor would escape (quotes, bytes outside printable ASCII) is no ordinary text: hidden wherever it is.
  const escaped = (w: string) => /[^\x20-\x7e]|["'\\]/.test(w);
  const hiddenAnywhere = [...values, ...words.filter(escaped)];
  const asRegExp = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const plain = words.filter((w) => !escaped(w)).sort((a, b) => b.length - a.length);
  const re = plain.length ? new RegExp(plain.map((w) => `(?<![A-Za-z0-9])${asRegExp(w)}(?![A-Za-z0-9])`).join('|'), 'g') : undefined;
  return (text) => {
    const whole = redactSecrets(text, hiddenAnywhere);
    const out = re ? whole.replace(re, REDACTED) : whole;
    const leftover = values.some((s) => Array.from({ length: Math.max(0, s.length - 7) }, (_, i) => s.slice(i, i + 8)).some((w) => out.includes(w)));
    return leftover ? "tor's message quotes a secret value of the spec; withheld (see tor's log)" : out;
  };
}

/**
 * `text` with every occurrence of each secret replaced by `<redacted>`: the value as it is, and as tor's
 * esc_for_log() writes it (tor quotes values that way in log lines and in many refusals: `\\`, `\"` and `\'`
 * backslashed, CR/LF/TAB as `\r \n \t`, other bytes outside printable ASCII as 3-digit octal, so `café` is
 * `caf\303\251`). Longer secrets go first, so a secret that contains another is hidden whole.
 */
function redactSecrets(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === '') continue;
    forms.add(s);
    forms.add(escapeForLog(s));
  }
  let out = text;
  for (const f of [...forms].sort((a, b) => b.length - a.length)) out = out.split(f).join(REDACTED);
  return out;
}

/** tor's esc_for_log() (src/lib/log/escape.c) without the surrounding quotes. */
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
