/**
 * Every lint rule against a spec that triggers it and one that does not (real loader, real rules), then
 * the parts around the rules: placing findings in merged files, suppressions, the client estimate.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { activeFindings, allRuleDocs, lintState, rules, type LintResult } from '../../src/lint/index.js';
import { maxAuthorizedClients } from '../../src/lint/rules/onion.js';
import { loadSpecSources } from '../../src/spec/index.js';
import { lintFiles } from '../../src/lint/lint.js';

async function lint(...texts: string[]): Promise<LintResult> {
  const files = texts.map((text, i) => ({ name: `spec${i}.yaml`, text }));
  const { state } = await loadSpecSources(files, { env: {}, skipSecrets: true });
  return lintState(state, files);
}

const ids = (r: LintResult) => activeFindings(r).map((f) => f.ruleId);

const KEY_A = 'oz5wp5k4k5jp64uvcatjuthossduz5xirdqmv57e4vmj36iasq2q';
const KEY_B = 'j7sm2mdu6uftpbaezelwuq42uzztww7cskycepwum2pasphygbdq';

/** A filesystem service; `extra` is YAML inside the service's mapping (6 spaces). */
function fsService(target = '127.0.0.1:8080', extra = '      options: { HiddenServiceMaxStreams: 10, HiddenServicePoWDefensesEnabled: true }\n'): string {
  return `onionServices:\n  - name: web\n    type: filesystem\n    directory: /var/lib/tor/hs/web\n    ports:\n      - { port: 80, target: "${target}" }\n${extra.replace(/^ {6}/gm, '    ')}`;
}
const SERVICE = fsService();

function base32(bytes: Uint8Array): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += abc[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return bits ? out + abc[(value << (5 - bits)) & 31] : out;
}
function clients(n: number): string {
  const lines = Array.from({ length: n }, (_, i) => `      - { name: c${i}, publicKey: ${base32(new Uint8Array(32).fill(0).map((_, j) => (j < 4 ? (i >> (8 * j)) & 255 : 7)))} }`);
  return `    authorizedClients:\n${lines.join('\n')}\n`;
}
const attach = (...policies: string[]) => `attach:\n  policies:\n${policies.map((p) => `    - ${p}`).join('\n')}\n`;

