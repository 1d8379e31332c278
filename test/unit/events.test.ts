import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { ProtocolError } from '../../src/tor/errors.js';
import {
  EVENT_NAMES,
  isEvent,
  isKnownEvent,
  parseEvent,
  type CircEvent,
  type EventMap,
  type EventName,
  type LogEvent,
  type RelaySpec,
  type StreamEvent,
  type TorEvent,
} from '../../src/tor/events.js';
import { ReplyReader } from '../../src/tor/protocol/reader.js';
import type { Reply } from '../../src/tor/protocol/reply.js';

/** Frame wire lines with the real reader, so the tests see replies exactly as the client will. */
function reply(lines: string[]): Reply {
  const replies = new ReplyReader().push(Buffer.from(lines.join('\r\n') + '\r\n', 'utf8'));
  expect(replies).toHaveLength(1);
  return replies[0]!;
}

const event = (lines: string[]): TorEvent => parseEvent(reply(lines));

const FP1 = '9695DFC35FFEB861329B9F1AB04C46397020CE31';
const FP2 = '847B1F850344D7876491A54892F904934E4EB85D';
const FP3 = '7EA6EAD6FD83083C538F44038BBFA077587DD755';
const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const BLINDED = 'B2RIJCRLvW2kpTHrJIBZPMrASWMu1Dl9S9jQY/jtIg8';
const HSDIR_INDEX = '6C7F3A1B2E4D5C6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0A';
const CREATED = '2024-05-14T13:48:22.417238';
const CREATED_DATE = new Date(Date.UTC(2024, 4, 14, 13, 48, 22, 417));
const ISO = 'SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH';

interface Case {
  name: string;
  wire: string[];
  /** Everything but `raw`, which must be the reply itself. */
  expected: Record<string, unknown>;
}

