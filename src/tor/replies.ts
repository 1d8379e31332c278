/**
 * One parser per reply type. Each takes a successful Reply (the caller has already turned non-2xx
 * into a ReplyError) and returns plain typed data; anything unexpected is a ProtocolError naming the line.
 */
import { ProtocolError } from './errors.js';
import { decodeReplyValue, fields, tokenize } from './protocol/quoting.js';
import { formatReply, type Reply } from './protocol/reply.js';
import { Secret } from './secret.js';
import { warnOnce } from './warn.js';

export interface ProtocolInfo {
  protocolVersion: number;
  /** Empty when tor sent no AUTH line (see `unrecognized`). */
  authMethods: string[];
  /** The cookie path for messages; its latin-1 reading when tor's path is not UTF-8. */
  cookieFile?: string;
  /** Only when the cookie path is not UTF-8: its bytes as tor wrote them, which is what opens the file. */
  cookieFileBytes?: Buffer;
  torVersion: string;
  /** Parts tor left out or sent in a form not known here (`'AUTH'`); the rest of the reply is still used. */
  unrecognized?: string[];
}

/**
 * ```
 * 250-PROTOCOLINFO 1
 * 250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/run/tor/control.authcookie"
 * 250-VERSION Tor="0.4.9.11"
 * 250 OK
 * ```
 * A reply without an AUTH line (stem's minimal PROTOCOLINFO test case) is kept with no methods: authenticate
 * then says that tor named none, rather than failing to parse.
 */
export function parseProtocolInfo(reply: Reply): ProtocolInfo {
  const info: ProtocolInfo = { protocolVersion: 0, authMethods: [], torVersion: '' };
  for (const line of reply.lines) {
    const space = line.text.indexOf(' ');
    const word = space < 0 ? line.text : line.text.slice(0, space);
    const rest = space < 0 ? '' : line.text.slice(space + 1);
    if (word === 'PROTOCOLINFO') info.protocolVersion = Number(rest.trim());
    else if (word === 'AUTH') {
      for (const t of tokenize(rest)) {
        if (t.key === 'METHODS') info.authMethods = t.value.split(',').filter(Boolean);
        else if (t.key === 'COOKIEFILE') {
          info.cookieFile = t.value;
          if (t.bytes) info.cookieFileBytes = t.bytes;
          else delete info.cookieFileBytes;
        }
      }
    } else if (word === 'VERSION') info.torVersion = fields(rest).kv.get('Tor') ?? '';
  }
  if (!info.authMethods.length) {
    info.unrecognized = ['AUTH'];
    warnOnce('PROTOCOLINFO:AUTH', `tor's PROTOCOLINFO reply names no authentication methods: ${JSON.stringify(formatReply(reply))}`);
  }
  return info;
}

export interface AuthChallenge {
  serverHash: Buffer;
  serverNonce: Buffer;
}

/** `250 AUTHCHALLENGE SERVERHASH=<64 hex> SERVERNONCE=<64 hex>` */
export function parseAuthChallenge(reply: Reply): AuthChallenge {
  const text = reply.lines[reply.lines.length - 1]!.text;
  const { positional, kv } = fields(text);
  const hash = kv.get('SERVERHASH');
  const nonce = kv.get('SERVERNONCE');
  if (positional[0] !== 'AUTHCHALLENGE' || !hash || !nonce || !/^[0-9A-Fa-f]{64}$/.test(hash) || !/^[0-9A-Fa-f]{64}$/.test(nonce)) {
    throw new ProtocolError('malformed AUTHCHALLENGE reply', text);
  }
  return { serverHash: Buffer.from(hash, 'hex'), serverNonce: Buffer.from(nonce, 'hex') };
}

/**
 * Values keyed as asked; multi-line values arrive as data blocks.
 * ```
 * 250-version=0.4.9.11
 * 250+config-text=
 * ControlPort auto
 * .
 * 250 OK
 * ```
 * GETINFO values are raw to the end of the line (tor does not quote them). A `+` line carries nothing after
 * its `=` (stem refuses the same).
 */
