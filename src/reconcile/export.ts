/**
 * `tor-reconcile export`: the live configuration as a spec — the options tor reports as non-default
 * (`GETINFO config-text`) and every filesystem onion service with its authorized clients — such that
 * applying it back to the same tor plans empty. The way to adopt an existing tor.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Document } from 'yaml';
import type { TorClient } from '../tor/client.js';
import { parseServiceAuthLine } from '../tor/onion/index.js';
import { SECRET_OPTIONS } from '../tor/config/secrets.js';
import { decodeReplyValue } from '../tor/protocol/quoting.js';
import { parsePortLine, parseServiceBlock } from './hsblock.js';

export interface ExportOptions {
  /** Written into `tor.control`. */
  control: string;
}

export async function exportSpec(client: TorClient, options: ExportOptions): Promise<string> {
  const [text, block, detached] = await Promise.all([
    client.getInfo('config-text'),
    client.getConfEntries(['HiddenServiceOptions']),
    client.getInfo('onions/detached'),
  ]);
  const opts: Record<string, string | string[]> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    if (key.startsWith('HiddenService')) continue;
    if (SECRET_OPTIONS.has(key)) {
      // The exported spec refers to the secret instead of carrying it (a password hash is brute-forceable).
      opts[key] = `\${env:${secretEnvName(key)}}`;
      continue;
    }
    const value = sp < 0 ? '' : decodeReplyValue(line.slice(sp + 1));
    const prev = opts[key];
    opts[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  const used = new Set<string>();
  const services = [];
  for (const g of parseServiceBlock(block)) {
    let name = path.basename(g.directory.replace(/\/+$/, '')).replace(/[^A-Za-z0-9_-]/g, '-') || 'service';
    for (let i = 2; used.has(name); i++) name = `${name.replace(/-\d+$/, '')}-${i}`;
    used.add(name);
    const clients = await readClients(g.directory);
    services.push({
      name,
      type: 'filesystem',
      directory: g.directory,
      ports: g.ports.map(parsePortLine),
      ...(g.options.length ? { options: Object.fromEntries(g.options) } : {}),
      ...(clients.length ? { authorizedClients: clients } : {}),
    });
  }
  const spec: Record<string, unknown> = { version: 1, tor: { control: options.control }, options: opts };
  if (services.length) spec.onionServices = services;
  const doc = new Document(spec);
  const others = detached.split('\n').filter(Boolean);
  doc.commentBefore = [
    ` Exported by tor-reconcile from ${options.control} (tor ${client.version}).`,
    ' Applying this spec back to the same tor plans no change.',
    ...(others.length ? [' Detached ephemeral services (not exported: their keys are not available here):', ...others.map((a) => `   ${a}.onion`)] : []),
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** `HTTPSProxyAuthenticator` → `TOR_HTTPS_PROXY_AUTHENTICATOR`, `__HashedControlSessionPassword` → `TOR_HASHED_CONTROL_SESSION_PASSWORD`. */
function secretEnvName(option: string): string {
  const words = option.replace(/^_+/, '').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2');
  return `TOR_${words.toUpperCase()}`;
}

async function readClients(dir: string): Promise<Array<{ name: string; publicKey: string }>> {
  const authDir = path.join(dir, 'authorized_clients');
  const names = (await readdir(authDir).catch(() => [] as string[])).filter((n) => n.endsWith('.auth')).sort();
  const out = [];
  for (const n of names) {
    try {
      out.push({ name: n.slice(0, -5), publicKey: parseServiceAuthLine(await readFile(path.join(authDir, n), 'utf8')).publicKey });
    } catch {
      // Tor skips unparsable .auth files too; exporting one would make the spec invalid.
    }
  }
  return out;
}
