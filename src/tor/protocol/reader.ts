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
const LF_BYTE = Buffer.from([LF]);

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
      while (start < chunk.length) {
        const lf = chunk.indexOf(LF, start);
        if (lf === -1) {
          this.#keepPartial(chunk.subarray(start));
          break;
        }
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
        start = lf + 1;
        const bareLf = line.length === 0 || line[line.length - 1] !== CR;
        if (bareLf && this.#continues(line, chunk, start)) {
          // Keep the LF as text and go on reading the same line.
          this.#keepPartial(Buffer.concat([line, LF_BYTE]));
          continue;
        }
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

  /**
   * Whether a bare LF is a raw line break inside a status line rather than its end. Tor ends every line with
   * CRLF, but echoes a refused value raw: `SETCONF Nickname="a\nb"` is answered with
   * `513 Unacceptable option value: Nickname 'a<LF>b', nicknames must…<CR><LF>`. Only when the next line,
   * already in this chunk, cannot start a reply line is the LF taken as text: a stream framed today is
   * framed the same way (peers that end lines with a bare LF included), and what was a ProtocolError that
   * closed the connection becomes one line. Never inside a data block (its lines may start with anything),
   * nor after a `+` line, whose data follows. A raw CRLF inside a value cannot be told from a line end.
   */
  #continues(line: Buffer, chunk: Uint8Array, next: number): boolean {
    if (this.#data !== null || line.length < 4 || line[3] === 0x2b) return false;
    if (chunk.length - next < 4) return false;
    return !isStatusPrefix(chunk, next);
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

/** `NNN-`, `NNN+` or `NNN ` at `at`: the start of a reply line. */
function isStatusPrefix(bytes: Uint8Array, at: number): boolean {
  const a = bytes[at]!;
  const b = bytes[at + 1]!;
  const c = bytes[at + 2]!;
  const sep = bytes[at + 3]!;
  return a >= 0x31 && a <= 0x39 && b >= 0x30 && b <= 0x39 && c >= 0x30 && c <= 0x39 && (sep === 0x20 || sep === 0x2d || sep === 0x2b);
}

function parseStatus(text: string): number {
  if (text.length < 4) return -1;
  const a = text.charCodeAt(0) - 48;
  const b = text.charCodeAt(1) - 48;
  const c = text.charCodeAt(2) - 48;
  if (a < 1 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}
