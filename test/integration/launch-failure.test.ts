import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { DATA_DIRECTORY_FILES, launch } from '../../src/tor/launch.js';
import { assertOfflineSpec, offlineOptions } from '../helpers/offline.mjs';

// Tor starts its listeners before it opens its log file, so a port in use is reported on stdout only. With
// DisableNetwork 1 tor does not open SocksPort at all, but it does open a ControlPort: that is the port held.
describe('a tor that cannot bind its port', () => {
  let dir: string;
  let holder: net.Server;
  let port: number;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tr-bind-'));
    holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    port = (holder.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    holder.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['detached (the embedded tor of apply)', true],
    ['as a child', false],
  ])('%s: tor own reason reaches the error, and no line of an earlier run', async (_, detached) => {
    // An earlier run's log: appended to by tor, never to be quoted as this run's reason.
    await writeFile(path.join(dir, DATA_DIRECTORY_FILES.log), 'Dec 01 10:00:00.000 [warn] stale warning from an earlier run\n');
    const err = await launch({ dataDirectory: dir, detached, options: offlineOptions({ ControlPort: `127.0.0.1:${port}` }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/^tor exited during startup \(code 1\)/);
    expect(message).toContain(`Could not bind to 127.0.0.1:${port}: Address already in use`);
    expect(message).not.toMatch(/stale warning/);
  });

  it('apply of a spec with tor.launch shows tor own reason, not only "exited during startup"', async () => {
    // The spec cannot open a ControlPort itself (launch owns it): a wrapper around the real tor adds one.
    const wrapper = path.join(dir, 'tor-with-port');
    await writeFile(wrapper, `#!/bin/sh\nexec tor "$@" --ControlPort 127.0.0.1:${port}\n`);
    await chmod(wrapper, 0o755);
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(spec, `version: 1\ntor:\n  launch: { dataDirectory: ./data, binary: ./tor-with-port, options: { DisableNetwork: 1 } }\n`);
    await mkdir(path.join(dir, 'data'), { mode: 0o700 });
    await writeFile(path.join(dir, 'data', DATA_DIRECTORY_FILES.log), 'Dec 01 10:00:00.000 [warn] stale warning from an earlier run\n');
    let stderr = '';
    const code = await run(['apply', assertOfflineSpec(spec)], { stdout: () => {}, stderr: (t) => void (stderr += t), env: {} });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^starting the embedded tor/);
    expect(stderr).toContain('tor-reconcile: tor exited during startup (code 1)');
    expect(stderr).toContain(`Could not bind to 127.0.0.1:${port}: Address already in use`);
    expect(stderr).not.toMatch(/stale warning/);
  });
});