const CASES: Case[] = [
  // CONF_CHANGED ------------------------------------------------------------------------------------------
  {
    name: 'CONF_CHANGED with set, quoted, multi-word, cleared and repeated keys, in order',
    wire: [
      '650-CONF_CHANGED',
      '650-ExitNodes={us},{de}',
      '650-MaxCircuitDirtiness=300',
      '650-ContactInfo="caf\\303\\251 \\"x\\""',
      '650-HiddenServicePort=80 127.0.0.1:8080',
      '650-ExcludeNodes=',
      '650-HiddenServiceOptions',
      '650-SocksPort=9050',
      '650-SocksPort=127.0.0.1:9150 IsolateDestAddr',
      '650-Nickname=a=b',
      '650 OK',
    ],
    expected: {
      type: 'CONF_CHANGED',
      changes: [
        ['ExitNodes', '{us},{de}'],
        ['MaxCircuitDirtiness', '300'],
        ['ContactInfo', 'café "x"'],
        ['HiddenServicePort', '80 127.0.0.1:8080'],
        ['ExcludeNodes', null],
        ['HiddenServiceOptions', null],
        ['SocksPort', '9050'],
        ['SocksPort', '127.0.0.1:9150 IsolateDestAddr'],
        ['Nickname', 'a=b'],
      ],
    },
  },
  {
    name: 'CONF_CHANGED with an explicitly empty quoted value',
    wire: ['650-CONF_CHANGED', '650-ContactInfo=""', '650 OK'],
    expected: { type: 'CONF_CHANGED', changes: [['ContactInfo', '']] },
  },
  // STATUS_* ----------------------------------------------------------------------------------------------
  {
    name: 'STATUS_CLIENT bootstrap progress',
    wire: ['650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"'],
    expected: {
      type: 'STATUS_CLIENT',
      severity: 'NOTICE',
      action: 'BOOTSTRAP',
      args: { PROGRESS: '100', TAG: 'done', SUMMARY: 'Done' },
    },
  },
  {
    name: 'STATUS_CLIENT bootstrap problem with quoted spaces',
    wire: [
      '650 STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" ' +
        'WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore ' +
        `HOSTID="${FP1}" HOSTADDR="192.0.2.7:443"`,
    ],
    expected: {
      type: 'STATUS_CLIENT',
      severity: 'WARN',
      action: 'BOOTSTRAP',
      args: {
        PROGRESS: '5',
        TAG: 'conn',
        SUMMARY: 'Connecting to a relay',
        WARNING: 'Connection refused',
        REASON: 'CONNECTREFUSED',
        COUNT: '1',
        RECOMMENDATION: 'ignore',
        HOSTID: FP1,
        HOSTADDR: '192.0.2.7:443',
      },
    },
  },
  {
    name: 'STATUS_CLIENT without arguments',
    wire: ['650 STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED'],
    expected: { type: 'STATUS_CLIENT', severity: 'NOTICE', action: 'CIRCUIT_ESTABLISHED', args: {} },
  },
  {
    name: 'STATUS_GENERAL with a quoted comma-and-space list',
    wire: ['650 STATUS_GENERAL WARN DANGEROUS_VERSION CURRENT=0.4.7.1 REASON=OBSOLETE RECOMMENDED="0.4.8.12, 0.4.9.1"'],
    expected: {
      type: 'STATUS_GENERAL',
      severity: 'WARN',
      action: 'DANGEROUS_VERSION',
      args: { CURRENT: '0.4.7.1', REASON: 'OBSOLETE', RECOMMENDED: '0.4.8.12, 0.4.9.1' },
    },
  },
  {
    name: 'STATUS_SERVER',
    wire: ['650 STATUS_SERVER ERR EXTERNAL_ADDRESS ADDRESS=203.0.113.5 METHOD=DIRSERV'],
    expected: {
      type: 'STATUS_SERVER',
      severity: 'ERR',
      action: 'EXTERNAL_ADDRESS',
      args: { ADDRESS: '203.0.113.5', METHOD: 'DIRSERV' },
    },
  },
  // Log events --------------------------------------------------------------------------------------------
  {
    name: 'NOTICE log line',
    wire: ['650 NOTICE Bootstrapped 100% (done): Done'],
    expected: { type: 'NOTICE', severity: 'NOTICE', message: 'Bootstrapped 100% (done): Done' },
  },
  {
    name: 'WARN log line that is not KEY=VALUE text (an unbalanced quote must not matter)',
    wire: ['650 WARN Could not bind to 127.0.0.1:9050: Address "already in use. Is Tor already running?'],
    expected: {
      type: 'WARN',
      severity: 'WARN',
      message: 'Could not bind to 127.0.0.1:9050: Address "already in use. Is Tor already running?',
    },
  },
  { name: 'DEBUG log line', wire: ['650 DEBUG conn_read_callback(): socket 7 wants to read.'], expected: { type: 'DEBUG', severity: 'DEBUG', message: 'conn_read_callback(): socket 7 wants to read.' } },
  { name: 'INFO log line', wire: ['650 INFO circuit_build_no_more_hops(): circuit built!'], expected: { type: 'INFO', severity: 'INFO', message: 'circuit_build_no_more_hops(): circuit built!' } },
  { name: 'ERR log line keeps its spacing', wire: ['650 ERR  Reading config failed'], expected: { type: 'ERR', severity: 'ERR', message: ' Reading config failed' } },
  {
    name: 'WARN log event in the multi-line form',
    wire: ['650+WARN', 'first line of a long message', '..starts with a dot', '.', '650 OK'],
    expected: { type: 'WARN', severity: 'WARN', message: 'first line of a long message\n.starts with a dot' },
  },
  // HS_DESC -----------------------------------------------------------------------------------------------
  {
    name: 'HS_DESC UPLOAD (v3)',
    wire: [`650 HS_DESC UPLOAD ${ONION} UNKNOWN $${FP1}~moria1 ${BLINDED} HSDIR_INDEX=${HSDIR_INDEX}`],
    expected: {
      type: 'HS_DESC',
      action: 'UPLOAD',
      address: ONION,
      authType: 'UNKNOWN',
      hsDir: { fingerprint: FP1, nickname: 'moria1' },
      descriptorId: BLINDED,
      hsDirIndex: HSDIR_INDEX,
    },
  },
  {
    name: 'HS_DESC UPLOADED (no descriptor id)',
    wire: [`650 HS_DESC UPLOADED ${ONION} UNKNOWN $${FP1}~moria1`],
    expected: { type: 'HS_DESC', action: 'UPLOADED', address: ONION, authType: 'UNKNOWN', hsDir: { fingerprint: FP1, nickname: 'moria1' } },
  },
  {
    name: 'HS_DESC FAILED upload with a reason',
    wire: [`650 HS_DESC FAILED ${ONION} UNKNOWN $${FP2} REASON=UPLOAD_REJECTED`],
    expected: { type: 'HS_DESC', action: 'FAILED', address: ONION, authType: 'UNKNOWN', hsDir: { fingerprint: FP2 }, reason: 'UPLOAD_REJECTED' },
  },
  {
    name: 'HS_DESC REQUESTED (client fetch)',
    wire: [`650 HS_DESC REQUESTED ${ONION} NO_AUTH $${FP3}~dizum ${BLINDED} HSDIR_INDEX=${HSDIR_INDEX}`],
    expected: {
      type: 'HS_DESC',
      action: 'REQUESTED',
      address: ONION,
      authType: 'NO_AUTH',
      hsDir: { fingerprint: FP3, nickname: 'dizum' },
      descriptorId: BLINDED,
      hsDirIndex: HSDIR_INDEX,
    },
  },
  {
    name: 'HS_DESC FAILED fetch with no HSDir',
    wire: [`650 HS_DESC FAILED ${ONION} NO_AUTH UNKNOWN ${BLINDED} REASON=QUERY_NO_HSDIR`],
    expected: { type: 'HS_DESC', action: 'FAILED', address: ONION, authType: 'NO_AUTH', hsDir: null, descriptorId: BLINDED, reason: 'QUERY_NO_HSDIR' },
  },
  {
    name: 'HS_DESC CREATED (v2, with REPLICA)',
    wire: ['650 HS_DESC CREATED ajhb7kljbiru65qo UNKNOWN UNKNOWN b3oeducbhjmbqmgw2i3jtz4fekkrinwj REPLICA=1'],
    expected: { type: 'HS_DESC', action: 'CREATED', address: 'ajhb7kljbiru65qo', authType: 'UNKNOWN', hsDir: null, descriptorId: 'b3oeducbhjmbqmgw2i3jtz4fekkrinwj', replica: 1 },
  },
  {
    name: 'HS_DESC with an action and argument from a future tor',
    wire: [`650 HS_DESC REUPLOADED ${ONION} UNKNOWN ${FP1} FLAVOR=vanilla`],
    expected: { type: 'HS_DESC', action: 'REUPLOADED', address: ONION, authType: 'UNKNOWN', hsDir: { fingerprint: FP1 } },
  },
  // CIRC --------------------------------------------------------------------------------------------------
  {
    name: 'CIRC LAUNCHED (no path yet)',
    wire: [`650 CIRC 5 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=${CREATED}`],
    expected: { type: 'CIRC', id: '5', status: 'LAUNCHED', path: [], buildFlags: ['NEED_CAPACITY'], purpose: 'GENERAL', timeCreated: CREATED_DATE },
  },
  {
    name: 'CIRC BUILT onion-service circuit, every path form, SOCKS credentials, extra arguments',
    wire: [
      `650 CIRC 17 BUILT $${FP1}~moria1,$${FP2}=tor26,$${FP3} BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME ` +
        `PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED REND_QUERY=${ONION} TIME_CREATED=${CREATED} ` +
        'SOCKS_USERNAME="tbb one" SOCKS_PASSWORD="p\\"w" CONFLUX_ID=5C1F UNUSABLE_FOR_NEW_CONNS=0',
    ],
    expected: {
      type: 'CIRC',
      id: '17',
      status: 'BUILT',
      path: [
        { fingerprint: FP1, nickname: 'moria1' },
        { fingerprint: FP2, nickname: 'tor26' },
        { fingerprint: FP3 },
      ],
      buildFlags: ['IS_INTERNAL', 'NEED_CAPACITY', 'NEED_UPTIME'],
      purpose: 'HS_SERVICE_INTRO',
      hsState: 'HSSI_ESTABLISHED',
      rendQuery: ONION,
      timeCreated: CREATED_DATE,
      socksUsername: 'tbb one',
      socksPassword: 'p"w',
    },
  },
  {
    name: 'CIRC CLOSED with local and remote reasons',
    wire: [
      `650 CIRC 5 CLOSED $${FP1}~moria1,$${FP2}~tor26 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL ` +
        `TIME_CREATED=${CREATED} REASON=DESTROYED REMOTE_REASON=OR_CONN_CLOSED`,
    ],
    expected: {
      type: 'CIRC',
      id: '5',
      status: 'CLOSED',
      path: [
        { fingerprint: FP1, nickname: 'moria1' },
        { fingerprint: FP2, nickname: 'tor26' },
      ],
      buildFlags: ['NEED_CAPACITY'],
      purpose: 'GENERAL',
      timeCreated: CREATED_DATE,
      reason: 'DESTROYED',
      remoteReason: 'OR_CONN_CLOSED',
    },
  },
  {
    // control-spec §4.1's own example of what clients must tolerate: extra arguments and extra lines.
    name: 'CIRC with an extra positional word and extra lines',
    wire: [`650-CIRC 1000 EXTENDED $${FP1}~moria1,$${FP2}~moria2 0xBEEF`, '650-EXTRAMAGIC=99', '650 ANONYMITY=high'],
    expected: {
      type: 'CIRC',
      id: '1000',
      status: 'EXTENDED',
      path: [
        { fingerprint: FP1, nickname: 'moria1' },
        { fingerprint: FP2, nickname: 'moria2' },
      ],
      buildFlags: [],
    },
  },
  {
    name: 'CIRC with an unparseable optional TIME_CREATED (left undefined, not an error)',
    wire: ['650 CIRC 5 GUARD_WAIT PURPOSE=GENERAL TIME_CREATED=yesterday'],
    expected: { type: 'CIRC', id: '5', status: 'GUARD_WAIT', path: [], buildFlags: [], purpose: 'GENERAL' },
  },
  // STREAM ------------------------------------------------------------------------------------------------
  {
    name: 'STREAM NEW from a SOCKS client with isolation fields',
    wire: [
      '650 STREAM 12 NEW 0 www.example.com:443 SOURCE_ADDR=127.0.0.1:51234 PURPOSE=USER SOCKS_USERNAME="alice" ' +
        `SOCKS_PASSWORD="x y" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-2 ISO_FIELDS=${ISO}`,
    ],
    expected: {
      type: 'STREAM',
      id: '12',
      status: 'NEW',
      circuitId: '0',
      target: { host: 'www.example.com', port: 443 },
      sourceAddr: { host: '127.0.0.1', port: 51234 },
      purpose: 'USER',
      socksUsername: 'alice',
      socksPassword: 'x y',
      clientProtocol: 'SOCKS5',
      nymEpoch: 3,
      sessionGroup: -2,
      isoFields: ISO.split(','),
    },
  },
  {
    name: 'STREAM CLOSED with a remote reason',
    wire: ['650 STREAM 12 CLOSED 5 www.example.com:443 REASON=END REMOTE_REASON=DONE CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-2 ISO_FIELDS='],
    expected: {
      type: 'STREAM',
      id: '12',
      status: 'CLOSED',
      circuitId: '5',
      target: { host: 'www.example.com', port: 443 },
      reason: 'END',
      remoteReason: 'DONE',
      clientProtocol: 'SOCKS5',
      nymEpoch: 3,
      sessionGroup: -2,
      isoFields: [],
    },
  },
  {
    name: 'STREAM NEWRESOLVE to port 0',
    wire: ['650 STREAM 13 NEWRESOLVE 0 example.org:0 SOURCE_ADDR=127.0.0.1:40000 PURPOSE=DNS_REQUEST'],
    expected: {
      type: 'STREAM',
      id: '13',
      status: 'NEWRESOLVE',
      circuitId: '0',
      target: { host: 'example.org', port: 0 },
      sourceAddr: { host: '127.0.0.1', port: 40000 },
      purpose: 'DNS_REQUEST',
    },
  },
  {
    name: 'STREAM REMAP to an IPv6 target',
    wire: ['650 STREAM 14 REMAP 5 [2001:db8::1]:443 SOURCE=EXIT'],
    expected: { type: 'STREAM', id: '14', status: 'REMAP', circuitId: '5', target: { host: '2001:db8::1', port: 443 }, source: 'EXIT' },
  },
  {
    // tor prints a reason code it cannot name as " UNKNOWN_<n>" after "REASON=", space included.
    name: 'STREAM FAILED with an unnamed reason code',
    wire: ['650 STREAM 15 FAILED 5 example.net:80 REASON= UNKNOWN_99 NYM_EPOCH=0'],
    expected: { type: 'STREAM', id: '15', status: 'FAILED', circuitId: '5', target: { host: 'example.net', port: 80 }, reason: 'UNKNOWN_99', nymEpoch: 0 },
  },
  {
    name: 'STREAM with an unnamed remote reason code',
    wire: ['650 STREAM 15 CLOSED 5 example.net:80 REASON=END REMOTE_REASON= UNKNOWN_42'],
    expected: { type: 'STREAM', id: '15', status: 'CLOSED', circuitId: '5', target: { host: 'example.net', port: 80 }, reason: 'END', remoteReason: 'UNKNOWN_42' },
  },
  {
    name: 'STREAM with optional numbers out of their range (left undefined, not an error)',
    wire: ['650 STREAM 17 SUCCEEDED 7 example.com:80 NYM_EPOCH=-1 SESSION_GROUP=two'],
    expected: { type: 'STREAM', id: '17', status: 'SUCCEEDED', circuitId: '7', target: { host: 'example.com', port: 80 } },
  },
  {
    name: 'STREAM XOFF_RECV (flow control, tor >= 0.4.8) to tor itself',
    wire: ['650 STREAM 16 XOFF_RECV 7 (Tor_internal):0'],
    expected: { type: 'STREAM', id: '16', status: 'XOFF_RECV', circuitId: '7', target: { host: '(Tor_internal)', port: 0 } },
  },
  // NEWCONSENSUS / NS -------------------------------------------------------------------------------------
  {
    name: 'NEWCONSENSUS keeps the data block',
    wire: [
      '650+NEWCONSENSUS',
      `r moria1 lpXfw1/+uGEym58asExGOXAgzjE xAvqW5EKGvl+WcgKT8r7DqXbOtA 2024-05-14 12:00:00 128.31.0.39 9101 0`,
      's Authority Fast Running Stable V2Dir Valid',
      'w Bandwidth=20 Unmeasured=1',
      '.',
      '650 OK',
    ],
    expected: {
      type: 'NEWCONSENSUS',
      document:
        'r moria1 lpXfw1/+uGEym58asExGOXAgzjE xAvqW5EKGvl+WcgKT8r7DqXbOtA 2024-05-14 12:00:00 128.31.0.39 9101 0\n' +
        's Authority Fast Running Stable V2Dir Valid\nw Bandwidth=20 Unmeasured=1',
    },
  },
  {
    name: 'NS keeps the data block',
    wire: ['650+NS', 'r tor26 hHsfhQNE14dkkaVIkvkEk05OuF0 AAAA 2024-05-14 12:00:00 217.196.147.77 443 0', 's Running Valid', '.', '650 OK'],
    expected: { type: 'NS', document: 'r tor26 hHsfhQNE14dkkaVIkvkEk05OuF0 AAAA 2024-05-14 12:00:00 217.196.147.77 443 0\ns Running Valid' },
  },
  // SIGNAL, ADDRMAP ---------------------------------------------------------------------------------------
  { name: 'SIGNAL NEWNYM', wire: ['650 SIGNAL NEWNYM'], expected: { type: 'SIGNAL', signal: 'NEWNYM' } },
  { name: 'SIGNAL RELOAD', wire: ['650 SIGNAL RELOAD'], expected: { type: 'SIGNAL', signal: 'RELOAD' } },
  {
    name: 'ADDRMAP with expiry, cache flag and stream id',
    wire: ['650 ADDRMAP www.example.com 93.184.216.34 "2024-05-14 15:48:22" EXPIRES="2024-05-14 13:48:22" CACHED="NO" STREAMID=12'],
    expected: {
      type: 'ADDRMAP',
      hostname: 'www.example.com',
      destination: '93.184.216.34',
      expiry: '2024-05-14 15:48:22',
      utcExpiry: new Date(Date.UTC(2024, 4, 14, 13, 48, 22)),
      cached: false,
      streamId: '12',
    },
  },
  {
    name: 'CIRC_MINOR purpose change',
    wire: [`650 CIRC_MINOR 7 PURPOSE_CHANGED $${FP1}~moria1,$${FP2} BUILD_FLAGS=NEED_CAPACITY PURPOSE=CONFLUX_LINKED TIME_CREATED=${CREATED} OLD_PURPOSE=CONFLUX_UNLINKED`],
    expected: {
      type: 'CIRC_MINOR',
      id: '7',
      event: 'PURPOSE_CHANGED',
      path: [{ fingerprint: FP1, nickname: 'moria1' }, { fingerprint: FP2 }],
      buildFlags: ['NEED_CAPACITY'],
      purpose: 'CONFLUX_LINKED',
      timeCreated: CREATED_DATE,
      oldPurpose: 'CONFLUX_UNLINKED',
    },
  },
  {
    name: 'ADDRMAP failed resolution',
    wire: ['650 ADDRMAP nosuch.example <error> "2024-05-14 15:48:22" error=yes EXPIRES="2024-05-14 13:48:22" CACHED="NO"'],
    expected: {
      type: 'ADDRMAP',
      hostname: 'nosuch.example',
      destination: null,
      expiry: '2024-05-14 15:48:22',
      utcExpiry: new Date(Date.UTC(2024, 4, 14, 13, 48, 22)),
      error: 'yes',
      cached: false,
    },
  },
  {
    name: 'ADDRMAP that never expires',
    wire: [`650 ADDRMAP 10.192.0.1 ${ONION}.onion NEVER CACHED="YES"`],
    expected: { type: 'ADDRMAP', hostname: '10.192.0.1', destination: `${ONION}.onion`, expiry: null, cached: true },
  },
];

