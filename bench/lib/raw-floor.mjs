// The raw floor beside tor-reconcile's figures: what a minimal client needs to get the same commands
// answered by the same tor (bench/run.mjs, bench/keys.mjs).
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { onLines } from './lines.mjs';

/**
 * A minimal client: connect, AUTHENTICATE with the cookie, write every command at once, count the final
 * `250 OK` lines. Timed from connect to the last reply (as the in-process figures are).
 */
export async function rawFloor(address, cookieFile, commands) {
  const t = performance.now();
  const cookie = await readFile(cookieFile);
  const sock = address.type === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.setNoDelay(true);
  let waiting = 1;
  let done;
  let fail;
  sock.on('close', () => fail?.(new Error(`raw floor: tor closed the connection (${waiting} replies missing)`)));
  sock.on('error', (err) => fail?.(err));
  const timer = setTimeout(() => fail?.(new Error(`raw floor: ${waiting} replies missing after 120 s`)), 120_000);
  onLines(sock, (l) => {
    if (/^[45]\d\d /.test(l)) fail(new Error(`raw floor: tor answered ${l}`));
    else if (l === '250 OK' && --waiting === 0) done();
  });
  await new Promise((resolve, reject) => {
    done = resolve;
    fail = reject;
    sock.write(`AUTHENTICATE ${cookie.toString('hex')}\r\n`);
  });
  waiting = commands.length;
  await new Promise((resolve, reject) => {
    done = resolve;
    fail = reject;
    sock.write(commands.join(''));
  });
  const wall = performance.now() - t;
  clearTimeout(timer);
  fail = undefined;
  sock.destroy();
  return wall;
}