/** rule → [a spec it reports, a spec it does not]. */
const cases: Record<string, [trigger: string, clean: string]> = {
  TR001: ['version: 1\noptions:\n  SocksPort: 0.0.0.0:9050\n', 'version: 1\noptions:\n  SocksPort: 0.0.0.0:9050\n  SocksPolicy: ["accept 192.168.1.0/24", "reject *"]\n'],
  TR002: ['version: 1\noptions:\n  ControlPort: 9051\n', 'version: 1\noptions:\n  ControlPort: 9051\n  CookieAuthentication: true\n'],
  TR003: ['version: 1\noptions:\n  ControlPort: 0.0.0.0:9051\n  CookieAuthentication: true\n', 'version: 1\noptions:\n  ControlPort: 127.0.0.1:9051\n  CookieAuthentication: true\n'],
  TR004: [`version: 1\n${fsService('192.168.1.5:80')}`, `version: 1\n${fsService('127.0.0.1:80')}`],
  TR005: ['version: 1\noptions:\n  MetricsPort: 0.0.0.0:9035\n  MetricsPortPolicy: accept *\n', 'version: 1\noptions:\n  MetricsPort: 0.0.0.0:9035\n  MetricsPortPolicy: accept 192.0.2.10\n'],
  TR006: ['version: 1\noptions:\n  ExtORPort: 0.0.0.0:5000\n', 'version: 1\noptions:\n  ExtORPort: auto\n'],
  TR007: ['version: 1\ntor:\n  control: tcp:192.0.2.5:9051\n', 'version: 1\ntor:\n  control: tcp:127.0.0.1:9051\n'],
  TR010: [`version: 1\noptions:\n  ORPort: 9001\n${SERVICE}`, 'version: 1\noptions:\n  ORPort: 9001\n'],
  TR011: [`version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  SocksPort: 0\n${SERVICE}`, `version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  HiddenServiceSingleHopMode: true\n  SocksPort: 0\n${SERVICE}`],
  TR012: [`version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  HiddenServiceSingleHopMode: true\n${SERVICE}`, `version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  HiddenServiceSingleHopMode: true\n  SocksPort: 0\n${SERVICE}`],
  TR013: [`version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  HiddenServiceSingleHopMode: true\n  SocksPort: 0\n${SERVICE}`, `version: 1\noptions:\n  SocksPort: 0\n${SERVICE}`],
  TR014: [`version: 1\n${fsService('127.0.0.1:80', '      options: { HiddenServicePoWDefensesEnabled: true }\n')}`, `version: 1\n${SERVICE}`],
  TR015: [`version: 1\n${fsService('127.0.0.1:80', '      options: { HiddenServiceMaxStreams: 10 }\n')}`, `version: 1\n${fsService('127.0.0.1:80', '      options: { HiddenServiceMaxStreams: 10, HiddenServiceEnableIntroDoSDefense: true }\n')}`],
  TR016: [`version: 1\n${fsService('127.0.0.1:80', `      authorizedClients:\n        - { name: alice, publicKey: ${KEY_A} }\n        - { name: bob, publicKey: ${KEY_A} }\n`)}`, `version: 1\n${fsService('127.0.0.1:80', `      authorizedClients:\n        - { name: alice, publicKey: ${KEY_A} }\n        - { name: bob, publicKey: ${KEY_B} }\n`)}`],
  TR017: [`version: 1\n${fsService('127.0.0.1:80', clients(369).replace(/^ {4}/gm, '      '))}`, `version: 1\n${fsService('127.0.0.1:80', clients(368).replace(/^ {4}/gm, '      '))}`],
  TR020: ['version: 1\noptions:\n  ExcludeNodes: "{ru}"\n', 'version: 1\noptions:\n  ExcludeNodes: "{ru}"\n  StrictNodes: true\n'],
  TR021: ['version: 1\noptions:\n  ExitNodes: "{ch}"\n', 'version: 1\noptions:\n  ExcludeExitNodes: "{ru}"\n'],
  TR022: [`version: 1\noptions:\n  ExcludeNodes: "{ru}"\n  StrictNodes: true\n${SERVICE}`, 'version: 1\noptions:\n  ExcludeNodes: "{ru}"\n  StrictNodes: true\n'],
  TR023: ['version: 1\noptions:\n  UseEntryGuards: false\n', 'version: 1\noptions:\n  UseEntryGuards: true\n'],
  TR024: ['version: 1\noptions:\n  UseBridges: true\n', 'version: 1\noptions:\n  UseBridges: true\n  Bridge: 192.0.2.1:443\n'],
  TR030: [`version: 1\noptions:\n  SafeLogging: 0\n${SERVICE}`, 'version: 1\noptions:\n  SafeLogging: 0\n'],
  TR031: [`version: 1\noptions:\n  Log: info file /var/log/tor/info.log\n${SERVICE}`, `version: 1\noptions:\n  Log: ["notice file /var/log/tor/notices.log", "debug stderr"]\n${SERVICE}`],
  TR040: [`version: 1\n${attach('{ name: odd, match: { onion: true, cidr: 10.0.0.0/8 }, action: reject }')}`, `version: 1\n${attach('{ name: ok, match: { onion: true }, action: reject }')}`],
  TR041: [
    `version: 1\n${attach('{ name: broad, match: { host: "*.example.com" }, action: tor }', '{ name: narrow, match: { host: api.example.com, port: 443 }, action: reject }')}`,
    `version: 1\n${attach('{ name: narrow, match: { host: api.example.com, port: 443 }, action: reject }', '{ name: broad, match: { host: "*.example.com" }, action: tor }')}`,
  ],
};

