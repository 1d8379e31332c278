/**
 * A control-protocol reply as tor sent it, after line framing and data-block unstuffing.
 *
 * ```
 * 250-version=0.4.9.11          → { code: 250, sep: '-', text: 'version=0.4.9.11' }
 * 250+config-text=              → { code: 250, sep: '+', text: 'config-text=', data: 'ControlPort 9051\n…' }
 * ControlPort 9051
 * .
 * 250 OK                        → { code: 250, sep: ' ', text: 'OK' }
 * ```
 */
export interface ReplyLine {
  code: number;
  sep: '-' | '+' | ' ';
  text: string;
  /** Present on `+` lines: the data block, lines joined with "\n", dot-unstuffed, without the final ".". */
  data?: string;
}

export interface Reply {
  /** Status code of the final line; the reply's outcome. */
  code: number;
  lines: ReplyLine[];
}

/** Asynchronous replies (events) use 6xx codes; everything else answers a command, in order. */
export function isAsync(reply: Reply): boolean {
  return isAsyncCode(reply.code);
}

export function isAsyncCode(code: number): boolean {
  return code >= 600 && code < 700;
}

export function isOk(reply: Reply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

/** The reply as it appeared on the wire (data blocks re-stuffed), for error messages and transcripts. */
export function formatReply(reply: Reply): string {
  const out: string[] = [];
  for (const line of reply.lines) {
    out.push(`${line.code}${line.sep}${line.text}`);
    if (line.data !== undefined) {
      if (line.data.length) for (const d of line.data.split('\n')) out.push(d.startsWith('.') ? `.${d}` : d);
      out.push('.');
    }
  }
  return out.join('\r\n') + '\r\n';
}
