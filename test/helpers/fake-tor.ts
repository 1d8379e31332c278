import net from 'node:net';

/**
 * A scripted control-port peer for what a real tor can't be made to do (garbage, huge lines, stalls).
 * `onLine` sees each command line the client sends and writes whatever the test wants back, except the
 * keyless `GETINFO` the connection writes over TCP to acknowledge data while a reply is awaited (NUDGE in
 * src/tor/connection.ts): the peer answers it `250 OK` itself, in order as tor does (once the script has
 * answered every command before it), and it is not in `lines`.
 */
export async function fakeTor(onLine: (line: string, socket: net.Socket) => void): Promise<{ address: string; lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let buf = '';
    // Commands received and final reply lines the script wrote (not events, not data lines), so that a nudge
    // is answered in its turn.
    let received = 0;
    let answered = 0;
    let inData = false;
    const nudges: number[] = [];
    const write = socket.write.bind(socket) as (data: string | Uint8Array) => boolean;
    const flushNudges = () => {
      while (nudges.length && nudges[0]! <= answered + 1 && !socket.destroyed) {
        nudges.shift();
        answered++;
        write('250 OK\r\n');
      }
    };
    socket.write = ((data: string | Uint8Array, ...rest: unknown[]) => {
      for (const line of Buffer.from(data).toString('latin1').split('\r\n')) {
        if (inData) inData = line !== '.';
        else if (/^\d{3}\+/.test(line)) inData = true;
        else if (/^[0-5]\d\d /.test(line)) answered++;
      }
      const ok = (write as (...a: unknown[]) => boolean)(data, ...rest);
      flushNudges();
      return ok;
    }) as typeof socket.write;
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        received++;
        if (line === 'GETINFO') {
          nudges.push(received);
          flushNudges();
          continue;
        }
        lines.push(line);
        onLine(line, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `tcp:127.0.0.1:${port}`,
    lines,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
