/**
 * How `watch` runs, for one tor and for several: its `--listen` server, and running until SIGTERM/SIGINT,
 * which finish the step in flight and leave everything applied in place; the server closes with it.
 */
import http, { type Server } from 'node:http';
import { CliUsageError } from '../report.js';

export interface Reply {
  status: number;
  type: 'application/json' | 'text/plain; version=0.0.4';
  body: string;
}

export const json = (status: number, value: unknown): Reply => ({ status, type: 'application/json', body: JSON.stringify(value) + '\n' });

/** Serves `route(url)` on `--listen HOST:PORT` (404 where it has nothing). */
export function listenHttp(listen: string, route: (url: string | undefined) => Reply | undefined): Promise<Server> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new CliUsageError(`--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:9099`);
  const server = http.createServer((req, res) => {
    const reply = route(req.url);
    if (reply) res.writeHead(reply.status, { 'content-type': reply.type }).end(reply.body);
    else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[3]), m[1] ?? m[2], () => resolve(server));
  });
}

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