describe('parseEvent: typed events', () => {
  it.each(CASES)('$name', ({ wire, expected }) => {
    const r = reply(wire);
    const e = parseEvent(r);
    expect(e).toEqual({ ...expected, raw: r });
    expect(e.raw).toBe(r);
    expect(isKnownEvent(e)).toBe(true);
  });

  it('has at least one transcript for every typed event', () => {
    const covered = new Set(CASES.map((c) => c.expected.type));
    expect([...EVENT_NAMES].filter((n) => !covered.has(n))).toEqual([]);
  });
});

describe('parseEvent: unknown events', () => {
  it.each([
    [['650 BW 1024 2048'], 'BW'],
    [[`650 GUARD ENTRY $${FP1}~moria1 GOOD`], 'GUARD'],
    // Unknown events are never tokenized, so text that would be malformed for a known event is fine.
    [['650 FUTURE_EVENT x="unterminated \\q'], 'FUTURE_EVENT'],
    [['650+HS_DESC_CONTENT UNKNOWN UNKNOWN UNKNOWN', '.', '650 OK'], 'HS_DESC_CONTENT'],
    [['650 STATUS_SEVER NOTICE X'], 'STATUS_SEVER'],
  ])('passes %j through as %s', (wire, type) => {
    const r = reply(wire);
    const e = parseEvent(r);
    expect(e).toEqual({ type, raw: r });
    expect(e.raw).toBe(r);
    expect(isKnownEvent(e)).toBe(false);
  });
});

