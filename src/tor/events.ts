/**
 * Typed asynchronous events (650 replies), control-spec §4.1 "Asynchronous events".
 *
 * Compatibility rules this parser follows (§4.1): tor may add keyword arguments and extra lines to any
 * event at any time, and new values for statuses, purposes and reasons; none of those is an error.
 * Only a known event whose mandatory positional fields are missing or malformed throws ProtocolError,
 * because then the event cannot mean what its type says. Optional fields that do not parse (a date, a
 * number) are left undefined; the event's `raw` reply always has the full text.
 */
import { ProtocolError } from './errors.js';
import { decodeReplyValue, fields } from './protocol/quoting.js';
import { isAsync, type Reply } from './protocol/reply.js';
import { warnOnce } from './warn.js';

/** A string union that stays open: tor adds values over time and the spec requires tolerating them. */
export type Open<T extends string> = T | (string & {});

/** A relay as tor names it in paths and HSDir fields: `$FP~nick`, `$FP=nick` (before 0.2.2) or `$FP`. */
export interface RelaySpec {
  /** 40 hex digits, as tor sent them (tor uses upper case). */
  fingerprint: string;
  nickname?: string;
}

export interface HostPort {
  /** A hostname, an IPv4 address, an IPv6 address without brackets, or `(Tor_internal)`. */
  host: string;
  port: number;
}

interface EventBase<T extends string> {
  readonly type: T;
  readonly raw: Reply;
  /**
   * Fields tor sent in a form this parser does not know yet, or left out, e.g. `['severity']` for a status
   * severity newer than the spec it follows. The event is still delivered (with the field as sent, or
   * empty), and a warning is emitted once per kind.
   */
  unrecognized?: string[];
}

export interface ConfChangedEvent extends EventBase<'CONF_CHANGED'> {
  /** In tor's order (its option table); a LineList option appears once per line; null = unset/default. */
  changes: Array<[key: string, value: string | null]>;
}

export type StatusEventName = 'STATUS_GENERAL' | 'STATUS_CLIENT' | 'STATUS_SERVER';
export type StatusSeverity = 'NOTICE' | 'WARN' | 'ERR';

export interface StatusEvent<T extends StatusEventName = StatusEventName> extends EventBase<T> {
  /** As sent; a severity the spec does not list yet is kept and marked in `unrecognized`. */
  severity: Open<StatusSeverity>;
  /** BOOTSTRAP, CIRCUIT_ESTABLISHED, DANGEROUS_VERSION, EXTERNAL_ADDRESS, … */
  action: string;
  /** Keyword arguments with QuotedStrings decoded, e.g. PROGRESS, TAG, SUMMARY for BOOTSTRAP. */
  args: Record<string, string>;
}

export type LogSeverity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARN' | 'ERR';

export interface LogEvent<S extends LogSeverity = LogSeverity> extends EventBase<S> {
  severity: S;
  /** The log line as tor wrote it (never tokenized), or the data block of a `650+WARN` event. */
  message: string;
}

export type HsDescAction = Open<'REQUESTED' | 'UPLOAD' | 'RECEIVED' | 'UPLOADED' | 'IGNORE' | 'FAILED' | 'CREATED'>;

export interface HsDescEvent extends EventBase<'HS_DESC'> {
  action: HsDescAction;
  /** Onion address without `.onion`, or `UNKNOWN`. */
  address: string;
  authType: Open<'NO_AUTH' | 'BASIC_AUTH' | 'STEALTH_AUTH' | 'UNKNOWN'>;
  /** The directory involved; null when tor sent `UNKNOWN` (CREATED, or QUERY_NO_HSDIR failures). */
  hsDir: RelaySpec | null;
  /** v2: base32 descriptor id; v3: the base64 blinded key. */
  descriptorId?: string;
  reason?: Open<'BAD_DESC' | 'QUERY_REJECTED' | 'UPLOAD_REJECTED' | 'NOT_FOUND' | 'UNEXPECTED' | 'QUERY_NO_HSDIR'>;
  replica?: number;
  hsDirIndex?: string;
}

