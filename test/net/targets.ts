/** Local servers for traffic to leave the private network to (exits connect to them on 127.0.0.1). */
import { readdir, readFile, readlink } from 'node:fs/promises';
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

/**
 * Answers every request with the name of the process (among `processes`, pid → name) whose socket made the
 * connection, read from /proc: several onion-service tors forwarding to one port tell which tor carried a
 * request. `unknown` when none of them holds the socket.
 */
export async function startWhoHttpTarget(processes: ReadonlyMap<number, string>): Promise<Target> {
  const seen: string[] = [];
  let port = 0;
  const server = http.createServer((req, res) => {
    void connectingProcess(req.socket.remotePort!, port, processes).then((name) => {
      seen.push(`${name} ${req.method} ${req.url}`);
      res.setHeader('content-type', 'text/plain');
      res.end(name);
    });
  });
  const target = await listen(server, seen);
  port = target.port;
  return target;
}

/** Which of `processes` holds the TCP socket 127.0.0.1:`localPort` → 127.0.0.1:`remotePort`. */
async function connectingProcess(localPort: number, remotePort: number, processes: ReadonlyMap<number, string>): Promise<string> {
  const hex = (p: number) => `0100007F:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  // /proc/net/tcp: `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …`
  const row = (await readFile('/proc/net/tcp', 'utf8'))
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((f) => f[1] === hex(localPort) && f[2] === hex(remotePort));
  if (!row) return 'unknown';
  const socket = `socket:[${row[9]}]`;
  for (const [pid, name] of processes) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    if (links.includes(socket)) return name;
  }
  return 'unknown';
}
