import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertOffline, assertOfflineArgs, assertOfflineSpec, networkRisk } from '../helpers/offline.mjs';

describe('the guard on every tor a test starts', () => {
  it('lets through DisableNetwork 1 (the last line wins, as in tor) and loopback private networks', () => {
    expect(networkRisk({ DisableNetwork: 1 })).toBeUndefined();
    expect(networkRisk({ disablenetwork: true })).toBeUndefined();
    expect(networkRisk({ DisableNetwork: [0, 1] })).toBeUndefined();
    expect(networkRisk({ TestingTorNetwork: 1, DirAuthority: ['a orport=5000 no-v2 v3ident=AB 127.0.0.2:7000 FFFF', 'b orport=5001 127.0.0.3:7001 EEEE'] })).toBeUndefined();
  });

  it('refuses a tor that could reach beyond loopback', () => {
    expect(networkRisk(undefined)).toMatch(/without DisableNetwork 1/);
    expect(networkRisk({ DisableNetwork: 0 })).toMatch(/without DisableNetwork 1/);
    expect(networkRisk({ DisableNetwork: [1, 0] })).toMatch(/without DisableNetwork 1/);
    // TestingTorNetwork alone keeps tor's public authorities.
    expect(networkRisk({ TestingTorNetwork: 1 })).toMatch(/not a private-network tor/);
    expect(networkRisk({ TestingTorNetwork: 1, DirAuthority: 'moria1 orport=9201 128.31.0.39:9231 F533' })).toMatch(/non-loopback addresses: moria1/);
    expect(() => assertOffline({ SocksPort: 0 }, 'the tor in /x')).toThrow(/^refusing to start the tor in \/x: /);
  });

  it('reads command-line options and a spec tor.launch.options', async () => {
    expect(() => assertOfflineArgs(['-f', 't', '--DisableNetwork', '1'])).not.toThrow();
    expect(() => assertOfflineArgs(['-f', 't', '--DisableNetwork', '0'])).toThrow(/refusing/);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-guard-'));
    try {
      const on = path.join(dir, 'on.yaml');
      await writeFile(on, 'version: 1\ntor:\n  launch: { options: { SocksPort: 9050 } }\n');
      expect(() => assertOfflineSpec(on)).toThrow(`refusing to start the embedded tor of ${on}`);
      const off = path.join(dir, 'off.yaml');
      await writeFile(off, 'version: 1\ntor:\n  launch: { options: { DisableNetwork: 1 } }\n');
      expect(assertOfflineSpec(off)).toBe(off);
      // A spec that connects to a running tor starts none.
      const control = path.join(dir, 'control.yaml');
      await writeFile(control, 'version: 1\ntor:\n  control: unix:/run/tor/control\n');
      expect(assertOfflineSpec(control)).toBe(control);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