export type CircStatus = Open<'LAUNCHED' | 'BUILT' | 'GUARD_WAIT' | 'EXTENDED' | 'FAILED' | 'CLOSED'>;

export interface CircEvent extends EventBase<'CIRC'> {
  id: string;
  status: CircStatus;
  /** Empty until the first hop is built. */
  path: RelaySpec[];
  buildFlags: string[];
  purpose?: string;
  hsState?: string;
  /** REND_QUERY: the onion address a hidden-service circuit is for. */
  rendQuery?: string;
  timeCreated?: Date;
  reason?: string;
  remoteReason?: string;
  socksUsername?: string;
  socksPassword?: string;
}

/** A change to a circuit that is not a status change: its purpose changed, or tor cannibalized it. */
export interface CircMinorEvent extends Omit<CircEvent, 'type' | 'status'>, EventBase<'CIRC_MINOR'> {
  event: Open<'PURPOSE_CHANGED' | 'CANNIBALIZED'>;
  oldPurpose?: string;
  oldHsState?: string;
}

export type StreamStatus = Open<
  | 'NEW'
  | 'NEWRESOLVE'
  | 'REMAP'
  | 'SENTCONNECT'
  | 'SENTRESOLVE'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CLOSED'
  | 'DETACHED'
  | 'CONTROLLER_WAIT'
  | 'XOFF_SENT'
  | 'XOFF_RECV'
  | 'XON_SENT'
  | 'XON_RECV'
>;

export interface StreamEvent extends EventBase<'STREAM'> {
  id: string;
  status: StreamStatus;
  /** '0' while the stream is attached to no circuit. */
  circuitId: string;
  target: HostPort;
  reason?: string;
  remoteReason?: string;
  source?: string;
  sourceAddr?: HostPort;
  purpose?: string;
  socksUsername?: string;
  socksPassword?: string;
  clientProtocol?: string;
  nymEpoch?: number;
  sessionGroup?: number;
  isoFields?: string[];
}

export interface NetworkStatusEvent<T extends 'NS' | 'NEWCONSENSUS' = 'NS' | 'NEWCONSENSUS'> extends EventBase<T> {
  /** The router status entries, lines joined with "\n", unparsed. */
  document: string;
}

export interface SignalEvent extends EventBase<'SIGNAL'> {
  signal: Open<'RELOAD' | 'DUMP' | 'DEBUG' | 'NEWNYM' | 'CLEARDNSCACHE' | 'HEARTBEAT' | 'ACTIVE' | 'DORMANT'>;
}

export interface AddrMapEvent extends EventBase<'ADDRMAP'> {
  hostname: string;
  /** null when tor sent `<error>`. */
  destination: string | null;
  /** Tor's local time `YYYY-MM-DD HH:MM:SS` as sent (its zone is unknown here); null for NEVER. */
  expiry: string | null;
  utcExpiry?: Date;
  error?: string;
  cached?: boolean;
  streamId?: string;
}

export interface EventMap {
  CONF_CHANGED: ConfChangedEvent;
  STATUS_GENERAL: StatusEvent<'STATUS_GENERAL'>;
  STATUS_CLIENT: StatusEvent<'STATUS_CLIENT'>;
  STATUS_SERVER: StatusEvent<'STATUS_SERVER'>;
  DEBUG: LogEvent<'DEBUG'>;
  INFO: LogEvent<'INFO'>;
  NOTICE: LogEvent<'NOTICE'>;
  WARN: LogEvent<'WARN'>;
  ERR: LogEvent<'ERR'>;
  HS_DESC: HsDescEvent;
  CIRC: CircEvent;
  CIRC_MINOR: CircMinorEvent;
  STREAM: StreamEvent;
  NEWCONSENSUS: NetworkStatusEvent<'NEWCONSENSUS'>;
  NS: NetworkStatusEvent<'NS'>;
  SIGNAL: SignalEvent;
  ADDRMAP: AddrMapEvent;
}

