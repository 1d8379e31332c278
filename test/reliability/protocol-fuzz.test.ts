/**
 * Hostile bytes from the control port and hostile strings into commands. The unit tests
 * (test/unit/protocol.test.ts) pin exact framing and quoting; this suite throws mutated real transcripts,
 * random bytes and a misbehaving peer at the same code, and checks what is sent against a real tor.
 */
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlConnection } from '../../src/tor/connection.js';
import { ProtocolError, UsageError } from '../../src/tor/errors.js';
import { commands, type Command } from '../../src/tor/protocol/encoder.js';
import { DEFAULT_LIMITS } from '../../src/tor/protocol/reader.js';
import { fakeTor } from '../helpers/fake-tor.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { assertFreshBuild, figures } from './helpers.js';

// ---------------------------------------------------------------------------------------------------------
// Reader, event parser, reply parsers

interface WorkerReport {
  results: Record<string, { failed: boolean; numRuns: number; seed?: number; path?: string; counterexample?: string; error?: string }>;
  stats: Record<string, number>;
  corpus: number;
}

function runFuzzWorker(seed: number, runs: number, deadlineMs: number): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./protocol-fuzz.worker.mjs', import.meta.url), { workerData: { seed, runs } });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the fuzzing worker did not finish within ${deadlineMs} ms (seed ${seed}): a parser hangs`));
    }, deadlineMs);
    worker.once('message', (m: WorkerReport) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('protocol fuzzing: reader and parsers', () => {
  it('mutated real transcripts and random bytes, split anywhere: only ProtocolError, same outcome however split, no hang', async () => {
    assertFreshBuild();
    const seed = Number(process.env.TOR_RECONCILE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const runs = Number(process.env.TOR_RECONCILE_FUZZ_RUNS ?? 5000);
    // ~1 s of work; 30 s means something loops.
    const report = await runFuzzWorker(seed, runs, 30_000);
    for (const [name, r] of Object.entries(report.results)) {
      expect(r.failed, `${name} (reproduce with TOR_RECONCILE_FUZZ_SEED=${seed}): ${r.error}\ninput: ${r.counterexample}`).toBe(false);
    }
    // A fuzzer that never gets past the framing proves little about the parsers.
    expect(report.stats.replies).toBeGreaterThan(runs / 20);
    expect(report.stats.events).toBeGreaterThan(runs / 10);
    expect(report.stats.maxCaseMs).toBeLessThan(1000);
    figures('protocol fuzzing (reader+parsers)', { seed, transcripts: report.corpus, ...report.stats, maxCaseMs: report.stats.maxCaseMs!.toFixed(1), nonProtocolErrors: 0 });
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------
// Memory, through the connection

/** Peak growth of arrayBuffers and rss while `work` runs, sampled every 5 ms. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; arrayBuffers: number; rss: number }> {
  globalThis.gc?.();
  const base = process.memoryUsage();
  let ab = 0;
  let rss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    ab = Math.max(ab, m.arrayBuffers - base.arrayBuffers);
    rss = Math.max(rss, m.rss - base.rss);
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await work();
    sample();
    return { result, arrayBuffers: ab, rss };
  } finally {
    clearInterval(timer);
  }
}

/** Write `chunk` until `total` bytes are out or the client is gone, honouring backpressure (the peer must not be what grows). */
async function pump(socket: import('node:net').Socket, chunk: Buffer, total: number, counter: { sent: number }): Promise<void> {
  while (counter.sent < total && !socket.destroyed) {
    counter.sent += chunk.length;
    if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
  }
}

describe('protocol fuzzing: bounded memory against a hostile peer', () => {
  const MB = 1 << 20;

  it('a 100 MB line: the connection errors after maxLineBytes, memory stays flat', async () => {
    const peer = { sent: 0 };
    const server = await fakeTor((line, s) => {
      if (line.startsWith('AUTHENTICATE')) return void s.write('250 OK\r\n');
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      chunk.write('250-', 0);
      void pump(s, chunk, 100 * MB, peer).then(() => {
        if (!s.destroyed) s.end('\r\n250 OK\r\n');
      });
    });
    try {
      const conn = await ControlConnection.connect(server.address);
      await conn.request(commands.authenticate());
      const { result: err, arrayBuffers, rss } = await peakGrowth(() => conn.request(commands.getInfo(['version'])).catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, 50));
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as Error).message).toMatch(/line longer than/);
      expect(conn.isClosed).toBe(true);
      // The reader keeps at most one line (1 MiB) plus socket buffers; 100 MB would show.
      expect(arrayBuffers).toBeLessThan(16 * MB);
      expect(rss).toBeLessThan(96 * MB);
      expect(peer.sent).toBeLessThan(100 * MB);
      figures('bounded memory: 100 MB line', { limit: `${DEFAULT_LIMITS.maxLineBytes / MB}MiB`, peerSentMB: (peer.sent / MB).toFixed(1), peakArrayBuffersMB: (arrayBuffers / MB).toFixed(1), peakRssMB: (rss / MB).toFixed(1) });
    } finally {
      await server.close();
    }
  });

  it('an endless data block: the connection errors at maxReplyBytes, memory stays proportional to the limit', async () => {
    const limit = 16 * MB;
    const peer = { sent: 0 };
    const server = await fakeTor((line, s) => {
      if (line.startsWith('AUTHENTICATE')) return void s.write('250 OK\r\n');
      s.write('250+config-text=\r\n');
      // Ends after 256 MB so that a reader without a limit fails the test instead of eating the machine.
      void pump(s, Buffer.from('SomeOption some value that goes on\r\n'.repeat(2000)), 256 * MB, peer).then(() => {
        if (!s.destroyed) s.end('.\r\n250 OK\r\n');
      });
    });
    try {
      const conn = await ControlConnection.connect(server.address, { limits: { maxReplyBytes: limit } });
      await conn.request(commands.authenticate());
      const { result: err, arrayBuffers, rss } = await peakGrowth(() => conn.request(commands.getInfo(['config-text'])).catch((e: unknown) => e));
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as Error).message).toMatch(/reply larger than/);
      expect(conn.isClosed).toBe(true);
      // Lines are kept as strings until the block ends: a few bytes of overhead per line, not unbounded.
      expect(arrayBuffers).toBeLessThan(16 * MB);
      expect(rss).toBeLessThan(6 * limit);
      figures('bounded memory: endless data block', { limit: `${limit / MB}MiB`, peerSentMB: (peer.sent / MB).toFixed(1), peakArrayBuffersMB: (arrayBuffers / MB).toFixed(1), peakRssMB: (rss / MB).toFixed(1) });
    } finally {
      await server.close();
    }
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------------
// Encoder

/**
 * Tor's decoding of a command line, ported from tor's C (src/lib/encoding/cstring.c, unescape_string, as
 * called for SETCONF values by kvline_parse): bytes in, bytes out, NULL (here: null) where tor refuses.
 * Independent of src/tor/protocol/quoting.ts on purpose: it is the receiving side's reading.
 */
function torUnescape(line: Buffer, start: number): { value: Buffer; end: number } | null {
  const isOdigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x37;
  const isXdigit = (c: number | undefined) => c !== undefined && /[0-9a-fA-F]/.test(String.fromCharCode(c));
  if (line[start] !== 0x22) return null;
  let cp = start + 1;
  // First pass, as tor's: find the end, refusing NUL, LF and unknown escapes.
  for (;;) {
    const c = line[cp];
    if (c === undefined || c === 0x00 || c === 0x0a) return null;
    if (c === 0x22) break;
    if (c === 0x5c) {
      const n = line[cp + 1];
      if (n === 0x78 || n === 0x58) {
        if (!(isXdigit(line[cp + 2]) && isXdigit(line[cp + 3]))) return null;
        cp += 4;
      } else if (isOdigit(n)) {
        cp += 2;
        if (isOdigit(line[cp])) cp++;
        if (isOdigit(line[cp])) cp++;
      } else if (n === 0x6e || n === 0x72 || n === 0x74 || n === 0x22 || n === 0x5c || n === 0x27) cp += 2;
      else return null;
    } else cp++;
  }
  const out: number[] = [];
  for (let i = start + 1; i < cp; ) {
    const c = line[i]!;
    if (c !== 0x5c) {
      out.push(c);
      i++;
      continue;
    }
    const n = line[i + 1]!;
    if (n === 0x6e) out.push(0x0a), (i += 2);
    else if (n === 0x72) out.push(0x0d), (i += 2);
    else if (n === 0x74) out.push(0x09), (i += 2);
    else if (n === 0x78 || n === 0x58) out.push(parseInt(String.fromCharCode(line[i + 2]!, line[i + 3]!), 16)), (i += 4);
    else if (isOdigit(n)) {
      let v = n - 0x30;
      i += 2;
      if (isOdigit(line[i])) v = v * 8 + line[i++]! - 0x30;
      if (isOdigit(line[i])) v = v * 8 + line[i++]! - 0x30;
      if (v > 255) return null;
      out.push(v);
    } else out.push(n), (i += 2);
  }
  return { value: Buffer.from(out), end: cp + 1 };
}

/** Any UTF-16 string, lone surrogates included: the encoder's input is whatever JavaScript can hold. */
const anyString = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('\r', '\n', '\0', '\\', '"', "'", '%', '\t', '\x7f', '\x1b', 'é', '\u2028', '\ud800', '\udc00', '😀', 'x', ' ', '=', '#'), maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

describe('protocol fuzzing: the encoder', () => {
  it('SETCONF of any string: one line, or UsageError for exactly CR, LF, NUL and lone surrogates; tor decodes the original (property)', () => {
    const prefix = Buffer.from('SETCONF ContactInfo=');
    let encoded = 0;
    let refused = 0;
    fc.assert(
      fc.property(anyString, (s) => {
        let cmd: Command;
        try {
          cmd = commands.setConf([['ContactInfo', s]]);
        } catch (err) {
          expect(err).toBeInstanceOf(UsageError);
          expect(/[\r\n\0]/.test(s) || !s.isWellFormed()).toBe(true);
          refused++;
          return;
        }
        expect(/[\r\n\0]/.test(s) || !s.isWellFormed()).toBe(false);
        const wire = Buffer.from(cmd.wire, 'utf8');
        // The only CR, LF or NUL is the terminator: tor's line reader sees one command.
        expect(wire.subarray(0, -2).some((b) => b === 0x0d || b === 0x0a || b === 0x00)).toBe(false);
        expect(wire.subarray(-2).toString('latin1')).toBe('\r\n');
        expect(wire.subarray(0, prefix.length).equals(prefix)).toBe(true);
        const decoded = torUnescape(wire, prefix.length);
        expect(decoded, cmd.wire).not.toBeNull();
        expect(decoded!.value.toString('utf8')).toBe(s);
        expect(wire.subarray(decoded!.end).toString('latin1')).toBe('\r\n');
        encoded++;
      }),
      { numRuns: 3000 },
    );
    expect(refused).toBeGreaterThan(0);
    figures('encoder (offline, tor decoding ported)', { cases: encoded + refused, encoded, refusedCrLfNulOrLoneSurrogate: refused, rawCrLfNul: 0 });
  });
});

describe('protocol fuzzing: the encoder against a real tor', () => {
  let tor: TestTor;
  beforeAll(async () => {
    tor = await startTestTor();
  });
  afterAll(async () => {
    await tor?.cleanup();
  });

  it('every byte 0x01-0x7f and generated non-ASCII strings, set as ContactInfo, read back identical', async () => {
    const sample: string[] = [];
    // CR and LF are refused before sending (OptionValueError): no tor option takes a line break.
    for (let b = 1; b < 0x80; b++) {
      if (b === 0x0a || b === 0x0d) continue;
      const c = String.fromCharCode(b);
      sample.push(c, `a${c}b`, `${c}${c}x`, `x${c}`);
    }
    sample.push('', ' ', '  padded  ', 'café', '終わり', '😀 emoji', '\u2028\u2029', '\u0085', '\u00a0', '\ufeffBOM', '\\x41\\101', '%s%n%%', '"#"');
    sample.push(...fc.sample(anyString.filter((s) => !/[\r\n\0]/.test(s) && s.isWellFormed()), { numRuns: 200, seed: 42 }));
    const client = tor.client;
    const mismatches: string[] = [];
    const before = await client.getConf(['ContactInfo']);
    // Pipelined pairs: each GETCONF is answered right after its SETCONF.
    await Promise.all(
      sample.map(async (s) => {
        const set = client.setConf([['ContactInfo', s]]);
        const got = client.getConf(['ContactInfo']);
        await set;
        const back = (await got).get('ContactInfo') ?? [];
        if ((back[0] ?? '') !== s || back.length > 1) mismatches.push(`${JSON.stringify(s)} → ${JSON.stringify(back)}`);
      }),
    );
    expect(mismatches).toEqual([]);
    // And tor is still one tor with one configuration: nothing was injected alongside.
    expect(await client.getInfo('version')).toMatch(/^0\./);
    await client.resetConf(['ContactInfo']);
    expect((await client.getConf(['ContactInfo'])).get('ContactInfo')).toEqual(before.get('ContactInfo'));
    figures('encoder (real tor ContactInfo round trip)', { cases: sample.length, mismatches: mismatches.length });
  });
});
