/**
 * Options whose values are secrets by nature, by tor's canonical name: a password hash can be brute-forced
 * offline, and the proxy credentials and bridge password are the secrets themselves. Their values are never
 * shown (plans, exports, logs), whether or not the spec wrote them through an `${env:}`/`${file:}` reference.
 */
export const SECRET_OPTIONS: ReadonlySet<string> = new Set([
  'HashedControlPassword',
  '__HashedControlSessionPassword',
  'Socks5ProxyPassword',
  'HTTPSProxyAuthenticator',
  'HTTPProxyAuthenticator',
  'BridgePassword',
]);