export type EventName = keyof EventMap;

export type KnownEvent = EventMap[EventName];

/** Any event this module does not type (BW, ORCONN, GUARD, …), passed through untouched. */
export interface UnknownEvent {
  readonly type: string;
  readonly raw: Reply;
}

/**
 * Narrow with `isEvent(e, 'CIRC')` rather than `e.type === 'CIRC'`: UnknownEvent's `type` is `string`,
 * so a plain comparison leaves UnknownEvent in the narrowed type.
 */
export type TorEvent = KnownEvent | UnknownEvent;

type Parser<K extends EventName> = (ev: RawEvent<K>) => EventMap[K];

interface RawEvent<K extends string> {
  type: K;
  reply: Reply;
  /** First line after the event name and its space. */
  rest: string;
}

/**
 * An event type this module does not know comes back as UnknownEvent, never as an error: tor adds
 * events, and a controller that subscribed to one must not fail on it. ProtocolError means the reply is
 * not an event at all, or a known event's mandatory fields are missing or malformed.
 */
export function parseEvent(reply: Reply): TorEvent {
  if (!isAsync(reply)) throw new ProtocolError(`not an asynchronous reply (code ${reply.code})`);
  const first = reply.lines[0];
  if (!first) throw new ProtocolError('asynchronous reply without lines');
  const sp = first.text.indexOf(' ');
  const type = sp === -1 ? first.text : first.text.slice(0, sp);
  if (type === '') throw new ProtocolError('asynchronous reply without an event name', first.text);
  const rest = sp === -1 ? '' : first.text.slice(sp + 1);
  if (!isEventName(type)) return { type, raw: reply };
  return (PARSERS[type] as Parser<EventName>)({ type, reply, rest });
}

export function isKnownEvent(event: TorEvent): event is KnownEvent {
  return isEventName(event.type);
}

export function isEvent<K extends EventName>(event: TorEvent, name: K): event is EventMap[K] {
  return event.type === name;
}

function isEventName(name: string): name is EventName {
  return Object.hasOwn(PARSERS, name);
}

// ---------------------------------------------------------------------------------------------------------

/*
 * 650-CONF_CHANGED
 * 650-ExitNodes={us},{de}
 * 650-ContactInfo="caf\303\251"          values tor must escape arrive as QuotedStrings
 * 650-HiddenServicePort=80 127.0.0.1:8080 the rest of the line is the value, spaces and all
 * 650-ExcludeNodes=                       cleared
 * 650-HiddenServiceOptions                cleared
 * 650 OK
 */
const parseConfChanged: Parser<'CONF_CHANGED'> = ({ type, reply }) => {
  const { lines } = reply;
  const changes: Array<[string, string | null]> = [];
  if (lines.length > 1) {
    const end = lines[lines.length - 1]!;
    if (end.text !== 'OK') throw new ProtocolError('CONF_CHANGED does not end with "650 OK"', end.text);
    for (const line of lines.slice(1, -1)) {
      const eq = line.text.indexOf('=');
      const key = eq === -1 ? line.text : line.text.slice(0, eq);
      if (!/^[A-Za-z0-9_]+$/.test(key)) throw new ProtocolError('CONF_CHANGED line is not Key[=Value]', line.text);
      const value = eq === -1 || eq === line.text.length - 1 ? null : decodeReplyValue(line.text.slice(eq + 1));
      changes.push([key, value]);
    }
  }
  return { type, raw: reply, changes };
};

/*
 * 650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"
 * 650 STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection
 *     refused" REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore HOSTID="6A1F…" HOSTADDR="192.0.2.7:443"
 * 650 STATUS_GENERAL WARN DANGEROUS_VERSION CURRENT=0.4.7.1 REASON=OBSOLETE RECOMMENDED="0.4.8.12, 0.4.9.1"
 * 650 STATUS_SERVER NOTICE EXTERNAL_ADDRESS ADDRESS=203.0.113.5 METHOD=DIRSERV
 */
