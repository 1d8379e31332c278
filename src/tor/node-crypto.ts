/**
 * node:crypto, loaded on first use. Loading it costs ~2.5 ms of a command's start (issue #16), and checking a
 * spec (`validate`) needs it only for what a spec may hold but seldom does: an onion address to check, a
 * client-authorization key to derive. Modules that such checks use get it from here; modules used only to
 * handle keys import it as usual.
 */
let loaded: typeof import('node:crypto') | undefined;

export function nodeCrypto(): typeof import('node:crypto') {
  return (loaded ??= process.getBuiltinModule('node:crypto'));
}
