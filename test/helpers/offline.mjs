// The guard every tor started by a test, a benchmark or CI goes through: a tor may start only if it cannot
// reach beyond loopback from its first second. Plain JavaScript so that bench/ (plain Node) uses the same
// rule as the TypeScript tests.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?$/i;

/** The values of one option, case-insensitively, as torrc text (a list gives several lines). */
function values(options, name) {
  const out = [];
  for (const [k, v] of Object.entries(options ?? {})) {
    if (k.toLowerCase() !== name.toLowerCase()) continue;
    for (const item of Array.isArray(v) ? v : [v]) out.push(typeof item === 'boolean' ? (item ? '1' : '0') : String(item));
  }
  return out;
}

/**
 * Why a tor started with these torrc options could reach a non-loopback address; undefined when it cannot:
 * `DisableNetwork 1`, or a tor of the private network (TestingTorNetwork with only loopback authorities, so
 * it never learns of a public relay).
 */
export function networkRisk(options) {
  const disable = values(options, 'DisableNetwork');
  if (disable.length && disable[disable.length - 1] === '1') return undefined;
  const authorities = values(options, 'DirAuthority');
  const testing = values(options, 'TestingTorNetwork');
  if (testing.at(-1) === '1' && authorities.length) {
    // `name orport=… v3ident=… 127.0.0.2:7000 FINGERPRINT`: the address is the word before the fingerprint.
    const outside = authorities.filter((line) => !LOOPBACK.test(line.trim().split(/\s+/).at(-2) ?? ''));
    if (outside.length === 0) return undefined;
    return `its DirAuthority lines name non-loopback addresses: ${outside.join('; ')}`;
  }
  return 'it starts without DisableNetwork 1 and is not a private-network tor (TestingTorNetwork 1 with loopback DirAuthority lines only)';
}

/** Throws unless a tor started with these torrc options stays on loopback; returns them. */
export function assertOffline(options, what = 'a tor') {
  const risk = networkRisk(options);
  if (risk) throw new Error(`refusing to start ${what}: ${risk}`);
  return options;
}

/** Launch options (as given to launch()) checked by assertOffline; returns them unchanged. */
export function offlineLaunch(launchOptions) {
  assertOffline(launchOptions.options, `the tor in ${launchOptions.dataDirectory}`);
  return launchOptions;
}

/** torrc options with `DisableNetwork 1` and no SOCKS listener, then the given ones, checked. */
export function offlineOptions(extra = {}) {
  return assertOffline({ DisableNetwork: 1, SocksPort: 0, ...extra });
}

/** Command-line torrc options (`--Key value` …, as in `tor -f torrc --Key value`) checked by assertOffline. */
export function assertOfflineArgs(args, what = 'a tor') {
  const options = {};
  for (let i = 0; i < args.length; i++) {
    const m = /^--([A-Za-z_]\w*)$/.exec(args[i]);
    if (!m || i + 1 >= args.length) continue;
    (options[m[1]] ??= []).push(args[++i]);
  }
  assertOffline(options, what);
  return args;
}

/** A spec file whose tor.launch starts an embedded tor: its tor.launch.options must keep it offline. */
export function assertOfflineSpec(file) {
  const spec = parse(readFileSync(file, 'utf8'));
  if (spec?.tor?.launch) assertOffline(spec.tor.launch.options, `the embedded tor of ${file}`);
  return file;
}
