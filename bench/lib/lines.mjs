/**
 * The raw control-port clients of the benchmarks (floors, tor's answer time) read tor's replies line by line
 * without the library, so that the library's own parsing is not part of what they measure. `onLine` gets each
 * CRLF-terminated line as tor sent it.
 */
export function onLines(sock, onLine) {
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      onLine(line);
    }
  });
}