function parseStatus<K extends StatusEventName>({ type, reply, rest }: RawEvent<K>): StatusEvent<K> {
  const { positional, kv } = split(type, rest);
  const [severity, action] = positional;
  if (!severity || !action) throw new ProtocolError(`${type} without a severity and an action`, reply.lines[0]!.text);
  const event: StatusEvent<K> = { type, raw: reply, severity, action, args: Object.fromEntries(kv) };
  if (severity !== 'NOTICE' && severity !== 'WARN' && severity !== 'ERR') {
    event.unrecognized = ['severity'];
    warnOnce(`${type}:severity:${severity}`, `${type} event with a severity not known here (${JSON.stringify(severity)}); delivered as sent`);
  }
  return event;
}

/*
 * 650 NOTICE Bootstrapped 100% (done): Done
 * 650 WARN Could not bind to 127.0.0.1:9050: Address already in use. Is Tor already running?
 * 650+WARN                                the multi-line form (spec §4.1.5); message is the data block
 * first line of a long message
 * second line
 * .
 * 650 OK
 */
function parseLog<K extends LogSeverity>({ type, reply, rest }: RawEvent<K>): LogEvent<K> {
  const data = reply.lines[0]!.data;
  return { type, raw: reply, severity: type, message: data ?? rest };
}

/*
 * 650 HS_DESC UPLOAD dz6k…3wid UNKNOWN $9695DFC35FFEB861329B9F1AB04C46397020CE31~moria1
 *     B2RIJCRLvW2kpTHrJIBZPMrASWMu1Dl9S9jQY/jtIg8 HSDIR_INDEX=6C7F…0A
 * 650 HS_DESC UPLOADED dz6k…3wid UNKNOWN $9695DFC35FFEB861329B9F1AB04C46397020CE31~moria1
 * 650 HS_DESC FAILED dz6k…3wid UNKNOWN $9695…CE31~moria1 REASON=UPLOAD_REJECTED
 * 650 HS_DESC REQUESTED dz6k…3wid NO_AUTH $9695…CE31~moria1 B2RI…Ig8 HSDIR_INDEX=6C7F…0A
 * 650 HS_DESC FAILED dz6k…3wid NO_AUTH UNKNOWN B2RI…Ig8 REASON=QUERY_NO_HSDIR
 * 650 HS_DESC CREATED dz6k…3wid UNKNOWN UNKNOWN B2RI…Ig8
 * 650 HS_DESC CREATED ajhb7kljbiru65qo UNKNOWN UNKNOWN b3oeducbhjmbqmgw2i3jtz4fekkrinwj REPLICA=1   (v2)
 */
const parseHsDesc: Parser<'HS_DESC'> = ({ type, reply, rest }) => {
  const { positional, kv } = split(type, rest);
  const [action, address, authType, hsDir, descriptorId] = positional;
  if (!action || !address || !authType || !hsDir) {
    throw new ProtocolError('HS_DESC needs an action, an address, an auth type and an HSDir', reply.lines[0]!.text);
  }
  return {
    type,
    raw: reply,
    action,
    address,
    authType,
    hsDir: hsDir === 'UNKNOWN' ? null : parseRelay(hsDir, reply),
    descriptorId: descriptorId || undefined,
    reason: optional(kv, 'REASON'),
    replica: integer(kv.get('REPLICA'), 0),
    hsDirIndex: optional(kv, 'HSDIR_INDEX'),
  };
};

/*
 * 650 CIRC 5 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2024-05-14T13:48:22.417238
 * 650 CIRC 5 EXTENDED $A1B2…~relay1 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2024-05-14T13:48:22.417238
 * 650 CIRC 5 BUILT $A1B2…~relay1,$C3D4…~relay2,$E5F6… BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME
 *     PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED REND_QUERY=dz6k…3wid TIME_CREATED=…
 * 650 CIRC 5 CLOSED $A1B2…~relay1,… PURPOSE=GENERAL TIME_CREATED=… REASON=DESTROYED REMOTE_REASON=OR_CONN_CLOSED
 * 650 CIRC 9 BUILT … SOCKS_USERNAME="tbb-1" SOCKS_PASSWORD="0f3c…"    (IsolateSOCKSAuth, tor >= 0.4.3)
 */
