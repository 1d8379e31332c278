// The disk's floor for persisting the keys of n services durably the cheapest way (issue #16, goal 3): one
// file (0600) holding them all, as the key store writes it — written, fsynced, renamed into place, its
// directory fsynced. bench/run.mjs and bench/keys.mjs both measure it beside what tor-reconcile takes.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Milliseconds for one durable write of n keys (or of the given key blobs) in a new directory under `tmp`. */
export function diskFloor(tmp, keys) {
  const blobs = typeof keys === 'number' ? Array.from({ length: keys }, () => `ED25519-V3:${'A'.repeat(86)}==`) : keys;
  const dir = path.join(tmp, `disk-floor-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { mode: 0o700 });
  const t = performance.now();
  const fd = openSync(path.join(dir, '.keystore.json.tmp'), 'wx', 0o600);
  writeSync(fd, JSON.stringify({ format_version: 1, keys: Object.fromEntries(blobs.map((b, i) => [`e${i}.key`, b])) }));
  fsyncSync(fd);
  closeSync(fd);
  renameSync(path.join(dir, '.keystore.json.tmp'), path.join(dir, 'keystore.json'));
  const dfd = openSync(dir, 'r');
  fsyncSync(dfd);
  closeSync(dfd);
  const ms = performance.now() - t;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}