describe('lint rules', () => {
  it('every rule has a triggering and a clean case, and every rule ID is unique and stable-shaped', () => {
    expect(Object.keys(cases).sort()).toEqual(rules.map((r) => r.id).sort());
    const all = allRuleDocs.map((r) => r.id);
    expect(new Set(all).size).toBe(all.length);
    for (const d of allRuleDocs) {
      expect(d.id).toMatch(/^TR\d{3}$/);
      expect(d.rationale.length, d.id).toBeGreaterThan(80);
      expect(d.sources.length, d.id).toBeGreaterThan(0);
      expect(d.fix.length, d.id).toBeGreaterThan(20);
    }
  });

  it.each(Object.entries(cases))('%s: reported for the triggering spec, not for the clean one', async (id, [trigger, clean]) => {
    expect(ids(await lint(trigger))).toContain(id);
    expect(ids(await lint(clean))).not.toContain(id);
  });

  it('TR001: a SocksPolicy that does not end by rejecting everything does not count; TransPort has no policy', async () => {
    expect(ids(await lint('version: 1\noptions:\n  SocksPort: 0.0.0.0:9050\n  SocksPolicy: accept 192.168.1.0/24\n'))).toContain('TR001');
    const r = await lint('version: 1\noptions:\n  TransPort: "[::]:9040"\n  SocksPolicy: ["accept 10.0.0.0/8", "reject *"]\n');
    expect(activeFindings(r).map((f) => f.message)).toEqual(['TransPort [::]:9040 listens on ::, beyond this host, and tor has no policy for it']);
    for (const loopback of ['9050', '127.0.0.2:9050', '"[::1]:9050"', 'localhost:9050', 'unix:/run/tor/socks', '0']) {
      expect(ids(await lint(`version: 1\noptions:\n  SocksPort: ${loopback}\n`)), loopback).not.toContain('TR001');
    }
  });

  it('TR002: a tor the spec launches always has cookie authentication', async () => {
    expect(ids(await lint('version: 1\ntor:\n  launch: { dataDirectory: /tmp/x }\noptions:\n  ControlPort: 9051\n'))).not.toContain('TR002');
  });

  it('TR012: also when SocksPort is open explicitly, and for each client port', async () => {
    const r = await lint(`version: 1\noptions:\n  HiddenServiceNonAnonymousMode: true\n  HiddenServiceSingleHopMode: true\n  SocksPort: 9050\n  DNSPort: 5353\n${SERVICE}`);
    expect(activeFindings(r).filter((f) => f.ruleId === 'TR012').map((f) => f.message)).toEqual([
      'SocksPort 9050 is open while HiddenServiceNonAnonymousMode is 1: tor refuses to start',
      'DNSPort 5353 is open while HiddenServiceNonAnonymousMode is 1: tor refuses to start',
    ]);
  });

  it('TR014: an ephemeral service is judged by maxStreams, and a private service is not reported', async () => {
    const eph = (extra: string) => `version: 1\nonionServices:\n  - name: api\n    type: ephemeral\n    key: { generate: true }\n    ports: [{ port: 80, target: 8000 }]\n${extra}`;
    expect(ids(await lint(eph('')))).toContain('TR014');
    expect(ids(await lint(eph('    maxStreams: 5\n')))).not.toContain('TR014');
    expect(ids(await lint(eph(`    authorizedClients: [{ name: a, publicKey: ${KEY_A} }]\n`)))).not.toContain('TR014');
  });

  it('TR041: a policy after one with no conditions, a port range inside an earlier range, a network inside an earlier one', async () => {
    const shadowed = async (...p: string[]) => activeFindings(await lint(`version: 1\n${attach(...p)}`)).filter((f) => f.ruleId === 'TR041').length;
    expect(await shadowed('{ name: all, match: {}, action: tor }', '{ name: x, match: { port: 80 }, action: reject }')).toBe(1);
    expect(await shadowed('{ name: web, match: { port: 1-1024 }, action: tor }', '{ name: x, match: { port: 443 }, action: reject }')).toBe(1);
    expect(await shadowed('{ name: lan, match: { cidr: 10.0.0.0/8 }, action: tor }', '{ name: x, match: { cidr: 10.1.0.0/16 }, action: reject }')).toBe(1);
    expect(await shadowed('{ name: lan, match: { cidr: 10.1.0.0/16 }, action: tor }', '{ name: x, match: { cidr: 10.0.0.0/8 }, action: reject }')).toBe(0);
    expect(await shadowed('{ name: onions, match: { host: "*.onion" }, action: tor }', '{ name: x, match: { onion: true, port: 80 }, action: reject }')).toBe(1);
    expect(await shadowed('{ name: a, match: { socksUsername: "alice*" }, action: tor }', '{ name: x, match: { host: "*.example.com" }, action: reject }')).toBe(0);
  });

  it('TR017: 368 clients with 3 introduction points (measured), fewer with more', () => {
    expect(maxAuthorizedClients(3)).toBe(368);
    expect(maxAuthorizedClients(20)).toBe(128);
    expect(maxAuthorizedClients(10)).toBeLessThan(368);
  });
});

