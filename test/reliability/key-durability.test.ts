/**
 * A generated key is on disk, fsynced, before tor hears of it (issue #16), and an apply that generates many
 * keys makes one durable write for them: the key store's temporary file fsynced, renamed over the store,
 * the directory fsynced — all before the first ADD_ONION leaves the process. Observed with strace on a real
 * apply against a real tor: the order of system calls is the claim, and nothing in the product reports it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatControlAddress } from '../../src/tor/address.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';
import { assertFreshBuild, CLI, figures } from './helpers.js';

const SERVICES = 20;

let tor: TestTor;
let dir: string;
beforeAll(async () => {
  assertFreshBuild();
  tor = await startTestTor();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tr-durable-'));
});
afterAll(async () => {
  await tor?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Call {
  /** Position in the trace of the call's return. */
  at: number;
  text: string;
}

/** strace -f output → completed calls, an `<unfinished ...>` call joined with its `<... resumed>` line. */
function parseTrace(trace: string): Call[] {
  const pending = new Map<string, string>();
  const calls: Call[] = [];
  trace.split('\n').forEach((line, at) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m as unknown as [string, string, string];
    if (rest.endsWith('<unfinished ...>')) pending.set(pid, rest.slice(0, -'<unfinished ...>'.length).trimEnd());
    else if (rest.startsWith('<... ')) {
      calls.push({ at, text: (pending.get(pid) ?? '') + rest.replace(/^<\.\.\. \w+ resumed>/, '') });
      pending.delete(pid);
    } else calls.push({ at, text: rest });
  });
  return calls;
}

function strace(args: string[], out: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const traced = ['fsync', 'fdatasync', 'rename', 'renameat', 'renameat2', 'write', 'writev', 'sendmsg', 'sendto'].join(',');
    const child = spawn('strace', ['-f', '-y', '-qq', '-s', '256', '-e', `trace=${traced}`, '-e', 'signal=none', '-o', out, process.execPath, CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1', TOR_RECONCILE_FAULT: undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('generated keys are durable before tor hears of them', () => {
  it(`apply of ${SERVICES} new ephemeral services: one store write, fsynced with its directory, before the first ADD_ONION`, async () => {
    const spec = path.join(dir, 'spec.yaml');
    const services = Array.from({ length: SERVICES }, (_, i) => `  - { name: s${i}, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: 127.0.0.1:9000 }] }`);
    await writeFile(spec, ['version: 1', 'onionServices:', ...services, ''].join('\n'));
    const out = path.join(dir, 'strace.txt');
    const r = await strace(['apply', spec, '--control', formatControlAddress(tor.controlAddress)], out);
    expect(r.code, r.stderr).toBe(0);
    const calls = parseTrace(await readFile(out, 'utf8'));
    await rm(out);
    const keys = path.join(dir, '.tor-reconcile/keys');
    const tmp = `${keys}/.keystore.json.`;
    const fsyncTemp = calls.filter((c) => c.text.startsWith(`fsync(`) && c.text.includes(`<${tmp}`) && / = 0$/.test(c.text));
    const renames = calls.filter((c) => /^rename/.test(c.text) && c.text.includes(`"${keys}/keystore.json"`) && / = 0$/.test(c.text));
    const fsyncDir = calls.filter((c) => c.text.startsWith('fsync(') && c.text.includes(`<${keys}>`) && / = 0$/.test(c.text));
    const addOnion = calls.filter((c) => /^(write|writev|sendmsg|sendto)\(\d+<socket:/.test(c.text) && c.text.includes('ADD_ONION'));
    figures('key durability', { services: SERVICES, storeFsyncs: fsyncTemp.length, storeRenames: renames.length, keyDirFsyncs: fsyncDir.length, addOnionWrites: addOnion.length });
    // One durable write for all the keys of the apply.
    expect(renames).toHaveLength(1);
    expect(fsyncTemp).toHaveLength(1);
    expect(addOnion.length).toBeGreaterThan(0);
    const rename = renames[0]!.at;
    expect(rename, 'the temporary store is written and fsynced before it is renamed into place').toBeGreaterThan(fsyncTemp[0]!.at);
    const dirSynced = fsyncDir.find((c) => c.at > rename);
    expect(dirSynced, 'the key directory is fsynced after the rename').toBeDefined();
    expect(addOnion[0]!.at, 'no ADD_ONION is sent before the store and its directory are durable').toBeGreaterThan(dirSynced!.at);
    // And what tor got is what the store holds.
    const store = JSON.parse(await readFile(path.join(keys, 'keystore.json'), 'utf8')) as { keys: Record<string, string> };
    expect(Object.keys(store.keys)).toHaveLength(SERVICES);
  }, 120_000);
});
