// Runs in a worker thread so that the test can terminate it: a parser stuck in a loop never yields to a
// timer, and only a thread that can be killed from outside turns "hang" into a failing test.
// It exercises the compiled code (dist/), which `npm test` builds first.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';

const dist = new URL('../../dist/', import.meta.url);
const { ReplyReader } = await import(new URL('tor/protocol/reader.js', dist).href);
const { formatReply, isAsync } = await import(new URL('tor/protocol/reply.js', dist).href);
const { ProtocolError } = await import(new URL('tor/errors.js', dist).href);
const { parseEvent } = await import(new URL('tor/events.js', dist).href);
const replies = await import(new URL('tor/replies.js', dist).href);
const { decodeReplyValue, tokenize } = await import(new URL('tor/protocol/quoting.js', dist).href);
const { parseServiceBlock } = await import(new URL('reconcile/hsblock.js', dist).href);
const { parseBootstrapPhase } = await import(new URL('tor/launch.js', dist).href);

const { transcripts } = JSON.parse(readFileSync(new URL('./transcripts.json', import.meta.url), 'utf8'));
const corpus = transcripts.map((t) => Buffer.from(t.wire, 'utf8'));
const { seed, runs } = workerData;

const stats = { cases: 0, bytes: 0, replies: 0, events: 0, parsed: 0, protocolErrors: 0, framingErrors: 0, maxCaseMs: 0 };

/** Every parser a reply can meet: each must return or throw ProtocolError, nothing else. */
const PARSERS = [
  replies.parseProtocolInfo,
  replies.parseAuthChallenge,
  replies.parseGetInfo,
  replies.parseGetConf,
  replies.parseAddOnion,
  replies.parseOnionClientAuthView,
  (r) => parseServiceBlock(replies.parseGetConf(r)),
];

function guarded(fn) {
  try {
    fn();
    stats.parsed++;
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    stats.protocolErrors++;
  }
}

function parseAll(reply) {
  if (isAsync(reply)) {
    stats.events++;
    guarded(() => parseEvent(reply));
  } else {
    stats.replies++;
    for (const p of PARSERS) guarded(() => p(reply));
  }
  for (const line of reply.lines) {
    guarded(() => tokenize(line.text));
    const eq = line.text.indexOf('=');
    if (eq >= 0) guarded(() => decodeReplyValue(line.text.slice(eq + 1)));
    guarded(() => parseBootstrapPhase(line.text));
  }
  // formatReply is framing's inverse: what it prints must frame back to the same reply. It ends lines with
  // CRLF, as tor does, so it is read as on a tor connection, where the handshake's CRLF came first: a raw LF
  // inside a line is text there.
  const reader = new ReplyReader();
  reader.push(Buffer.from('250 OK\r\n'));
  const again = reader.push(Buffer.from(formatReply(reply), 'utf8'));
  if (again.length !== 1 || JSON.stringify(again[0]) !== JSON.stringify(reply)) {
    throw new Error(`formatReply does not round-trip: ${JSON.stringify(reply).slice(0, 300)}`);
  }
}

/** Feed `chunks`; the replies completed and the framing error, if any. Anything but ProtocolError escapes. */
function feed(chunks, limits) {
  const reader = new ReplyReader(limits);
  const out = [];
  try {
    for (const c of chunks) out.push(...reader.push(c));
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { out, error: err.message };
  }
  return { out, error: null };
}

const INTERESTING = [0x0d, 0x0a, 0x2e, 0x2b, 0x2d, 0x20, 0x22, 0x5c, 0x3d, 0x30, 0x39, 0x36, 0x35, 0x32, 0x00, 0xff, 0xc3, 0x80, 0x24, 0x7e, 0x2c];
const CHUNKS = ['\r\n', '.\r\n', '..', '650 ', '650-', '650+', '250+', '250-', '250 OK\r\n', '\\x', '\\', '"', '="', '\\400', '\\x4', 'CONF_CHANGED', 'CIRC 1 BUILT ', 'STREAM 1 NEW 0 ', '$', '~', ',', '\xff\xfe', 'SERVERHASH=', 'ServiceID=', 'CLIENT '].map((s) => Buffer.from(s, 'latin1'));

const mutation = fc.record({
  op: fc.constantFrom('set', 'interesting', 'insert', 'delete', 'duplicate', 'truncate', 'swapLines'),
  pos: fc.nat(),
  pos2: fc.nat(),
  len: fc.integer({ min: 1, max: 48 }),
  byte: fc.integer({ min: 0, max: 255 }),
  pick: fc.nat(),
});

function mutate(buf, m) {
  if (buf.length === 0) return Buffer.from(CHUNKS[m.pick % CHUNKS.length]);
  const at = m.pos % buf.length;
  switch (m.op) {
    case 'set': {
      const b = Buffer.from(buf);
      b[at] = m.byte;
      return b;
    }
    case 'interesting': {
      const b = Buffer.from(buf);
      b[at] = INTERESTING[m.pick % INTERESTING.length];
      return b;
    }
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), CHUNKS[m.pick % CHUNKS.length], buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.len)]);
    case 'duplicate':
      return Buffer.concat([buf.subarray(0, at + m.len), buf.subarray(at, at + m.len), buf.subarray(at + m.len)]);
    case 'truncate':
      return buf.subarray(0, at);
    case 'swapLines': {
      const lines = buf.toString('latin1').split('\n');
      const i = m.pos % lines.length;
      const j = m.pos2 % lines.length;
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return Buffer.from(lines.join('\n'), 'latin1');
    }
  }
  return buf;
}

