/**
 * How `watch` runs, for one tor and for several: until SIGTERM/SIGINT, which finish the step in flight and
 * leave everything applied in place; the /metrics server closes with it.
 */
import type { Server } from 'node:http';

export interface Stoppable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function runUntilSignal(watcher: Stoppable, server: Server | undefined, said: (sig: NodeJS.Signals) => void): Promise<void> {
  let done!: () => void;
  const stopped = new Promise<void>((r) => (done = r));
  const onSignal = (sig: NodeJS.Signals) => {
    said(sig);
    void watcher.stop().then(done, done);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await watcher.start();
    await stopped;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    server?.close();
    await watcher.stop();
  }
}
