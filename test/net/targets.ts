/** Local servers for traffic to leave the private network to (exits connect to them on 127.0.0.1). */
import http from 'node:http';
import net from 'node:net';

export interface Target {
  port: number;
  /** Requests (HTTP) or connections (hold) seen, in order. */
  seen: string[];
  close(): Promise<void>;
}

/** Answers every request with `hello <path>`. */
export async function startHttpTarget(): Promise<Target> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.url}`);
  });
  return listen(server, seen);
}

/** Accepts connections and keeps them open without a word: streams that stay SUCCEEDED until closed. */
export async function startHoldTarget(): Promise<Target> {
  const seen: string[] = [];
  const server = net.createServer((socket) => {
    seen.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.on('error', () => {});
  });
  return listen(server, seen);
}

async function listen(server: net.Server, seen: string[]): Promise<Target> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
