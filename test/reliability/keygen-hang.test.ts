/**
 * Key generation never hangs (issue #16). On Node 20.20, generating an ed25519 pair and then exporting it as
 * JWK deadlocked intermittently (3 of 6 loops of 5,000 on this machine before the fix), so this runs the
 * product's generators from the build in child processes, many times, each killed when it stops making progress: a
 * hang is reported as one, never a stuck vitest. Children, not workers: the deadlock is in the process's
 * main thread, and a worker's `terminate()` cannot interrupt native code.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertFreshBuild, figures, ROOT } from './helpers.js';

const RUNS = 6;
const KEYS_PER_RUN = 5_000;
const PROGRESS_EVERY = 250;
/**
 * A hang is no progress: 250 iterations take ~50 ms on a quiet machine and a few seconds on a loaded one,
 * while a deadlocked process never reports again. (A bound on the whole loop cannot tell a loaded machine
 * from a hang.)
 */
const STALL_MS = 30_000;

const ONION = pathToFileURL(path.join(ROOT, 'dist/tor/onion/index.js')).href;
// Every result is used, as apply uses it: the address is derived from the generated key. The two other
// JWK exports in src/ (a public key from an imported seed or x25519 private key, which never hung) run
// every tenth iteration of the same loop.
const SCRIPT = `
const { randomBytes } = await import('node:crypto');
const { OnionServiceKey, generateServiceKey, generateClientAuthKeyPair, clientAuthPublicFromPrivate } = await import(${JSON.stringify(ONION)});
const n = Number(process.argv[1]);
const addresses = new Set();
let clients = 0;
let imported = 0;
for (let i = 0; i < n; i++) {
  addresses.add(generateServiceKey().address);
  const pair = generateClientAuthKeyPair();
  clients += pair.publicKey.length === 52 ? 1 : 0;
  if (i % 10 === 0) {
    imported += clientAuthPublicFromPrivate(pair.privateKey) === pair.publicKey ? 1 : 0;
    imported += OnionServiceKey.fromSeed(randomBytes(32)).address.length === 56 ? 1 : 0;
  }
  if ((i + 1) % ${PROGRESS_EVERY} === 0) process.stderr.write('.');
}
process.stdout.write(JSON.stringify({ addresses: addresses.size, clients, imported }));
`;

interface RunResult {
  hung: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function generateInChild(n: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const stalled = () => {
      hung = true;
      child.kill('SIGKILL');
    };
    let timer = setTimeout(stalled, STALL_MS);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      clearTimeout(timer);
      timer = setTimeout(stalled, STALL_MS);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ hung, code, stdout, stderr, ms: performance.now() - start });
    });
  });
}

beforeAll(() => assertFreshBuild());

describe('key generation never hangs', () => {
  it(`${RUNS} processes each generate ${KEYS_PER_RUN} onion service keys and client-auth pairs, never stalling for ${STALL_MS / 1000} s`, async () => {
    const results: RunResult[] = [];
    // Two at a time: the machine has two cores.
    for (let i = 0; i < RUNS; i += 2) results.push(...(await Promise.all([generateInChild(KEYS_PER_RUN), generateInChild(KEYS_PER_RUN)])));
    const hung = results.filter((r) => r.hung).length;
    figures('keygen hang', { runs: results.length, keysPerRun: KEYS_PER_RUN, hung, slowestMs: Math.round(Math.max(...results.map((r) => r.ms))) });
    expect(hung, `${hung} of ${results.length} key-generation loops hung (no progress for ${STALL_MS / 1000} s) and were killed`).toBe(0);
    for (const r of results) {
      expect(r.code, r.stderr.replace(/^\.+/, '')).toBe(0);
      // Distinct keys: the loop really generated, and used, every one.
      expect(JSON.parse(r.stdout)).toEqual({ addresses: KEYS_PER_RUN, clients: KEYS_PER_RUN, imported: (KEYS_PER_RUN / 10) * 2 });
    }
  }, 900_000);
});
