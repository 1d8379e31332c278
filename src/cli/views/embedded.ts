/** The note `apply` ends with when it used the embedded tor: what keeps running, and how to end it. */
import type { EmbeddedTor } from '../../reconcile/embedded.js';

export function renderEmbedded(tor: EmbeddedTor, specs: readonly string[]): string {
  const stop = ['tor-reconcile stop', ...specs.map(shellWord)].join(' ');
  return [
    `the embedded tor ${tor.started ? 'started by this apply' : 'from an earlier apply'} keeps running: pid ${tor.pid}`,
    `  data directory  ${tor.dataDirectory}`,
    `  control         ${tor.control}`,
    `  network         ${tor.network ? 'connected to the public Tor network' : 'off (DisableNetwork 1): no connection beyond this machine'}`,
    `  stop it with    ${stop}`,
    '',
  ].join('\n');
}

function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