const parseCirc: Parser<'CIRC'> = ({ type, reply, rest }) => {
  const { positional, kv } = split(type, rest);
  const [id, status, path] = positional;
  const line = reply.lines[0]!.text;
  if (!id || !CIRC_ID.test(id)) throw new ProtocolError('CIRC without a valid circuit id', line);
  if (!status) throw new ProtocolError('CIRC without a status', line);
  const flags = optional(kv, 'BUILD_FLAGS');
  return {
    type,
    raw: reply,
    id,
    status,
    path: path === undefined ? [] : path.split(',').map((hop) => parseRelay(hop, reply)),
    buildFlags: flags === undefined ? [] : flags.split(','),
    purpose: optional(kv, 'PURPOSE'),
    hsState: optional(kv, 'HS_STATE'),
    rendQuery: optional(kv, 'REND_QUERY'),
    timeCreated: isoTime(kv.get('TIME_CREATED')),
    reason: optional(kv, 'REASON'),
    remoteReason: optional(kv, 'REMOTE_REASON'),
    socksUsername: optional(kv, 'SOCKS_USERNAME'),
    socksPassword: optional(kv, 'SOCKS_PASSWORD'),
  };
};

/*
 * 650 CIRC_MINOR 7 PURPOSE_CHANGED $A1B2…~relay1,$C3D4…~relay2 BUILD_FLAGS=NEED_CAPACITY PURPOSE=CONFLUX_LINKED
 *     TIME_CREATED=2024-05-14T13:48:22.417238 OLD_PURPOSE=CONFLUX_UNLINKED
 * 650 CIRC_MINOR 9 CANNIBALIZED $A1B2…,$C3D4…,$E5F6… PURPOSE=HS_CLIENT_INTRO OLD_PURPOSE=GENERAL
 */
const parseCircMinor: Parser<'CIRC_MINOR'> = (ev) => {
  const { status, ...circ } = parseCirc({ ...ev, type: 'CIRC' });
  const { kv } = split(ev.type, ev.rest);
  return { ...circ, type: ev.type, raw: ev.reply, event: status, oldPurpose: optional(kv, 'OLD_PURPOSE'), oldHsState: optional(kv, 'OLD_HS_STATE') };
};

/*
 * 650 STREAM 12 NEW 0 www.example.com:443 SOURCE_ADDR=127.0.0.1:51234 PURPOSE=USER SOCKS_USERNAME="alice"
 *     SOCKS_PASSWORD="x" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-2
 *     ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH
 * 650 STREAM 12 SUCCEEDED 5 www.example.com:443 CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-2 ISO_FIELDS=…
 * 650 STREAM 12 CLOSED 5 www.example.com:443 REASON=END REMOTE_REASON=DONE CLIENT_PROTOCOL=SOCKS5 …
 * 650 STREAM 13 REMAP 5 93.184.216.34:443 SOURCE=EXIT NYM_EPOCH=3 …
 * 650 STREAM 14 FAILED 5 example.net:80 REASON= UNKNOWN_99 NYM_EPOCH=3 …
 *     (tor's control_event_stream_status prints a reason code it has no name for as " UNKNOWN_<n>",
 *     leading space included: REASON comes out empty and the name as a stray positional word.)
 */