export function parseGetInfo(reply: Reply): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.lines) {
    if (line.sep === ' ' && line.text === 'OK') continue;
    const eq = line.text.indexOf('=');
    if (eq < 0) throw new ProtocolError('GETINFO reply line without "="', line.text);
    const key = line.text.slice(0, eq);
    if (line.data !== undefined && eq !== line.text.length - 1) {
      // `250+key=text` then a block: tor never sends it, and keeping either part alone would lose the other.
      throw new ProtocolError('GETINFO data line with text after "="', line.text);
    }
    out.set(key, line.data ?? line.text.slice(eq + 1));
  }
  return out;
}

export type ConfEntry = readonly [key: string, value: string | null];

/**
 * One entry per configured line, in tor's order; keys in tor's canonical case. An unset option comes
 * back bare (`250 ExitNodes`) or empty (`250 ExitNodes=`): both are null here. Tor quotes a value only when
 * it must (non-printable, non-ASCII, or starting with `"`/`#`).
 * ```
 * 250-SocksPort=127.0.0.1:9050 IsolateDestAddr
 * 250-SocksPort=unix:/run/tor/socks
 * 250 ExitNodes
 * ```
 */
export function parseGetConf(reply: Reply): ConfEntry[] {
  const out: ConfEntry[] = [];
  for (const line of reply.lines) {
    const eq = line.text.indexOf('=');
    if (eq < 0) out.push([line.text, null]);
    else {
      const value = line.text.slice(eq + 1);
      out.push([line.text.slice(0, eq), value === '' ? null : decodeReplyValue(value)]);
    }
  }
  return out;
}

export interface AddOnionResult {
  serviceId: string;
  /** Present when tor generated the key and DiscardPK was not given. */
  privateKey?: Secret<string>;
}

/**
 * ```
 * 250-ServiceID=<56 base32 characters>
 * 250-PrivateKey=ED25519-V3:<base64 of 64 bytes>
 * 250 OK
 * ```
 */
export function parseAddOnion(reply: Reply): AddOnionResult {
  let serviceId: string | undefined;
  let privateKey: Secret<string> | undefined;
  for (const line of reply.lines) {
    if (line.text.startsWith('ServiceID=')) serviceId = line.text.slice('ServiceID='.length);
    else if (line.text.startsWith('PrivateKey=')) privateKey = new Secret(line.text.slice('PrivateKey='.length));
  }
  if (!serviceId) throw new ProtocolError('ADD_ONION reply without ServiceID', formatReply(reply).replace(/PrivateKey=\S+/, 'PrivateKey=<redacted>'));
  return privateKey ? { serviceId, privateKey } : { serviceId };
}

export interface ClientAuthEntry {
  address: string;
  keyType: string;
  privateKey: Secret<string>;
  clientName?: string;
  flags: string[];
}

/**
 * ```
 * 250-ONION_CLIENT_AUTH_VIEW
 * 250-CLIENT 6yxtsbpn2k7exxiarcbiet3fsr4komissliojxjlvl7iytacrnvz2uyd x25519:<base64> ClientName=alice Flags=Permanent
 * 250 OK
 * ```
 */
export function parseOnionClientAuthView(reply: Reply): ClientAuthEntry[] {
  const out: ClientAuthEntry[] = [];
  for (const line of reply.lines) {
    if (!line.text.startsWith('CLIENT ')) continue;
    const { positional, kv } = fields(line.text);
    const [, address, key] = positional;
    const colon = key?.indexOf(':') ?? -1;
    if (!address || !key || colon < 0) throw new ProtocolError('malformed CLIENT line in ONION_CLIENT_AUTH_VIEW', `CLIENT ${address ?? ''} <redacted>`);
    const entry: ClientAuthEntry = {
      address,
      keyType: key.slice(0, colon),
      privateKey: new Secret(key.slice(colon + 1)),
      flags: (kv.get('Flags') ?? '').split(',').filter(Boolean),
    };
    const name = kv.get('ClientName');
    if (name !== undefined) entry.clientName = name;
    out.push(entry);
  }
  return out;
}