describe('findings in the spec files', () => {
  it('points at the line and column the value was written, in the file that wins the merge', async () => {
    const r = await lint('version: 1\noptions:\n  SocksPort: 9050\n  ControlPort: 9051\n', 'options:\n  socksport:\n    - 127.0.0.1:9050\n    - 0.0.0.0:9150\n');
    const f = activeFindings(r).filter((x) => x.ruleId === 'TR001');
    expect(f).toEqual([expect.objectContaining({ file: 'spec1.yaml', line: 4, col: 7, excerpt: '    - 0.0.0.0:9150' })]);
    expect(activeFindings(r).find((x) => x.ruleId === 'TR002')).toEqual(expect.objectContaining({ file: 'spec0.yaml', line: 4, col: 16 }));
  });

  it('tor.launch.options are linted too, and a line holding a password is not shown', async () => {
    const r = await lint('version: 1\ntor:\n  launch:\n    dataDirectory: /tmp/x\n    options: { SocksPort: "0.0.0.0:9050", HashedControlPassword: "16:00" } # password\n');
    expect(activeFindings(r)).toEqual([expect.objectContaining({ ruleId: 'TR001', file: 'spec0.yaml', line: 5, excerpt: '' })]);
  });
});

describe('suppressions', () => {
  const exposed = (comment: string, above = false) =>
    `version: 1\noptions:\n${above ? `  ${comment}\n  SocksPort: 0.0.0.0:9050\n` : `  SocksPort: 0.0.0.0:9050 ${comment}\n`}`;

  it('a comment with a reason on the line, or alone on the line above, suppresses and keeps the reason', async () => {
    for (const above of [false, true]) {
      const r = await lint(exposed('# tor-reconcile: ignore TR001 -- LAN gateway, firewalled (ops#12)', above));
      expect(activeFindings(r)).toEqual([]);
      expect(r.findings).toEqual([expect.objectContaining({ ruleId: 'TR001', suppression: { reason: 'LAN gateway, firewalled (ops#12)', line: 3 } })]);
    }
  });

  it('without a reason it suppresses nothing and is a finding itself (TR900)', async () => {
    expect(ids(await lint(exposed('# tor-reconcile: ignore TR001')))).toEqual(['TR001', 'TR900']);
    expect(ids(await lint(exposed('# tor-reconcile: ignore TR001 --   ')))).toEqual(['TR001', 'TR900']);
    expect(ids(await lint(exposed('# tor-reconcile: ignore everything -- because')))).toEqual(['TR001', 'TR900']);
  });

  it('one that covers no finding, or names an unknown rule, is TR901; the wrong rule does not suppress', async () => {
    expect(ids(await lint(exposed('# tor-reconcile: ignore TR004 -- wrong rule')))).toEqual(['TR001', 'TR901']);
    expect(ids(await lint('version: 1\noptions:\n  SocksPort: 9050 # tor-reconcile: ignore TR001 -- stale\n'))).toEqual(['TR901']);
    expect(activeFindings(await lint(exposed('# tor-reconcile: ignore TR001, TR999 -- x'))).map((f) => f.message)).toEqual(['suppression names unknown rule TR999']);
  });

  it('a # inside a quoted value is not a comment', async () => {
    expect(ids(await lint('version: 1\noptions:\n  ContactInfo: "x#tor-reconcile: ignore TR001"\n'))).toEqual([]);
  });
});

describe('the examples', () => {
  const dir = path.join(import.meta.dirname, '../../examples/specs');
  it.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s lints without an unsuppressed finding', async (name) => {
    const { result } = await lintFiles([path.join(dir, name)], {});
    expect(activeFindings(result)).toEqual([]);
  });
});