describe('parseEvent: values tor may add are kept, marked, and warned about once', () => {
  function warnings(run: () => void): string[] {
    const seen: string[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation((w: string | Error) => void seen.push(String(w)));
    try {
      run();
    } finally {
      spy.mockRestore();
    }
    return seen;
  }

  it('delivers a STATUS_* event whose severity is not NOTICE, WARN or ERR', () => {
    let first: TorEvent | undefined;
    const warned = warnings(() => {
      first = event(['650 STATUS_CLIENT LOUD BOOTSTRAP PROGRESS=1']);
      event(['650 STATUS_CLIENT LOUD BOOTSTRAP PROGRESS=2']);
      event(['650 STATUS_GENERAL SHOUTING CLOCK_JUMPED TIME=5']);
      event(['650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=3']);
    });
    expect(first).toMatchObject({ type: 'STATUS_CLIENT', severity: 'LOUD', action: 'BOOTSTRAP', args: { PROGRESS: '1' }, unrecognized: ['severity'] });
    expect(event(['650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=3'])).not.toHaveProperty('unrecognized');
    expect(warned).toEqual([
      'STATUS_CLIENT event with a severity not known here ("LOUD"); delivered as sent',
      'STATUS_GENERAL event with a severity not known here ("SHOUTING"); delivered as sent',
    ]);
  });

  it('delivers NS and NEWCONSENSUS without a data block as an empty document', () => {
    const warned = warnings(() => {
      expect(event(['650-NS', '650 OK'])).toEqual({ type: 'NS', raw: reply(['650-NS', '650 OK']), document: '', unrecognized: ['document'] });
      expect(event(['650 NS'])).toMatchObject({ type: 'NS', document: '', unrecognized: ['document'] });
      expect(event(['650 NEWCONSENSUS'])).toMatchObject({ type: 'NEWCONSENSUS', document: '', unrecognized: ['document'] });
    });
    expect(warned).toEqual(['NS event without a data block; delivered with an empty document', 'NEWCONSENSUS event without a data block; delivered with an empty document']);
    expect(event(['650+NS', 'r a b c', '.', '650 OK'])).not.toHaveProperty('unrecognized');
  });
});

describe('parseEvent: malformed known events', () => {
  it.each([
    ['CONF_CHANGED line without a key', ['650-CONF_CHANGED', '650-=oops', '650 OK']],
    ['CONF_CHANGED with a key that is no option name', ['650-CONF_CHANGED', '650-Exit Nodes=x', '650 OK']],
    ['CONF_CHANGED not ending in OK', ['650-CONF_CHANGED', '650-ExitNodes=x', '650 DONE']],
    ['STATUS_CLIENT without severity', ['650 STATUS_CLIENT']],
    ['STATUS_CLIENT without action', ['650 STATUS_CLIENT NOTICE']],
    ['STATUS_CLIENT with a broken QuotedString', ['650 STATUS_CLIENT NOTICE BOOTSTRAP SUMMARY="unterminated']],
    ['HS_DESC without HSDir', [`650 HS_DESC UPLOAD ${ONION} UNKNOWN`]],
    ['HS_DESC with an HSDir that is no relay', [`650 HS_DESC UPLOAD ${ONION} UNKNOWN moria1 ${BLINDED}`]],
    ['CIRC without id', ['650 CIRC']],
    ['CIRC without status', ['650 CIRC 5']],
    ['CIRC with an invalid id', ['650 CIRC 5-1 BUILT']],
    ['CIRC with a bare-nickname path', ['650 CIRC 5 BUILT moria1,moria2']],
    ['CIRC with a short fingerprint', ['650 CIRC 5 BUILT $9695DFC35FFEB861~moria1']],
    ['STREAM without target', ['650 STREAM 12 NEW 0']],
    ['STREAM target without port', ['650 STREAM 12 NEW 0 www.example.com']],
    ['STREAM target with a named port', ['650 STREAM 12 NEW 0 www.example.com:https']],
    ['STREAM target port out of range', ['650 STREAM 12 NEW 0 www.example.com:65536']],
    ['STREAM without circuit id', ['650 STREAM 12 NEW']],
    ['SIGNAL without a name', ['650 SIGNAL']],
    ['ADDRMAP without destination', ['650 ADDRMAP www.example.com']],
    ['ADDRMAP without expiry', ['650 ADDRMAP www.example.com 93.184.216.34']],
    // stem's ADDRMAP_BAD_1 and ADDRMAP_BAD_2: a quote missing on either side of the expiry.
    ['ADDRMAP with an unopened expiry quote', ['650 ADDRMAP www.atagar.com 75.119.206.243 2012-11-19 00:50:13" EXPIRES="2012-11-19 08:50:13"']],
    ['ADDRMAP with an unclosed expiry quote', ['650 ADDRMAP www.atagar.com 75.119.206.243 "2012-11-19 00:50:13 EXPIRES="2012-11-19 08:50:13"']],
  ])('%s → ProtocolError', (_name, wire) => {
    expect(() => event(wire)).toThrow(ProtocolError);
  });

  it('refuses a reply that is not an event', () => {
    expect(() => parseEvent(reply(['250 OK']))).toThrow(ProtocolError);
    expect(() => parseEvent({ code: 650, lines: [] })).toThrow(ProtocolError);
    expect(() => parseEvent(reply(['650 ']))).toThrow(ProtocolError);
  });
});

describe('event types', () => {
  it('maps event names to their types for a typed on(name, listener)', () => {
    const seen: string[] = [];
    function on<K extends keyof EventMap>(name: K, listener: (e: EventMap[K]) => void, wire: string[]): void {
      const e = event(wire);
      if (isEvent(e, name)) listener(e);
    }
    on(
      'CIRC',
      (e) => {
        expectTypeOf(e).toEqualTypeOf<CircEvent>();
        expectTypeOf(e.path).toEqualTypeOf<RelaySpec[]>();
        seen.push(`circ ${e.id}`);
      },
      ['650 CIRC 3 LAUNCHED PURPOSE=GENERAL'],
    );
    on(
      'WARN',
      (e) => {
        expectTypeOf(e).toEqualTypeOf<LogEvent<'WARN'>>();
        expectTypeOf(e.severity).toEqualTypeOf<'WARN'>();
        seen.push(e.message);
      },
      ['650 WARN careful'],
    );
    // A listener for one name is not called for another.
    on('STREAM', () => seen.push('wrong'), ['650 CIRC 4 LAUNCHED']);
    expect(seen).toEqual(['circ 3', 'careful']);
    expectTypeOf<EventName>().toEqualTypeOf<keyof EventMap>();
    expectTypeOf<EventMap['STREAM']>().toEqualTypeOf<StreamEvent>();
  });

  it('lists every typed event name once', () => {
    expect([...EVENT_NAMES].sort()).toEqual(
      [
        'ADDRMAP',
        'CIRC',
        'CIRC_MINOR',
        'CONF_CHANGED',
        'DEBUG',
        'ERR',
        'HS_DESC',
        'INFO',
        'NEWCONSENSUS',
        'NOTICE',
        'NS',
        'SIGNAL',
        'STATUS_CLIENT',
        'STATUS_GENERAL',
        'STATUS_SERVER',
        'STREAM',
        'WARN',
      ].sort(),
    );
  });
});
