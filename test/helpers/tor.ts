import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launch, type LaunchedTor, type LaunchOptions } from '../../src/tor/launch.js';
import { offlineLaunch } from './offline.mjs';

export interface TestTor extends LaunchedTor {
  /** Stop tor and remove its data directory. */
  cleanup(): Promise<void>;
}

/**
 * A real, private tor for one test file: temporary DataDirectory, no network, no SOCKS port. Tor is told
 * to exit if the test process dies, so a crashed run leaves nothing behind.
 */
export async function startTestTor(extra: Partial<LaunchOptions> = {}): Promise<TestTor> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tr-tor-'));
  try {
    // Checked after the caller's options are merged: a test cannot switch the network on by accident.
    const tor = await launch(
      offlineLaunch({
        dataDirectory: dir,
        ...extra,
        options: { DisableNetwork: 1, SocksPort: 0, AvoidDiskWrites: 1, ...extra.options },
      }),
    );
    return Object.assign(tor, {
      async cleanup() {
        await tor.stop().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      },
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
