/**
 * SOCKS failures, typed by who failed:
 * - SocksConnectionError: the SOCKS port could not be reached, closed mid-handshake, or timed out.
 * - SocksProtocolError: what answered does not speak SOCKS5 the way tor does.
 * - SocksReplyError: tor answered the request with a non-zero reply code; one subclass per code.
 *
 * Reply codes 0x01–0x08 are RFC 1928's; tor picks them from the RELAY_END reason of the failed stream
 * (tor: stream_end_reason_to_socks5_response). 0xF0–0xF7 are tor's onion-service codes (proposal 304), sent
 * only to a SocksPort with the `ExtendedErrors` flag; without it the same failures arrive as 0x01 or 0x04.
 */
import { TorError } from '../errors.js';

export class SocksError extends TorError {
  override name = 'SocksError';
}

export class SocksConnectionError extends SocksError {
  override name = 'SocksConnectionError';
}

export class SocksTimeoutError extends SocksConnectionError {
  override name = 'SocksTimeoutError';
}

export class SocksProtocolError extends SocksError {
  override name = 'SocksProtocolError';
}

export class SocksReplyError extends SocksError {
  override name = 'SocksReplyError';
  constructor(
    /** The SOCKS5 REP byte. */
    readonly code: number,
    /** What was asked for, e.g. `example.com:80` or `RESOLVE example.com`. */
    readonly target: string,
    message?: string,
  ) {
    super(`${target}: ${message ?? describeSocksReply(code)} (SOCKS5 reply 0x${hex(code)})`);
  }
}

export class GeneralFailureError extends SocksReplyError {
  override name = 'GeneralFailureError';
}
export class NotAllowedError extends SocksReplyError {
  override name = 'NotAllowedError';
}
export class NetworkUnreachableError extends SocksReplyError {
  override name = 'NetworkUnreachableError';
}
export class HostUnreachableError extends SocksReplyError {
  override name = 'HostUnreachableError';
}
export class ConnectionRefusedError extends SocksReplyError {
  override name = 'ConnectionRefusedError';
}
export class TtlExpiredError extends SocksReplyError {
  override name = 'TtlExpiredError';
}
export class CommandNotSupportedError extends SocksReplyError {
  override name = 'CommandNotSupportedError';
}
export class AddressTypeNotSupportedError extends SocksReplyError {
  override name = 'AddressTypeNotSupportedError';
}

/** Tor's extended codes 0xF0–0xF7: the onion service could not be reached, and why. */
export class OnionServiceError extends SocksReplyError {
  override name = 'OnionServiceError';
}
export class OnionDescriptorNotFoundError extends OnionServiceError {
  override name = 'OnionDescriptorNotFoundError';
}
export class OnionDescriptorInvalidError extends OnionServiceError {
  override name = 'OnionDescriptorInvalidError';
}
export class OnionIntroFailedError extends OnionServiceError {
  override name = 'OnionIntroFailedError';
}
export class OnionRendezvousFailedError extends OnionServiceError {
  override name = 'OnionRendezvousFailedError';
}
export class OnionMissingClientAuthError extends OnionServiceError {
  override name = 'OnionMissingClientAuthError';
}
export class OnionBadClientAuthError extends OnionServiceError {
  override name = 'OnionBadClientAuthError';
}
export class OnionBadAddressError extends OnionServiceError {
  override name = 'OnionBadAddressError';
}
export class OnionIntroTimeoutError extends OnionServiceError {
  override name = 'OnionIntroTimeoutError';
}

type ReplyErrorClass = new (code: number, target: string, message?: string) => SocksReplyError;

interface ReplyInfo {
  /** Short name, stable for JSON output and CLI reports. */
  name: string;
  message: string;
  cls: ReplyErrorClass;
}

/** What each reply code means when tor sends it. */
export const SOCKS5_REPLIES: ReadonlyMap<number, Readonly<ReplyInfo>> = new Map<number, ReplyInfo>([
  [0x01, { name: 'general-failure', message: 'general SOCKS server failure (tor: circuit destroyed, internal or protocol error, private address refused, or no circuit could be attached)', cls: GeneralFailureError }],
  [0x02, { name: 'not-allowed', message: "connection not allowed: the exit's policy (or tor's own) rejects this address and port", cls: NotAllowedError }],
  [0x03, { name: 'network-unreachable', message: 'network unreachable from the exit', cls: NetworkUnreachableError }],
  [0x04, { name: 'host-unreachable', message: 'host unreachable: the exit could not resolve the name or has no route to it', cls: HostUnreachableError }],
  [0x05, { name: 'connection-refused', message: 'connection refused by the destination (or reset before it was established)', cls: ConnectionRefusedError }],
  [0x06, { name: 'ttl-expired', message: 'TTL expired: tor gave up waiting for the destination to answer', cls: TtlExpiredError }],
  [0x07, { name: 'command-not-supported', message: 'command not supported by this SOCKS server', cls: CommandNotSupportedError }],
  [0x08, { name: 'address-type-not-supported', message: 'address type not supported (an IPv6 target needs IPv6Traffic on the SocksPort)', cls: AddressTypeNotSupportedError }],
  [0xf0, { name: 'onion-descriptor-not-found', message: "onion service descriptor not found: no HSDir has it (wrong address, service offline, or descriptor not yet published)", cls: OnionDescriptorNotFoundError }],
  [0xf1, { name: 'onion-descriptor-invalid', message: 'onion service descriptor is invalid: it could not be parsed or its signature did not verify', cls: OnionDescriptorInvalidError }],
  [0xf2, { name: 'onion-intro-failed', message: 'onion service introduction failed: every introduction point refused or timed out', cls: OnionIntroFailedError }],
  [0xf3, { name: 'onion-rendezvous-failed', message: 'onion service rendezvous failed: every rendezvous circuit timed out', cls: OnionRendezvousFailedError }],
  [0xf4, { name: 'onion-missing-client-auth', message: 'onion service requires client authorization: the descriptor was found but this tor has no key to decrypt it (ONION_CLIENT_AUTH_ADD)', cls: OnionMissingClientAuthError }],
  [0xf5, { name: 'onion-bad-client-auth', message: "onion service rejected this tor's client authorization key: the descriptor could not be decrypted with it (access revoked or wrong key)", cls: OnionBadClientAuthError }],
  [0xf6, { name: 'onion-bad-address', message: 'invalid onion address: bad checksum, invalid ed25519 key, or bad encoding', cls: OnionBadAddressError }],
  [0xf7, { name: 'onion-intro-timeout', message: 'onion service introduction timed out at every introduction point', cls: OnionIntroTimeoutError }],
]);

export function describeSocksReply(code: number): string {
  return SOCKS5_REPLIES.get(code)?.message ?? 'unknown SOCKS5 reply code';
}

/** The typed error for a non-zero SOCKS5 reply code. */
export function socksReplyError(code: number, target: string): SocksReplyError {
  const info = SOCKS5_REPLIES.get(code);
  return info ? new info.cls(code, target) : new SocksReplyError(code, target);
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0');
}
