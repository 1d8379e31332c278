import { REDACTED } from './secret.js';

/**
 * `text` with every occurrence of each secret replaced by `<redacted>`: the value as it is, and as tor's
 * esc_for_log() writes it (tor quotes values that way in log lines and in many refusals: `\\`, `\"` and `\'`
 * backslashed, CR/LF/TAB as `\r \n \t`, other bytes outside printable ASCII as 3-digit octal, so `café` is
 * `caf\303\251`). Longer secrets go first, so a secret that contains another is hidden whole.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
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
