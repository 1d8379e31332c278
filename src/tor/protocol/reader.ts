import { ProtocolError } from '../errors.js';
import { isAsyncCode, type Reply, type ReplyLine } from './reply.js';

export interface ReaderLimits {
  /** Longest line accepted, in bytes (without CRLF). */
  maxLineBytes: number;
  /** Largest reply accepted (all lines and data blocks), in bytes. */
  maxReplyBytes: number;
}

// ns/all for 10,000 relays is ~3 MB; 1 MiB lines never occur in practice. A reply is held as lines until it
// ends, at several times its size in memory: 64 MiB of reply is the most a hostile peer can make us hold.
export const DEFAULT_LIMITS: ReaderLimits = {
  maxLineBytes: 1 << 20,
  maxReplyBytes: 64 << 20,
};

const LF = 0x0a;
const CR = 0x0d;

/**
 * Turns bytes, split anywhere, into whole replies. No I/O: `push` returns what completed.
 *
 * Wire format (control-spec §2.3):
 * ```
 * 250-key=value\r\n            mid-reply line
 * 250+key=\r\n                 data line: a block follows, ended by a line holding only "."
 * ..starts with a dot\r\n      lines beginning with "." are stuffed with one more "."
 * .\r\n
 * 250 OK\r\n                   end line: the reply is complete
 * 650 BW 10 20\r\n             an asynchronous event, possibly between a command and its reply
 * ```
 * After a ProtocolError the stream is out of sync and the reader refuses further input.
 */
export class ReplyReader {
  readonly #limits: ReaderLimits;
  #parts: Buffer[] = [];
  #partBytes = 0;
  #lines: ReplyLine[] = [];
  #data: string[] | null = null;
  #replyBytes = 0;
  #failed: ProtocolError | null = null;
  /**
   * Set once the peer has ended a line with CRLF, as tor always does; from then on a bare LF is text, not a
   * line end. Tor echoes a refused value raw: `SETCONF Nickname="a\nb"` is answered with
   * `513 Unacceptable option value: Nickname 'a<LF>b', nicknames must…<CR><LF>`, which would otherwise split
   * into a reply and a malformed line that closes the connection. A peer that only ever ends lines with a bare
   * LF is still read line by line. Decided by what came before, never by what follows, so the framing does not
   * depend on how the bytes are split. A raw CRLF inside a value cannot be told from a line end.
   */
  #crlf = false;

  constructor(limits: Partial<ReaderLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True while a reply has started but not ended (useful to tell a truncated stream at close). */
  get midReply(): boolean {
    return this.#lines.length > 0 || this.#data !== null || this.#partBytes > 0;
  }

  push(chunk: Uint8Array): Reply[] {
    if (this.#failed) throw this.#failed;
    const out: Reply[] = [];
    try {
      let start = 0;
      // Where to look for the next LF: past `start` when LFs of the current line were text.
      let scan = 0;
      while (start < chunk.length) {
        const lf = chunk.indexOf(LF, scan);
        if (lf === -1) {
          this.#keepPartial(chunk.subarray(start));
          break;
        }
        const last = lf > start ? chunk[lf - 1] : this.#parts.at(-1)?.at(-1);
        const bareLf = last !== CR;
        if (bareLf && this.#crlf) {
          // The LF is text: the line goes on.
          this.#checkPending(this.#partBytes + lf + 1 - start);
          scan = lf + 1;
          continue;
        }
        if (!bareLf) this.#crlf = true;
        let line: Buffer;
        const piece = Buffer.from(chunk.buffer, chunk.byteOffset + start, lf - start);
        if (this.#partBytes) {
          // Bound the copy before making it; the exact check follows once the CR is known.
          this.#checkPending(this.#partBytes + piece.length);
          this.#parts.push(piece);
          line = Buffer.concat(this.#parts, this.#partBytes + piece.length);
          this.#parts = [];
          this.#partBytes = 0;
        } else {
          line = piece;
        }
        start = scan = lf + 1;
        const end = bareLf ? line.length : line.length - 1;
        this.#checkLineLength(end);
        const reply = this.#line(line.toString('utf8', 0, end), end + 2);
        if (reply) out.push(reply);
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.#failed = err;
      throw err;
    }
    return out;
  }

  #keepPartial(rest: Uint8Array): void {
    this.#checkPending(this.#partBytes + rest.length);
    // Copy: the caller may reuse its buffer.
    this.#parts.push(Buffer.from(rest));
    this.#partBytes += rest.length;
  }

  /** `n` bytes of a line whose end is not seen yet: one more is allowed, it may be the CR of CRLF. */
  #checkPending(n: number): void {
    this.#checkLineLength(n - 1);
  }

  #checkLineLength(n: number): void {
    if (n > this.#limits.maxLineBytes) {
      throw new ProtocolError(`line longer than ${this.#limits.maxLineBytes} bytes; refusing to buffer more`);
    }
  }

  #line(text: string, wireBytes: number): Reply | null {
    this.#replyBytes += wireBytes;
    if (this.#replyBytes > this.#limits.maxReplyBytes) {
      throw new ProtocolError(`reply larger than ${this.#limits.maxReplyBytes} bytes; refusing to buffer more`);
    }
    if (this.#data !== null) {
      if (text === '.') {
        const last = this.#lines[this.#lines.length - 1]!;
        last.data = this.#data.join('\n');
        this.#data = null;
      } else {
        this.#data.push(text.charCodeAt(0) === 0x2e ? text.slice(1) : text);
      }
      return null;
    }
    const code = parseStatus(text);
    const sep = text[3];
    if (code < 0 || (sep !== ' ' && sep !== '-' && sep !== '+')) {
      throw new ProtocolError('malformed reply line (expected "NNN-", "NNN+" or "NNN ")', text);
    }
    const first = this.#lines[0];
    if (first && isAsyncCode(first.code) !== isAsyncCode(code)) {
      throw new ProtocolError('asynchronous and synchronous lines mixed within one reply', text);
    }
    this.#lines.push({ code, sep, text: text.slice(4) });
    if (sep === '+') this.#data = [];
    else if (sep === ' ') {
      const reply: Reply = { code, lines: this.#lines };
      this.#lines = [];
      this.#replyBytes = 0;
      return reply;
    }
    return null;
  }
}

function parseStatus(text: string): number {
  if (text.length < 4) return -1;
  const a = text.charCodeAt(0) - 48;
  const b = text.charCodeAt(1) - 48;
  const c = text.charCodeAt(2) - 48;
  if (a < 1 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}
