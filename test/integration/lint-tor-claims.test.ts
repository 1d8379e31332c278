/**
 * Lint rules checked against the real tor. Those that say "tor refuses to start" (TR011, TR012): the torrc
 * their triggering spec describes fails `tor --verify-config`, the clean one passes; those that quote a tor
 * warning (TR010, TR003): tor prints it exactly for the triggering spec. Every torrc has
 * DisableNetwork 1; --verify-config only parses and validates, it opens no connection.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeFindings, lintState } from '../../src/lint/index.js';
import { loadSpecSources } from '../../src/spec/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lint-claims-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The spec's options and one filesystem service, as torrc lines; whether tor accepts them. */
async function torAccepts(options: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const hs = path.join(dir, `hs-${Object.keys(options).join('-')}-${Object.values(options).join('-')}`.replace(/[^\w-]/g, '_'));
  const torrc = [
    'DisableNetwork 1',
    `DataDirectory ${path.join(dir, 'data')}`,
    ...Object.entries(options).map(([k, v]) => `${k} ${v}`),
    `HiddenServiceDir ${hs}`,
    'HiddenServicePort 80 127.0.0.1:8080',
  ].join('\n');
  const file = path.join(dir, 'torrc');
  await writeFile(file, `${torrc}\n`);
  const r = spawnSync('tor', ['--verify-config', '-f', file, '--defaults-torrc', '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

async function findings(options: Record<string, string>): Promise<string[]> {
  const yaml = `version: 1\noptions:\n${Object.entries(options).map(([k, v]) => `  ${k}: "${v}"`).join('\n')}\nonionServices:\n  - { name: web, type: filesystem, directory: ${dir}/hs, ports: [{ port: 80, target: 127.0.0.1:8080 }] }\n`;
  const files = [{ name: 'spec.yaml', text: yaml }];
  const { state } = await loadSpecSources(files, { env: {}, skipSecrets: true });
  return activeFindings(lintState(state, files)).map((f) => f.ruleId);
}

describe('lint rules that predict tor refusing a configuration', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['TR011', { HiddenServiceNonAnonymousMode: '1', SocksPort: '0' }, false],
    ['TR011', { HiddenServiceSingleHopMode: '1', SocksPort: '0' }, false],
    ['TR012', { HiddenServiceNonAnonymousMode: '1', HiddenServiceSingleHopMode: '1', SocksPort: '9050' }, false],
    ['TR012', { HiddenServiceNonAnonymousMode: '1', HiddenServiceSingleHopMode: '1' }, false],
    ['TR012', { HiddenServiceNonAnonymousMode: '1', HiddenServiceSingleHopMode: '1', SocksPort: '0' }, true],
  ];
  it.each(cases)('%s %o: tor accepts it: %s, and lint reports it exactly when tor refuses', async (id, options, accepted) => {
    const tor = await torAccepts(options);
    expect(tor.ok, tor.output).toBe(accepted);
    // Refused for the reason the rule gives, not for another.
    if (!accepted) expect(tor.output).toMatch(id === 'TR011' ? /must be used with Hidden\w+ set to 1/ : /incompatible with using Tor as an anonymous client/);
    expect((await findings(options)).includes(id)).toBe(!accepted);
  }, 90_000);
});

describe('lint rules that quote a warning of tor', () => {
  const cases: Array<[string, Record<string, string>, RegExp, boolean]> = [
    ['TR010', { ORPort: '127.0.0.1:9999', AssumeReachable: '1', SocksPort: '0' }, /configured as a relay and a hidden service/, true],
    ['TR010', { SocksPort: '0' }, /configured as a relay and a hidden service/, false],
    ['TR003', { ControlPort: '0.0.0.0:9998', CookieAuthentication: '1', SocksPort: '0' }, /ControlPort set to accept connections from a non-local address/, true],
    ['TR003', { ControlPort: '127.0.0.1:9998', CookieAuthentication: '1', SocksPort: '0' }, /ControlPort set to accept connections from a non-local address/, false],
  ];
  it.each(cases)('%s %o: tor warns (%s) exactly when lint reports it', async (id, options, warning, warns) => {
    const tor = await torAccepts(options);
    expect(warning.test(tor.output), tor.output).toBe(warns);
    expect((await findings(options)).includes(id)).toBe(warns);
  }, 90_000);
});
