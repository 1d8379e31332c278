import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { OptionValueError, ProtocolError, ReplyError, UsageError } from '../../src/tor/errors.js';
import { secretRedactor } from '../../src/tor/redact.js';
import { inspect } from 'node:util';
import { addOnionCommand } from '../../src/tor/client.js';
import { buildCommand, buildDataCommand, commands, revealedSecrets, type Command } from '../../src/tor/protocol/encoder.js';
import { decodeReplyValue, fields, quoteQString, quoteString, tokenize, unquoteString } from '../../src/tor/protocol/quoting.js';
import { DEFAULT_LIMITS, ReplyReader, type ReaderLimits } from '../../src/tor/protocol/reader.js';
import { formatReply, isAsync, isOk, type Reply } from '../../src/tor/protocol/reply.js';
import { parseGetInfo, parseProtocolInfo } from '../../src/tor/replies.js';
import { Secret } from '../../src/tor/secret.js';
import { propertyRuns } from '../helpers/property.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

/** One reply framed by the real reader from wire lines. */
function framed(lines: string[]): Reply {
  const replies = new ReplyReader().push(bytes(lines.join('\r\n') + '\r\n'));
  expect(replies).toHaveLength(1);
  return replies[0]!;
}

function feed(chunks: Uint8Array[], limits?: Partial<ReaderLimits>): { replies: Reply[]; reader: ReplyReader } {
  const reader = new ReplyReader(limits);
  const replies: Reply[] = [];
  for (const c of chunks) replies.push(...reader.push(c));
  return { replies, reader };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

// ---------------------------------------------------------------------------------------------------------
// ReplyReader

const SERVICE_ID = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const PRIVATE_KEY = 'ED25519-V3:' + 'q'.repeat(86) + '==';

// PROTOCOLINFO, GETINFO config-text (data block with dot-stuffed lines and an empty one), an event that
// arrived between two replies, then ADD_ONION: every framing feature the reader has, in one stream.
const TRANSCRIPT_LINES = [
  '250-PROTOCOLINFO 1',
  '250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/a b/\\"c\\"/control_auth_cookie"',
  '250-VERSION Tor="0.4.9.11"',
  '250 OK',
  '250+config-text=',
  'ControlPort 9051',
  '..x',
  '...',
  '',
  '.. leading dot and space',
  'SocksPort 0',
  '.',
  '250 OK',
  '650-CONF_CHANGED',
  '650-ExitNodes={us},{de}',
  '650-MaxCircuitDirtiness=300',
  '650 OK',
  `250-ServiceID=${SERVICE_ID}`,
  `250-PrivateKey=${PRIVATE_KEY}`,
  '250 OK',
];
const TRANSCRIPT = TRANSCRIPT_LINES.join('\r\n') + '\r\n';

const EXPECTED: Reply[] = [
  {
    code: 250,
    lines: [
      { code: 250, sep: '-', text: 'PROTOCOLINFO 1' },
      { code: 250, sep: '-', text: 'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/a b/\\"c\\"/control_auth_cookie"' },
      { code: 250, sep: '-', text: 'VERSION Tor="0.4.9.11"' },
      { code: 250, sep: ' ', text: 'OK' },
    ],
  },
  {
    code: 250,
    lines: [
      {
        code: 250,
        sep: '+',
        text: 'config-text=',
        data: 'ControlPort 9051\n.x\n..\n\n. leading dot and space\nSocksPort 0',
      },
      { code: 250, sep: ' ', text: 'OK' },
    ],
  },
  {
    code: 650,
    lines: [
      { code: 650, sep: '-', text: 'CONF_CHANGED' },
      { code: 650, sep: '-', text: 'ExitNodes={us},{de}' },
      { code: 650, sep: '-', text: 'MaxCircuitDirtiness=300' },
      { code: 650, sep: ' ', text: 'OK' },
    ],
  },
  {
    code: 250,
    lines: [
      { code: 250, sep: '-', text: `ServiceID=${SERVICE_ID}` },
      { code: 250, sep: '-', text: `PrivateKey=${PRIVATE_KEY}` },
      { code: 250, sep: ' ', text: 'OK' },
    ],
  },
];

describe('ReplyReader', () => {
  it('frames a realistic transcript fed whole', () => {
    const { replies, reader } = feed([bytes(TRANSCRIPT)]);
    expect(replies).toEqual(EXPECTED);
    expect(reader.midReply).toBe(false);
  });

  it('gives the same replies however the bytes are split in two', () => {
    const buf = bytes(TRANSCRIPT);
    for (let i = 0; i <= buf.length; i++) {
      const { replies, reader } = feed([buf.subarray(0, i), buf.subarray(i)]);
      expect(replies, `split at byte ${i}`).toEqual(EXPECTED);
      expect(reader.midReply).toBe(false);
    }
  });

  it('gives the same replies fed byte by byte through one reused buffer', () => {
    // Reusing the caller's buffer catches a reader that keeps a view of it instead of a copy.
    const buf = bytes(TRANSCRIPT);
    const one = new Uint8Array(1);
    const reader = new ReplyReader();
    const replies: Reply[] = [];
    for (const b of buf) {
      one[0] = b;
      replies.push(...reader.push(one));
    }
    expect(replies).toEqual(EXPECTED);
  });

  it('gives the same replies for arbitrary chunkings of a reused buffer', () => {
    const buf = bytes(TRANSCRIPT);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), buf.length];
        const scratch = Buffer.alloc(buf.length);
        const reader = new ReplyReader();
        const replies: Reply[] = [];
        for (let i = 0; i + 1 < points.length; i++) {
          const n = buf.copy(scratch, 0, points[i]!, points[i + 1]!);
          replies.push(...reader.push(scratch.subarray(0, n)));
          scratch.fill(0x21);
        }
        expect(replies).toEqual(EXPECTED);
      }),
    );
  });

  it('accepts bare LF line endings from a peer that never ends a line with CRLF', () => {
    expect(feed([bytes(TRANSCRIPT_LINES.join('\n') + '\n')]).replies).toEqual(EXPECTED);
  });

  it('takes a bare LF as text once the peer has ended a line with CRLF, as tor always does', () => {
    // Before any CRLF, LF ends lines; from the first CRLF on, it is part of the line (no mixing, as tor).
    const { replies } = feed([bytes('250-a=1\n250-b=2\r\n250-c=3\n4\r\n250+d=\r\nx\ny\r\n.\r\n250 OK\r\n')]);
    expect(replies[0]!.lines.map((l) => [l.text, l.data])).toEqual([
      ['a=1', undefined],
      ['b=2', undefined],
      ['c=3\n4', undefined],
      ['d=', 'x\ny'],
      ['OK', undefined],
    ]);
  });

  // Recorded from tor 0.4.9.11: `SETCONF Nickname="a\nb"` (the escape, not a raw LF) is refused with the value
  // unescaped, so a raw LF splits tor's own line. A raw CR stays inside the line.
  const ECHOED = "513 Unacceptable option value: Nickname 'a\nb', nicknames must be between 1 and 19 characters inclusive, and must contain only the characters [a-zA-Z0-9].";
  // The handshake's CRLF lines come first, as on every real connection.
  const ECHO_TRANSCRIPT = `250 OK\r\n${ECHOED}\r\n513 Unacceptable option value: Nickname 'a\rb', x\r\n250-version=0.4.9.11\r\n250 OK\r\n`;

  it("keeps a raw LF tor echoes inside its error line as text, and stays in sync", () => {
    const { replies, reader } = feed([bytes(ECHO_TRANSCRIPT)]);
    expect(replies.map((r) => [r.code, r.lines.map((l) => l.text)])).toEqual([
      [250, ['OK']],
      [513, [ECHOED.slice(4)]],
      [513, ["Unacceptable option value: Nickname 'a\rb', x"]],
      [250, ['version=0.4.9.11', 'OK']],
    ]);
    expect(reader.midReply).toBe(false);
  });

  it('frames the echoed LF the same way however the bytes are split', () => {
    const buf = bytes(ECHO_TRANSCRIPT);
    const whole = feed([buf]).replies;
    for (let i = 0; i <= buf.length; i++) expect(feed([buf.subarray(0, i), buf.subarray(i)]).replies, `split at byte ${i}`).toEqual(whole);
  });

  it('still cannot tell a raw CRLF in an echoed value from the line end: a ProtocolError', () => {
    expect(() => feed([bytes("250 OK\r\n513 Nickname 'a\r\nb', nicknames\r\n")])).toThrow(/malformed reply line/);
  });

  // A 1 MiB run of LFs: a reader that rescanned or recopied the line per chunk would not finish in the
  // test's timeout (no timing assertion here: bench/ measures, tests decide).
  it('keeps the line limit for a line made long by text LFs', () => {
    const reader = new ReplyReader({ maxLineBytes: 1000 });
    reader.push(bytes('250 OK\r\n250-x='));
    expect(() => {
      for (let i = 0; i < 2000; i++) reader.push(bytes('\n'));
    }).toThrow('line longer than 1000 bytes');
    const lfs = Buffer.alloc(1 << 20, 0x0a);
    expect(() => feed([bytes('250 OK\r\n250-x='), lfs])).toThrow('line longer than');
    expect(feed([bytes('250 OK\r\n250-x='), lfs.subarray(0, 1000), bytes('\r\n250 OK\r\n')]).replies[1]!.lines[0]!.text).toBe('x=' + '\n'.repeat(1000));
  });

  it('decodes multi-byte UTF-8 split across chunks', () => {
    const text = 'ContactInfo=café ☕ Ωmega 😀 終';
    const buf = bytes(`250-${text}\r\n250 OK\r\n`);
    for (let i = 0; i <= buf.length; i++) {
      const { replies } = feed([buf.subarray(0, i), buf.subarray(i)]);
      expect(replies[0]!.lines[0]!.text, `split at byte ${i}`).toBe(text);
    }
  });

  // ':' and '/' are the characters either side of the digits.
  it.each(['25 OK', 'abc OK', '250XOK', '2500 OK', '050 OK', '250', '', ':00 OK', '2/0 OK', '2:0 OK', '20/ OK', '20: OK'])(
    'rejects the malformed line %j and refuses input afterwards',
    (line) => {
      const reader = new ReplyReader();
      expect(() => reader.push(bytes(`${line}\r\n`))).toThrow(ProtocolError);
      // The stream is out of sync: even a valid reply must not be framed after this.
      expect(() => reader.push(bytes('250 OK\r\n'))).toThrow(ProtocolError);
    },
  );

  it('takes every three-digit code from 100 to 999, and an empty text', () => {
    const { replies } = feed([bytes('100 a\r\n200 b\r\n299 c\r\n999 d\r\n250 \r\n')]);
    expect(replies.map((r) => [r.code, r.lines[0]!.text])).toEqual([[100, 'a'], [200, 'b'], [299, 'c'], [999, 'd'], [250, '']]);
  });

  it('rejects a line longer than maxLineBytes early, without buffering the rest of it', () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    chunk.write('250-', 0);
    const totalChunks = (10 * 1024 * 1024) / chunk.length;
    const reader = new ReplyReader();
    let accepted = 0;
    let error: unknown;
    for (let i = 0; i < totalChunks; i++) {
      try {
        reader.push(chunk);
        accepted++;
      } catch (err) {
        error = err;
        break;
      }
    }
    expect(error).toBeInstanceOf(ProtocolError);
    // It must fail within one chunk of the limit, not after reading the 10 MB.
    expect(accepted * chunk.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxLineBytes);
    expect((accepted + 1) * chunk.length).toBeGreaterThan(DEFAULT_LIMITS.maxLineBytes);
  });

  it('accepts a line of exactly maxLineBytes (CR and LF not counted), however it is split', () => {
    for (const eol of ['\r\n', '\n']) {
      const ok = bytes(`250 OK6789${eol}`);
      for (let i = 0; i <= ok.length; i++) {
        const { replies } = feed([ok.subarray(0, i), ok.subarray(i)], { maxLineBytes: 10 });
        expect(replies, `eol ${JSON.stringify(eol)} split at ${i}`).toEqual([
          { code: 250, lines: [{ code: 250, sep: ' ', text: 'OK6789' }] },
        ]);
      }
      const tooLong = bytes(`250 OK67890${eol}`);
      for (let i = 0; i <= tooLong.length; i++) {
        expect(() => feed([tooLong.subarray(0, i), tooLong.subarray(i)], { maxLineBytes: 10 })).toThrow(/line longer/);
      }
    }
  });

  it('rejects an endless data block once it passes maxReplyBytes', () => {
    const limit = 4096;
    const reader = new ReplyReader({ maxReplyBytes: limit });
    const line = bytes('r moria1 lpXfw1/+uGEym58asExGOXAgzjE xAvqW5EKGvl+WcgKT8r7DqXbOtA 128.31.0.39 9101 0\r\n');
    let fed = reader.push(bytes('250+ns/all=\r\n')).length;
    let sent = 13;
    let error: unknown;
    for (let i = 0; i < 10_000 && !error; i++) {
      try {
        fed += reader.push(line).length;
        sent += line.length;
      } catch (err) {
        error = err;
      }
    }
    expect(fed).toBe(0);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/reply larger/);
    expect(sent).toBeLessThanOrEqual(limit);
  });

  it('counts maxReplyBytes per reply, with the limit itself allowed', () => {
    expect(feed([bytes('250 OK\r\n')], { maxReplyBytes: 8 }).replies).toHaveLength(1);
    expect(() => feed([bytes('250 OK\r\n')], { maxReplyBytes: 7 })).toThrow(ProtocolError);
    // Two 8-byte replies under an 8-byte limit: the count restarts with each reply.
    expect(feed([bytes('250 OK\r\n250 OK\r\n')], { maxReplyBytes: 8 }).replies).toHaveLength(2);
  });

  it('rejects synchronous and asynchronous lines mixed in one reply', () => {
    expect(() => feed([bytes('250-version=0.4.9.11\r\n650 BW 10 20\r\n')])).toThrow(/mixed/);
    expect(() => feed([bytes('650-CONF_CHANGED\r\n250 OK\r\n')])).toThrow(/mixed/);
  });

  it('reports whether a reply is in progress', () => {
    const reader = new ReplyReader();
    expect(reader.midReply).toBe(false);
    reader.push(bytes('25'));
    expect(reader.midReply).toBe(true);
    reader.push(bytes('0-version=1\r\n'));
    expect(reader.midReply).toBe(true);
    reader.push(bytes('250+config-text=\r\nx\r\n.\r\n'));
    expect(reader.midReply).toBe(true);
    expect(reader.push(bytes('250 OK\r\n'))).toHaveLength(1);
    expect(reader.midReply).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Quoting

/** Strings rich in the characters quoting must handle, plus arbitrary full-Unicode text. */
const awkwardString = fc.oneof(
  fc.string({ unit: fc.constantFrom('\\', '"', '\r', '\n', '\t', '\x01', '\x1b', '\x7f', ' ', '=', 'a', 'é', '\u2028', '😀') }),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
);

describe('quoteString', () => {
  it('escapes backslash, quote, CR, LF and tab', () => {
    expect(quoteString('a\\b"c\r\nd\te')).toBe('"a\\\\b\\"c\\r\\nd\\te"');
  });

  it('writes other control bytes as \\xHH and leaves non-ASCII alone', () => {
    expect(quoteString('\x01\x1b\x1f\x7f')).toBe('"\\x01\\x1b\\x1f\\x7f"');
    expect(quoteString('café \u2028 😀')).toBe('"café \u2028 😀"');
  });

  it('refuses NUL, naming the option but not the value', () => {
    const err = catchError(() => quoteString('secret\0tail', 'ContactInfo'));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('ContactInfo');
    expect((err as Error).message).not.toContain('secret');
  });

  it('refuses a lone surrogate, which tor would receive as U+FFFD', () => {
    expect(catchError(() => quoteString('a\ud800b', 'ContactInfo'))).toBeInstanceOf(UsageError);
  });

  it('never emits raw CR, LF or NUL, and unquoteString inverts it (property)', () => {
    fc.assert(
      fc.property(
        awkwardString.filter((s) => !s.includes('\0')),
        (s) => {
          const q = quoteString(s);
          expect(q).not.toMatch(/[\r\n\0]/);
          expect(unquoteString(q)).toEqual({ value: s, end: q.length });
          // Embedded in a line, decoding stops exactly at the closing quote.
          const line = `KEY=${q} NEXT=1`;
          expect(unquoteString(line, 4)).toEqual({ value: s, end: 4 + q.length });
        },
      ),
      { numRuns: propertyRuns(500) },
    );
  });
});

describe('unquoteString', () => {
  it("decodes tor's octal escapes as UTF-8 bytes", () => {
    expect(unquoteString('"caf\\303\\251"').value).toBe('café');
    expect(unquoteString('"\\360\\237\\230\\200"').value).toBe('😀');
  });

  it('decodes the other C escapes', () => {
    expect(unquoteString('"\\x41\\101\\t\\n\\r\\\\\\"\\\'\\?"').value).toBe('AA\t\n\r\\"\'?');
    expect(unquoteString('"\\0"').value).toBe('\0');
  });

  it('keeps characters outside the BMP that arrive unescaped', () => {
    expect(unquoteString('"😀"').value).toBe('😀');
    expect(unquoteString('"caf\\303\\251 😀 終"').value).toBe('café 😀 終');
  });

  it('returns the index after the closing quote', () => {
    expect(unquoteString('x="a b" y', 2)).toEqual({ value: 'a b', end: 7 });
  });

  it.each([
    ['"unterminated', /unterminated/],
    ['"\\q"', /bad escape/],
    ['"\\x4"', /\\x escape/],
    ['"\\400"', /above 255/],
    ['no quote', /expected a quoted string/],
  ])('rejects %j', (input, message) => {
    expect(() => unquoteString(input)).toThrow(message);
  });
});

describe('tokenize', () => {
  it('splits a PROTOCOLINFO AUTH line with a quoted COOKIEFILE holding spaces and escaped quotes', () => {
    expect(
      tokenize('AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/home/a b/.tor/\\"x\\"/control_auth_cookie"'),
    ).toEqual([
      { value: 'AUTH' },
      { key: 'METHODS', value: 'COOKIE,SAFECOOKIE' },
      { key: 'COOKIEFILE', value: '/home/a b/.tor/"x"/control_auth_cookie' },
    ]);
  });

  it('keeps a CIRC path positional: "$" cannot start a key, and "=" inside an old-style path is no key', () => {
    const fp1 = '9695DFC35FFEB861329B9F1AB04C46397020CE31';
    const fp2 = '847B1F850344D7876491A54892F904934E4EB85D';
    expect(tokenize(`5 BUILT $${fp1}~moria1,$${fp2}~tor26 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL`)).toEqual([
      { value: '5' },
      { value: 'BUILT' },
      { value: `$${fp1}~moria1,$${fp2}~tor26` },
      { key: 'BUILD_FLAGS', value: 'NEED_CAPACITY' },
      { key: 'PURPOSE', value: 'GENERAL' },
    ]);
    expect(tokenize(`5 EXTENDED $${fp1}=moria1`)).toEqual([
      { value: '5' },
      { value: 'EXTENDED' },
      { value: `$${fp1}=moria1` },
    ]);
  });

  it('reads empty values (KEY= and KEY="") and tolerates repeated spaces', () => {
    expect(tokenize('ExitNodes=  ContactInfo="" REASON= UNKNOWN_9')).toEqual([
      { key: 'ExitNodes', value: '' },
      { key: 'ContactInfo', value: '' },
      { key: 'REASON', value: '' },
      { value: 'UNKNOWN_9' },
    ]);
  });

  it('decodes quoted positional words', () => {
    expect(tokenize('www.example.com 192.0.2.1 "2024-05-14 15:48:22" CACHED="NO"')).toEqual([
      { value: 'www.example.com' },
      { value: '192.0.2.1' },
      { value: '2024-05-14 15:48:22' },
      { key: 'CACHED', value: 'NO' },
    ]);
  });

  it('lets fields() map later duplicates over earlier ones', () => {
    const { positional, kv } = fields('A B=1 C B=2');
    expect(positional).toEqual(['A', 'C']);
    expect([...kv]).toEqual([['B', '2']]);
  });
});

describe('decodeReplyValue', () => {
  it('decodes a wholly quoted value and leaves anything else raw', () => {
    expect(decodeReplyValue('"caf\\303\\251"')).toBe('café');
    expect(decodeReplyValue('"a" b')).toBe('"a" b');
    expect(decodeReplyValue('80 127.0.0.1:8080')).toBe('80 127.0.0.1:8080');
    expect(decodeReplyValue('')).toBe('');
  });
});

describe('quoting edges', () => {
  it('takes keys of A-Z a-z 0-9 _ - only, never an empty one, and ignores trailing spaces', () => {
    expect(tokenize('AZ=1 az=2 09=3 _-=4 x  ')).toStrictEqual([
      { key: 'AZ', value: '1' },
      { key: 'az', value: '2' },
      { key: '09', value: '3' },
      { key: '_-', value: '4' },
      { value: 'x' },
    ]);
    // Each the character just outside one of the ranges.
    for (const w of ['@=1', '[=1', '`=1', '{=1', '/=1', ':=1', '=1']) expect(tokenize(w), w).toStrictEqual([{ value: w }]);
    expect(tokenize('"a b" K="c"')).toStrictEqual([{ value: 'a b' }, { key: 'K', value: 'c' }]);
  });

  it('decodes \\X like \\x, and refuses an escape that is neither named nor octal', () => {
    expect(unquoteString('"\\X41\\x42"')).toEqual({ value: 'AB', end: 10 });
    expect(() => unquoteString('"\\q1"')).toThrow('bad escape in quoted string');
    expect(() => unquoteString('"abc')).toThrow('unterminated quoted string');
  });

  it('takes octal escapes up to \\377 and decodes only a value that starts with a quote', () => {
    expect(unquoteString('"\\377"')).toEqual({ value: '\xff', end: 6, bytes: Buffer.from([0xff]) });
    expect(() => unquoteString('"\\400"')).toThrow('octal escape above 255');
    expect(decodeReplyValue('x "a"')).toBe('x "a"');
  });

  it('says what a malformed reply line should look like', () => {
    expect(() => new ReplyReader().push(bytes('250:OK\r\n'))).toThrow('malformed reply line (expected "NNN-", "NNN+" or "NNN ")');
  });

  it('names the value it refuses to quote', () => {
    expect(() => quoteString('a\ud800')).toThrow('value is not well-formed Unicode (lone surrogate)');
    expect(() => quoteQString('a\ud800')).toThrow('value is not well-formed Unicode (lone surrogate)');
    expect(() => quoteQString('a\rb')).toThrow('value contains CR, LF or NUL, which tor cannot receive here');
    expect(quoteQString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});

describe('bytes that are not UTF-8 (tor writes paths as raw bytes)', () => {
  // The latin-1 path from the issue: "c:\x \341rv\355zt" is `c:\x árvízt` in latin-1.
  const LATIN1 = Buffer.from([0x63, 0x3a, 0x5c, 0x78, 0x20, 0xe1, 0x72, 0x76, 0xed, 0x7a, 0x74]);

  it('keeps the bytes of an octal-escaped value that is not UTF-8, with its latin-1 reading as the value', () => {
    expect(unquoteString('"c:\\\\x \\341rv\\355zt"')).toEqual({ value: 'c:\\x árvízt', end: 20, bytes: LATIN1 });
    expect(tokenize('COOKIEFILE="c:\\\\x \\341rv\\355zt" X=1')).toEqual([
      { key: 'COOKIEFILE', value: 'c:\\x árvízt', bytes: LATIN1 },
      { key: 'X', value: '1' },
    ]);
    // UTF-8 stays a plain string, whether escaped or raw.
    expect(unquoteString('"caf\\303\\251"')).toEqual({ value: 'café', end: 13 });
    expect(unquoteString('"\\357\\273\\277BOM"')).toEqual({ value: '\ufeffBOM', end: 17 });
    expect(tokenize('A="caf\\303\\251" B="café"')).toEqual([
      { key: 'A', value: 'café' },
      { key: 'B', value: 'café' },
    ]);
  });

  it('gives PROTOCOLINFO the cookie path as bytes when it is not UTF-8', () => {
    const info = parseProtocolInfo(
      framed(['250-PROTOCOLINFO 1', '250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="c:\\\\x \\341rv\\355zt"', '250-VERSION Tor="0.4.9.11"', '250 OK']),
    );
    expect(info).toEqual({ protocolVersion: 1, authMethods: ['COOKIE', 'SAFECOOKIE'], cookieFile: 'c:\\x árvízt', cookieFileBytes: LATIN1, torVersion: '0.4.9.11' });
    // stem's UNICODE_COOKIE_PATH: UTF-8 escaped as octal is a plain string.
    const utf8 = parseProtocolInfo(
      framed(['250-PROTOCOLINFO 1', '250-AUTH METHODS=COOKIE COOKIEFILE="/home/user/\\346\\226\\207\\346\\241\\243/control_auth_cookie"', '250 OK']),
    );
    expect(utf8.cookieFile).toBe('/home/user/文档/control_auth_cookie');
    expect(utf8).not.toHaveProperty('cookieFileBytes');
  });
});

describe('reply parsers: what tor may leave out', () => {
  it('keeps a PROTOCOLINFO reply without an AUTH line (stem\'s minimal response), marked, warning once', () => {
    const seen: string[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation((w: string | Error) => void seen.push(String(w)));
    try {
      expect(parseProtocolInfo(framed(['250-PROTOCOLINFO 5', '250 OK']))).toEqual({ protocolVersion: 5, authMethods: [], torVersion: '', unrecognized: ['AUTH'] });
      expect(parseProtocolInfo(framed(['250-PROTOCOLINFO 1', '250-VERSION Tor="0.4.9.11"', '250 OK']))).toMatchObject({ torVersion: '0.4.9.11', unrecognized: ['AUTH'] });
    } finally {
      spy.mockRestore();
    }
    expect(seen).toEqual([`tor's PROTOCOLINFO reply names no authentication methods: "250-PROTOCOLINFO 5\\r\\n250 OK\\r\\n"`]);
    expect(parseProtocolInfo(framed(['250-PROTOCOLINFO 1', '250-AUTH METHODS=NULL', '250 OK']))).not.toHaveProperty('unrecognized');
  });

  it('refuses a GETINFO data line with text after "=" instead of dropping the text', () => {
    expect(() => parseGetInfo(framed(['250+config-text=ControlPort 9051', 'SocksPort 0', '.', '250 OK']))).toThrow(
      'GETINFO data line with text after "=": "config-text=ControlPort 9051"',
    );
    expect(parseGetInfo(framed(['250+config-text=', 'SocksPort 0', '.', '250-version=0.4.9.11', '250 OK']))).toEqual(
      new Map([
        ['config-text', 'SocksPort 0'],
        ['version', '0.4.9.11'],
      ]),
    );
  });
});

describe('reply classes and formatReply', () => {
  const reply = (code: number): Reply => ({ code, lines: [{ code, sep: ' ', text: 'x' }] });
  it('tells events (6xx) and success (2xx) by their code', () => {
    expect([599, 600, 699, 700].map((c) => isAsync(reply(c)))).toEqual([false, true, true, false]);
    expect([199, 200, 299, 300].map((c) => isOk(reply(c)))).toEqual([false, true, true, false]);
  });

  it('writes a reply back as on the wire, data blocks dot-stuffed and ended', () => {
    const r: Reply = {
      code: 250,
      lines: [
        { code: 250, sep: '+', text: 'config-text=', data: 'a\n.b' },
        { code: 250, sep: '+', text: 'empty=', data: '' },
        { code: 250, sep: ' ', text: 'OK' },
      ],
    };
    expect(formatReply(r)).toBe('250+config-text=\r\na\r\n..b\r\n.\r\n250+empty=\r\n.\r\n250 OK\r\n');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Encoder

function expectOneLine(cmd: Command): void {
  expect(cmd.wire.endsWith('\r\n')).toBe(true);
  expect(cmd.wire.indexOf('\r')).toBe(cmd.wire.length - 2);
  expect(cmd.wire.indexOf('\n')).toBe(cmd.wire.length - 1);
  expect(cmd.wire).not.toContain('\0');
}

describe('commands', () => {
  // Built inside each test, not while the file is collected, so that a mutant of a builder is in effect.
  const single: Record<Exclude<keyof typeof commands, 'loadConf'>, Array<[() => Command, string]>> = {
    protocolInfo: [[() => commands.protocolInfo(), 'PROTOCOLINFO 1\r\n']],
    authChallenge: [[() => commands.authChallenge('0a'.repeat(32)), `AUTHCHALLENGE SAFECOOKIE ${'0a'.repeat(32)}\r\n`]],
    authenticate: [
      [() => commands.authenticate(), 'AUTHENTICATE\r\n'],
      [() => commands.authenticate(new Secret('00FFab'), 'hex'), 'AUTHENTICATE 00FFab\r\n'],
      // AUTHENTICATE's password is a qstring: only \ and " are escaped; a tab goes as it is.
      [() => commands.authenticate(new Secret('pa"ss\\wo\trd'), 'password'), 'AUTHENTICATE "pa\\"ss\\\\wo\trd"\r\n'],
    ],
    getInfo: [
      [() => commands.getInfo(['version', 'config-text']), 'GETINFO version config-text\r\n'],
      [() => commands.getInfo('version'), 'GETINFO version\r\n'],
    ],
    getConf: [
      [() => commands.getConf(['SocksPort', '__LeaveStreamsUnattached']), 'GETCONF SocksPort __LeaveStreamsUnattached\r\n'],
      [() => commands.getConf('SocksPort'), 'GETCONF SocksPort\r\n'],
    ],
    setConf: [
      [() => commands.setConf([['ContactInfo', 'a b'], ['ExitNodes', null]]), 'SETCONF ContactInfo="a b" ExitNodes\r\n'],
    ],
    resetConf: [[() => commands.resetConf([['SocksPort', null], ['Log', 'notice stdout']]), 'RESETCONF SocksPort Log="notice stdout"\r\n']],
    saveConf: [
      [() => commands.saveConf(), 'SAVECONF\r\n'],
      [() => commands.saveConf(true), 'SAVECONF FORCE\r\n'],
    ],
    signal: [[() => commands.signal('RELOAD'), 'SIGNAL RELOAD\r\n']],
    setEvents: [
      [() => commands.setEvents(['CIRC', 'CONF_CHANGED']), 'SETEVENTS CIRC CONF_CHANGED\r\n'],
      [() => commands.setEvents([]), 'SETEVENTS\r\n'],
      [() => commands.setEvents('CIRC'), 'SETEVENTS CIRC\r\n'],
    ],
    takeOwnership: [[() => commands.takeOwnership(), 'TAKEOWNERSHIP\r\n']],
    dropOwnership: [[() => commands.dropOwnership(), 'DROPOWNERSHIP\r\n']],
    quit: [[() => commands.quit(), 'QUIT\r\n']],
  };

  it('has a case here for every single-line builder', () => {
    expect(Object.keys(single).sort()).toEqual(Object.keys(commands).filter((k) => k !== 'loadConf').sort());
  });

  it.each(Object.entries(single).flatMap(([name, cases]) => cases.map(([cmd, wire]) => [name, cmd, wire] as const)))(
    '%s produces one CRLF-terminated line',
    (_name, build, wire) => {
      const cmd = build();
      expect(cmd.wire).toBe(wire);
      expectOneLine(cmd);
    },
  );

  it('cannot be made to send a second line through a SETCONF value (property)', () => {
    const prefix = 'SETCONF ContactInfo=';
    fc.assert(
      fc.property(awkwardString, (v) => {
        let cmd: Command;
        try {
          cmd = commands.setConf([['ContactInfo', v]]);
        } catch (err) {
          expect(err).toBeInstanceOf(UsageError);
          expect(v).toMatch(/[\r\n\0]/);
          return;
        }
        expect(v).not.toMatch(/[\r\n\0]/);
        expectOneLine(cmd);
        expect(cmd.wire.match(/\r\n/g)).toHaveLength(1);
        // And tor reads back exactly the value we meant.
        expect(unquoteString(cmd.wire, prefix.length)).toEqual({ value: v, end: cmd.wire.length - 2 });
      }),
      { numRuns: propertyRuns(500) },
    );
    expect(() => commands.setConf([['ContactInfo', 'a\0b']])).toThrow(UsageError);
  });

  it.each(['a\nb', 'a\rb', 'a\r\nSIGNAL HALT', '\n'])('refuses the line break in %j before encoding, naming the option and not the value', (v) => {
    for (const build of [
      () => commands.setConf([['Nickname', 'ok'], ['ContactInfo', v]]),
      () => commands.resetConf([['ContactInfo', v]]),
      () => commands.setConf([['ContactInfo', new Secret(v)]]),
    ]) {
      let err: unknown;
      try {
        build();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OptionValueError);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as OptionValueError).option).toBe('ContactInfo');
      expect((err as Error).message).toBe('ContactInfo: the value contains a line break (CR or LF), which no tor option takes; not sent');
    }
  });

  it.each(['Contact Info', 'ContactInfo=x', 'Contact\r\nInfo', 'Socks-Port', 'ContactInfo"', ''])(
    'refuses the option name %j',
    (name) => {
      expect(() => commands.setConf([[name, 'x']])).toThrow(UsageError);
      expect(() => commands.resetConf([[name, null]])).toThrow(UsageError);
      expect(() => commands.getConf([name])).toThrow(UsageError);
    },
  );

  it('takes a word of printable ASCII without space or quote, and names what it refused', () => {
    expect(commands.getInfo(['!~x']).wire).toBe('GETINFO !~x\r\n');
    for (const w of ['café', 'a\x7f', 'a\x1f', 'a"b']) expect(() => commands.getInfo([w]), JSON.stringify(w)).toThrow(`GETINFO key ${JSON.stringify(w)} contains a character not allowed there`);
    expect(() => commands.getInfo([''])).toThrow('GETINFO key is empty');
    expect(() => commands.signal('')).toThrow('signal is empty');
    expect(() => commands.setEvents(['a b'])).toThrow('event name "a b"');
    expect(() => commands.authChallenge('')).toThrow('nonce is empty');
    expect(() => addOnionCommand({ key: new Secret(''), ports: [{ port: 80 }] })).toThrow('onion key is empty or contains');
    expect(() => commands.getConf(['a b'])).toThrow('not a tor option name: "a b"');
    expect(() => commands.authenticate(new Secret('xyz'), 'hex')).toThrow('AUTHENTICATE credential is not hexadecimal');
    expect(() => commands.authenticate(new Secret('a\nb'), 'password')).toThrow('password contains CR, LF or NUL');
    for (const k of ['getinfo', 'GET INFO', '1GETINFO', '']) expect(() => buildCommand(k, []), k).toThrow(`not a control command keyword: ${JSON.stringify(k)}`);
  });

  it('refuses words that would split or end the line', () => {
    expect(() => commands.getInfo(['version\r\nSIGNAL HALT'])).toThrow(UsageError);
    expect(() => commands.getInfo(['config text'])).toThrow(UsageError);
    expect(() => commands.signal('HALT\n')).toThrow(UsageError);
    expect(() => commands.setEvents(['CIRC STREAM'])).toThrow(UsageError);
    expect(() => commands.authChallenge('ab cd')).toThrow(UsageError);
    expect(() => commands.getInfo([''])).toThrow(UsageError);
  });

  it('puts secrets on the wire but never in display', () => {
    const cases: Array<[Command, string]> = [
      [commands.setConf([['HashedControlPassword', new Secret('16:9A4F1C2E')], ['ContactInfo', 'me']]), '16:9A4F1C2E'],
      [commands.authenticate(new Secret('deadbeefcafe'), 'hex'), 'deadbeefcafe'],
      [commands.authenticate(new Secret('hunter2'), 'password'), 'hunter2'],
      [commands.resetConf([['HashedControlPassword', new Secret('16:ABCDEF')]]), '16:ABCDEF'],
    ];
    for (const [cmd, secret] of cases) {
      expect(cmd.wire).toContain(secret);
      expect(cmd.display).not.toContain(secret);
      expect(cmd.display).toContain('<redacted>');
      expect(JSON.stringify(cmd.display)).not.toContain(secret);
    }
    expect(cases[0]![0].display).toBe('SETCONF HashedControlPassword=<redacted> ContactInfo="me"');
  });

  it('keeps a rejected secret out of the error message', () => {
    const err = catchError(() => commands.authenticate(new Secret('not hex: hunter2'), 'hex'));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('prints neither revealed secrets nor the wire form when a command is logged or serialized', () => {
    const cmd = commands.setConf([['HashedControlPassword', new Secret('16:9A4F1C2E')]]);
    const shown = [inspect(cmd), inspect({ cmd }, { showHidden: true, depth: 5 }), JSON.stringify(cmd), JSON.stringify({ cmd }), String(Object.keys(cmd)), JSON.stringify({ ...cmd })];
    for (const text of shown) expect(text).not.toContain('9A4F1C2E');
    expect(JSON.stringify(cmd)).toBe(JSON.stringify('SETCONF HashedControlPassword=<redacted>'));
    expect(inspect(cmd)).toBe('SETCONF HashedControlPassword=<redacted>');
    expect(Object.keys(cmd)).not.toContain('wire');
    expect(cmd.wire).toBe('SETCONF HashedControlPassword="16:9A4F1C2E"\r\n');
    expect(revealedSecrets(cmd)).toEqual(['16:9A4F1C2E']);
    expect(revealedSecrets(commands.getInfo(['version']))).toEqual([]);
  });

  it.each([
    ['a trailing newline', '\n'],
    ['a trailing space', ' '],
    ['a quote', '"'],
  ])('refuses an onion key with %s without putting the key in the error', (_, tail) => {
    const key = 'ED25519-V3:' + 'Q'.repeat(86) + '==';
    const err = catchError(() => addOnionCommand({ key: new Secret(key + tail), ports: [{ port: 80 }] }));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('QQQQ');
    expect((err as Error).message).toContain('onion key');
  });

  // The builders check their words first; these reach the encoder's own last check, which nothing else would catch.
  it.each([
    ['CR', '\r'],
    ['LF', '\n'],
    ['NUL', '\0'],
  ])('buildCommand refuses a %s in any part, plain or secret, without echoing the secret', (_, c) => {
    expect(() => buildCommand('GETINFO', [`version${c}SIGNAL HALT`])).toThrow(UsageError);
    expect(() => buildCommand('GETINFO', ['version', `x${c}`])).toThrow(/GETINFO: refusing to send a command containing CR, LF or NUL/);
    const err = catchError(() => buildCommand('AUTHENTICATE', [{ secret: new Secret(`hunter2${c}QUIT`), encode: (v) => v, redacted: '<redacted>' }]));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('hunter2');
    expect(() => buildCommand(`GETINFO${c}`, [])).toThrow(UsageError);
    expect(buildCommand('GETINFO', ['version']).wire).toBe('GETINFO version\r\n');
  });

  it.each([
    ['a space', ' Flags=Detach'],
    ['a CR', '\r'],
    ['an LF', '\nSIGNAL HALT'],
    ['a NUL', '\0'],
    ['a quote', '"'],
  ])('addOnionCommand refuses a key with %s, secret or not, without putting it in the error', (_, tail) => {
    const key = 'ED25519-V3:' + 'Q'.repeat(86) + '==';
    const err = catchError(() => addOnionCommand({ key: new Secret(key + tail), ports: [{ port: 80 }] }));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('QQQQ');
    const asked = ('NEW:BEST' + tail) as 'NEW:BEST';
    expect(() => addOnionCommand({ key: asked, ports: [{ port: 80 }] })).toThrow(UsageError);
    expect(addOnionCommand({ key: 'NEW:BEST', ports: [{ port: 80 }] }).wire).toBe('ADD_ONION NEW:BEST Port=80\r\n');
  });

  it('refuses a password with CR, LF or NUL (tor cannot receive them in AUTHENTICATE), without echoing it', () => {
    for (const pw of ['hunter2\r\nQUIT', 'a\nb', 'a\0b']) {
      const err = catchError(() => commands.authenticate(new Secret(pw), 'password'));
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('buildDataCommand', () => {
  it('dot-stuffs the body and ends it with a lone dot', () => {
    const cmd = commands.loadConf('SocksPort 9050\n.hidden\n..two\n.\n\nLog notice stdout\n');
    expect(cmd.wire).toBe('+LOADCONF\r\nSocksPort 9050\r\n..hidden\r\n...two\r\n..\r\n\r\nLog notice stdout\r\n.\r\n');
    expect(cmd.display).toBe('+LOADCONF <6 lines>');
    expect(commands.loadConf('SocksPort 9050\r\n.x\r\n').wire).toBe('+LOADCONF\r\nSocksPort 9050\r\n..x\r\n.\r\n');
    expect(commands.loadConf('').wire).toBe('+LOADCONF\r\n.\r\n');
  });

  it('refuses bodies with NUL or a bare CR', () => {
    expect(() => buildDataCommand('LOADCONF', [], 'a\0b')).toThrow('LOADCONF: body contains a NUL byte');
    expect(() => buildDataCommand('LOADCONF', [], 'a\rb')).toThrow('LOADCONF: body contains a bare CR');
  });

  it('produces a body that a data-block reader unstuffs back to the original lines (property)', () => {
    // Data blocks are framed the same way in both directions, so ReplyReader is an independent decoder.
    const line = fc.string({ unit: fc.constantFrom('.', 'a', ' ', '=', 'é') });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
        const body = lines.map((l) => l + '\n').join('');
        const cmd = buildDataCommand('LOADCONF', [], body);
        const blockStart = cmd.wire.indexOf('\r\n') + 2;
        const { replies } = feed([bytes('250+x=\r\n' + cmd.wire.slice(blockStart) + '250 OK\r\n')]);
        expect(replies[0]!.lines[0]!.data).toBe(lines.join('\n'));
      }),
    );
  });
});

describe('secretRedactor', () => {
  it("hides a secret as it is and as tor's esc_for_log writes it", () => {
    const secrets = ["it's \"café\"\tC:\\x"];
    expect(secretRedactor(secrets)(`Nickname 'it's "café"\tC:\\x' is bad`)).toBe("Nickname '<redacted>' is bad");
    expect(secretRedactor(secrets)('Malformed "it\\\'s \\"caf\\303\\251\\"\\tC:\\\\x" here')).toBe('Malformed "<redacted>" here');
  });

  it('hides the longer of two overlapping secrets whole, every occurrence, and ignores empty ones', () => {
    expect(secretRedactor(['', 'password', 'password1'])('pass, password, password1')).toBe('pass, <redacted>, <redacted>');
    expect(secretRedactor([])('nothing secret here')).toBe('nothing secret here');
  });

  // Short secrets: words under 4 characters and no 8-character run for the leftover check to find, so only the
  // forms themselves can hide them. Each form is written out as tor writes it, not computed by the code under test.
  const short: [secret: string, forms: string[]][] = [
    // raw, esc_for_log (log lines, most refusals), C-quoted (a QuotedString as sent and as GETCONF answers)
    ['a"b c"d', ['a"b c"d', 'a\\"b c\\"d', 'a"b', 'a\\"b', 'c"d', 'c\\"d']],
    ['x\\y z', ['x\\y z', 'x\\\\y z', 'x\\y', 'x\\\\y']],
    ["i's", ["i's", "i\\'s"]],
    ['é b', ['é b', '\\303\\251 b', 'é', '\\303\\251']],
    ['a\x01b', ['a\x01b', 'a\\001b', 'a\\x01b']],
    ['q\tr"', ['q\tr"', 'q\\tr\\"', 'r"', 'r\\"']],
  ];
  it.each(short)('hides the short secret %j whole and word by word, in every form tor echoes', (secret, forms) => {
    const hide = secretRedactor([secret]);
    for (const f of forms) {
      expect(hide(`Nickname '${f}' is bad`), f).toBe("Nickname '<redacted>' is bad");
      expect(hide(`Malformed "${f}" here`), f).toBe('Malformed "<redacted>" here');
    }
  });

  it('hides a plain word of 4 or more characters only where it stands alone, and keeps the words of tor', () => {
    const hide = secretRedactor(['accept 10.0.0.1:80']);
    expect(hide('Unacceptable policy accept; bad 10.0.0.1:80')).toBe('Unacceptable policy <redacted>; bad <redacted>');
  });

  it('withholds a message that still holds 8 characters of a secret', () => {
    expect(secretRedactor(['S3CRETvalue'])('bad value xS3CRETvaluex')).toBe('bad value x<redacted>x');
    expect(secretRedactor(['S3CRETvalue'])('bad value S3CRETva…')).toBe("tor's message quotes a secret value of the spec; withheld (see tor's log)");
  });
});

describe('ReplyError', () => {
  const reply: Reply = {
    code: 513,
    lines: [
      { code: 513, sep: '+', text: "Nickname 'bad nick!' is bad", data: 'bad nick!\nand more' },
      { code: 513, sep: ' ', text: 'Nickname "bad nick!"' },
    ],
  };

  it('scrubs the secrets of its command from the message, torMessage, reply, inspect and JSON', () => {
    const err = new ReplyError('SETCONF Nickname=<redacted>', reply, { secrets: ['bad nick!'] });
    for (const text of [err.message, err.torMessage, err.stack ?? '', inspect(err, { depth: 10 }), JSON.stringify(err)]) expect(text).not.toContain('bad nick');
    expect(err.torMessage).toBe("Nickname '<redacted>' is bad; Nickname \"<redacted>\"");
    expect(err.reply.lines[0]!.data).toBe('<redacted>\nand more');
    expect(err.code).toBe(513);
  });

  it('scrubs a short secret tor echoes escaped, word by word', () => {
    const echoed: Reply = { code: 552, lines: [{ code: 552, sep: ' ', text: 'Unrecognized value "a\\"b"; "c\\"d" follows' }] };
    const err = new ReplyError('SETCONF X=<redacted>', echoed, { secrets: ['a"b c"d'] });
    expect(err.torMessage).toBe('Unrecognized value "<redacted>"; "<redacted>" follows');
  });

  it('keeps the reply as tor sent it when the command had no secrets', () => {
    const err = new ReplyError('SETCONF Nickname="bad nick!"', reply);
    expect(err.reply).toEqual(reply);
    expect(err.message).toBe("SETCONF Nickname=\"bad nick!\": tor replied 513 Nickname 'bad nick!' is bad; Nickname \"bad nick!\"");
  });
});