function split(buf, cuts) {
  const points = [...new Set(cuts.map((c) => (buf.length ? c % (buf.length + 1) : 0)))].sort((a, b) => a - b);
  const chunks = [];
  let from = 0;
  for (const p of [...points, buf.length]) {
    chunks.push(buf.subarray(from, p));
    from = p;
  }
  return chunks;
}

/**
 * The property: whatever the bytes and however they are split, framing gives the same outcome as feeding
 * them one byte at a time, and nothing but ProtocolError is ever thrown, by the reader or by any parser.
 */
function check(buf, cuts, limits) {
  const t0 = performance.now();
  stats.cases++;
  stats.bytes += buf.length;
  const bytewise = feed(Array.from(buf, (b) => Buffer.from([b])), limits);
  const chunked = feed(split(buf, cuts), limits);
  if (chunked.error !== bytewise.error) throw new Error(`outcome depends on how the bytes are split: ${chunked.error} vs ${bytewise.error}`);
  // A chunk that fails loses the replies it completed; the ones before must match.
  const same = bytewise.out.slice(0, chunked.out.length);
  if (JSON.stringify(same) !== JSON.stringify(chunked.out)) throw new Error('replies depend on how the bytes are split');
  if (!chunked.error && chunked.out.length !== bytewise.out.length) throw new Error('replies lost when split');
  if (bytewise.error) stats.framingErrors++;
  for (const r of bytewise.out) parseAll(r);
  stats.maxCaseMs = Math.max(stats.maxCaseMs, performance.now() - t0);
}

/**
 * Mutations inside one line's text, CRLF kept: framing survives, so the mutation reaches the parsers
 * (quoted strings, escapes, KEY=VALUE splitting) far more often than a byte flip anywhere does.
 */
const QUOTED = ['"', '\\', '\\x', '\\x4', '\\xZZ', '\\4', '\\400', '\\777', '\\q', '\\"', '=', '="', ' ', ',', '$', '~', '\xc3', 'é', '\\303\\251'];
const lineMutation = fc.record({ line: fc.nat(), pos: fc.nat(), piece: fc.oneof(fc.constantFrom(...QUOTED), fc.string({ maxLength: 4 })), del: fc.integer({ min: 0, max: 3 }) });

function mutateLine(buf, m) {
  const lines = buf.toString('utf8').split('\r\n');
  const i = m.line % Math.max(1, lines.length - 1);
  const text = lines[i];
  // Keep the status code and separator: the point is to reach the parser of the line's text.
  const from = text.length > 4 ? 4 + (m.pos % (text.length - 3)) : text.length;
  lines[i] = text.slice(0, from) + m.piece + text.slice(from + m.del);
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

const limitsArb = fc.option(fc.record({ maxLineBytes: fc.integer({ min: 4, max: 300 }), maxReplyBytes: fc.integer({ min: 8, max: 2000 }) }), { freq: 4 });
const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

const properties = {
  mutated: fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 8 }), cutsArb, limitsArb, (which, muts, cuts, limits) => {
    let buf = corpus[which % corpus.length];
    for (const m of muts) buf = mutate(buf, m);
    check(buf, cuts, limits ?? undefined);
  }),
  lineText: fc.property(fc.nat(), fc.array(lineMutation, { minLength: 1, maxLength: 6 }), cutsArb, (which, muts, cuts) => {
    let buf = corpus[which % corpus.length];
    for (const m of muts) buf = mutateLine(buf, m);
    check(buf, cuts, undefined);
  }),
  unmutated: fc.property(fc.nat(), cutsArb, (which, cuts) => check(corpus[which % corpus.length], cuts, undefined)),
  random: fc.property(fc.uint8Array({ maxLength: 600 }), cutsArb, limitsArb, (bytes, cuts, limits) => check(Buffer.from(bytes), cuts, limits ?? undefined)),
  // Random text made of protocol pieces: far likelier than random bytes to get past the framing.
  pieces: fc.property(fc.array(fc.oneof(fc.constantFrom(...CHUNKS.map((c) => c.toString('latin1'))), fc.string({ maxLength: 6 })), { maxLength: 60 }), cutsArb, (parts, cuts) =>
    check(Buffer.from(parts.join(''), 'latin1'), cuts, undefined),
  ),
};

const results = {};
for (const [name, prop] of Object.entries(properties)) {
  const r = fc.check(prop, { seed, numRuns: name === 'unmutated' ? Math.min(runs, 200) : runs, endOnFailure: false });
  results[name] = r.failed
    ? { failed: true, numRuns: r.numRuns, seed: r.seed, path: r.path, counterexample: JSON.stringify(r.counterexample)?.slice(0, 2000), error: String(r.errorInstance?.stack ?? r.error).slice(0, 2000) }
    : { failed: false, numRuns: r.numRuns };
}
parentPort.postMessage({ results, stats, corpus: corpus.length });
