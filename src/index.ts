/**
 * tor-reconcile as a library: a typed client for Tor's control protocol.
 *
 * ```ts
 * import { connect, launch } from 'tor-reconcile';
 * const tor = await connect({ control: 'unix:/run/tor/control' });
 * console.log(await tor.getInfo('version'));
 * ```
 */
export { connect, TorClient, addOnionCommand, delOnionCommand, clientAuthAddCommand, clientAuthRemoveCommand } from './tor/client.js';
export type { ConnectOptions, ConfInput, Keys, Signal, OnionPort, AddOnionOptions, ClientAuthAddOptions } from './tor/client.js';
export { launch, LaunchedTor, stopTor } from './tor/launch.js';
export type { LaunchOptions, BootstrapStatus } from './tor/launch.js';
export { authenticate } from './tor/auth.js';
export type { AuthMethod, AuthOptions } from './tor/auth.js';
export { ControlConnection } from './tor/connection.js';
export type { ConnectionOptions, SendOptions } from './tor/connection.js';
export { parseControlAddress, formatControlAddress } from './tor/address.js';
export type { ControlAddress } from './tor/address.js';
export * from './tor/errors.js';
export { UNRECOGNIZED_WARNING } from './tor/warn.js';
export { Secret, isSecret } from './tor/secret.js';
export { buildCommand, buildDataCommand, commands } from './tor/protocol/encoder.js';
export type { Command, ConfValue } from './tor/protocol/encoder.js';
export { ReplyReader } from './tor/protocol/reader.js';
export type { ReaderLimits } from './tor/protocol/reader.js';
export type { Reply, ReplyLine } from './tor/protocol/reply.js';
export { quoteString, unquoteString, tokenize } from './tor/protocol/quoting.js';
export * from './tor/replies.js';
export * from './tor/events.js';
export * from './tor/onion/index.js';
export { OptionTable } from './tor/config/types.js';
export type { OptionInfo, OptionType } from './tor/config/types.js';
export { toTor, canonical, sameValue, ValueError } from './tor/config/normalize.js';
export { IMMUTABLE_OPTIONS } from './tor/config/immutable.js';
export * from './tor/state/index.js';
export { torConnect, socksConnect, resolve as torResolve, resolvePtr as torResolvePtr, connectVia, torFetch } from './tor/socks/index.js';
export * from './tor/socks/errors.js';
export { StreamAttacher } from './tor/attacher.js';
export type { AttachDecision, AttachHandler, AttacherOptions } from './tor/attacher.js';