const parseStream: Parser<'STREAM'> = ({ type, reply, rest }) => {
  const { positional, kv } = split(type, rest);
  const [id, status, circuitId, target, ...extra] = positional;
  const line = reply.lines[0]!.text;
  if (!id || !STREAM_ID.test(id)) throw new ProtocolError('STREAM without a valid stream id', line);
  if (!status) throw new ProtocolError('STREAM without a status', line);
  if (!circuitId || !CIRC_ID.test(circuitId)) throw new ProtocolError('STREAM without a valid circuit id', line);
  const targetAddr = target === undefined ? undefined : hostPort(target);
  if (!targetAddr) throw new ProtocolError('STREAM target is not address:port', line);

  let reason = optional(kv, 'REASON');
  let remoteReason = optional(kv, 'REMOTE_REASON');
  const unnamed = extra.find((w) => /^UNKNOWN_\d+$/.test(w));
  if (unnamed !== undefined) {
    if (kv.get('REMOTE_REASON') === '') remoteReason = unnamed;
    else if (kv.get('REASON') === '') reason = unnamed;
  }
  const sourceAddr = optional(kv, 'SOURCE_ADDR');
  const iso = kv.get('ISO_FIELDS');
  return {
    type,
    raw: reply,
    id,
    status,
    circuitId,
    target: targetAddr,
    reason,
    remoteReason,
    source: optional(kv, 'SOURCE'),
    sourceAddr: sourceAddr === undefined ? undefined : hostPort(sourceAddr),
    purpose: optional(kv, 'PURPOSE'),
    socksUsername: optional(kv, 'SOCKS_USERNAME'),
    socksPassword: optional(kv, 'SOCKS_PASSWORD'),
    clientProtocol: optional(kv, 'CLIENT_PROTOCOL'),
    nymEpoch: integer(kv.get('NYM_EPOCH'), 0),
    sessionGroup: integer(kv.get('SESSION_GROUP')),
    isoFields: iso === undefined ? undefined : iso.split(',').filter((f) => f !== ''),
  };
};

/*
 * 650+NEWCONSENSUS
 * r moria1 lpXfw1/+uGEym58asExGOXAgzjE xAvqW5EKGvl+WcgKT8r7DqXbOtA 2024-05-14 12:00:00 128.31.0.39 9101 0
 * s Authority Fast Running Stable V2Dir Valid
 * w Bandwidth=20 Unmeasured=1
 * .
 * 650 OK
 * (NS has the same shape: `650+NS`, entries for relays whose status changed, `.`, `650 OK`.)
 */
function parseNetworkStatus<K extends 'NS' | 'NEWCONSENSUS'>({ type, reply }: RawEvent<K>): NetworkStatusEvent<K> {
  const document = reply.lines[0]!.data;
  if (document !== undefined) return { type, raw: reply, document };
  warnOnce(`${type}:document`, `${type} event without a data block; delivered with an empty document`);
  return { type, raw: reply, document: '', unrecognized: ['document'] };
}

/*
 * 650 SIGNAL NEWNYM
 * 650 SIGNAL RELOAD          (also sent for a SIGHUP from outside; expect CONF_CHANGED to follow)
 */
const parseSignal: Parser<'SIGNAL'> = ({ type, reply, rest }) => {
  const signal = rest.split(' ')[0];
  if (!signal) throw new ProtocolError('SIGNAL without a signal name', reply.lines[0]!.text);
  return { type, raw: reply, signal };
};

/*
 * 650 ADDRMAP www.example.com 93.184.216.34 "2024-05-14 15:48:22" EXPIRES="2024-05-14 13:48:22" CACHED="NO" STREAMID=12
 * 650 ADDRMAP nosuch.example <error> "2024-05-14 15:48:22" error=yes EXPIRES="2024-05-14 13:48:22" CACHED="NO"
 * 650 ADDRMAP 10.192.0.1 example.onion NEVER CACHED="YES"
 */
const parseAddrMap: Parser<'ADDRMAP'> = ({ type, reply, rest }) => {
  const { positional, kv } = split(type, rest);
  const [hostname, destination, expiry] = positional;
  if (!hostname || !destination) throw new ProtocolError('ADDRMAP needs an address and its mapping', reply.lines[0]!.text);
  // Mandatory: a quoted local time or NEVER. stem's malformed case `"2012-11-19 00:50:13 EXPIRES=` would
  // otherwise be taken as a time.
  if (expiry === undefined || (expiry !== 'NEVER' && !LOCAL_TIME.test(expiry))) {
    throw new ProtocolError('ADDRMAP expiry is not "YYYY-MM-DD HH:MM:SS" or NEVER', reply.lines[0]!.text);
  }
  const cached = kv.get('CACHED');
  return {
    type,
    raw: reply,
    hostname,
    destination: destination === '<error>' ? null : destination,
    expiry: expiry === 'NEVER' ? null : expiry,
    utcExpiry: isoTime(kv.get('EXPIRES')),
    error: optional(kv, 'error'),
    cached: cached === 'YES' ? true : cached === 'NO' ? false : undefined,
    streamId: optional(kv, 'STREAMID'),
  };
};

