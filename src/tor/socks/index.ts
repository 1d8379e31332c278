export { torConnect, socksConnect, replyCode } from './connect.js';
export type { TorConnectOptions } from './connect.js';
export { resolve, resolvePtr } from './resolve.js';
export type { ResolveOptions } from './resolve.js';
export { connectVia, tcpSocksListener } from './via.js';
export type { ConnectViaOptions, ViaConnection } from './via.js';
export { torFetch } from './http.js';
export type { TorFetchOptions, TorResponse } from './http.js';
export {
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  formatSocksAddress,
  isolationCredentials,
  parseReply,
  parseSocksAddress,
  socks5Request,
  SOCKS5,
} from './socks5.js';
export type { Credentials, Socks5Reply, Socks5RequestOptions, SocksAddress } from './socks5.js';
export * from './errors.js';