const PARSERS: { [K in EventName]: Parser<K> } = {
  CONF_CHANGED: parseConfChanged,
  STATUS_GENERAL: parseStatus,
  STATUS_CLIENT: parseStatus,
  STATUS_SERVER: parseStatus,
  DEBUG: parseLog,
  INFO: parseLog,
  NOTICE: parseLog,
  WARN: parseLog,
  ERR: parseLog,
  HS_DESC: parseHsDesc,
  CIRC: parseCirc,
  CIRC_MINOR: parseCircMinor,
  STREAM: parseStream,
  NEWCONSENSUS: parseNetworkStatus,
  NS: parseNetworkStatus,
  SIGNAL: parseSignal,
  ADDRMAP: parseAddrMap,
};

/** Every typed event name, e.g. for SETEVENTS. */
export const EVENT_NAMES: readonly EventName[] = Object.freeze(Object.keys(PARSERS) as EventName[]);

// ---------------------------------------------------------------------------------------------------------

// tor's ids are decimal counters; the spec allows 1–16 alphanumerics (stem checks the same).
const CIRC_ID = /^[A-Za-z0-9]{1,16}$/;
const STREAM_ID = CIRC_ID;
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

/**
 * Only the first line is read: extra lines are allowed by §4.1 and carry nothing we type. The tokenizer
 * decodes QuotedStrings (SUMMARY="…", SOCKS_USERNAME="…"), and throws ProtocolError on a broken one.
 */
function split(type: string, rest: string): { positional: string[]; kv: Map<string, string> } {
  try {
    return fields(rest);
  } catch (err) {
    if (err instanceof ProtocolError) throw new ProtocolError(`${type}: ${err.message}`, undefined, { cause: err });
    throw err;
  }
}

function optional(kv: Map<string, string>, key: string): string | undefined {
  const v = kv.get(key);
  return v === undefined || v === '' ? undefined : v;
}

function integer(value: string | undefined, min = -Infinity): number | undefined {
  if (value === undefined || !/^-?\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min ? n : undefined;
}

const RELAY = /^\$?([0-9A-Fa-f]{40})(?:[~=]([^\s,~=$]{1,19}))?$/;

/**
 * Paths and HSDirs come as `$FP~nick` or `$FP` since tor 0.2.2.1 (VERBOSE_NAMES on for good); the spec
 * also allows a bare fingerprint for HSDirs. Bare nicknames (older tors) are refused: they would leave
 * `fingerprint` empty.
 */
function parseRelay(text: string, reply: Reply): RelaySpec {
  const relay = relaySpec(text);
  if (!relay) throw new ProtocolError('not a relay ($FINGERPRINT[~nickname])', reply.lines[0]!.text);
  return relay;
}

/** `$FP~nick`, `$FP=nick`, `$FP` or `FP` as tor writes relays in events; undefined for anything else. */
export function relaySpec(text: string): RelaySpec | undefined {
  const m = RELAY.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { fingerprint: m[1]! } : { fingerprint: m[1]!, nickname: m[2] };
}

/** `host:port`, `[v6]:port`; the port is what follows the last colon. */
function hostPort(text: string): HostPort | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

/** TIME_CREATED=2024-05-14T13:48:22.417238 and EXPIRES="2024-05-14 13:48:22": UTC, microseconds dropped. */
function isoTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const ms = m[7] === undefined ? 0 : Math.floor(Number(m[7].padEnd(6, '0')) / 1000);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
}
