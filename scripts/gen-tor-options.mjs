#!/usr/bin/env node
/**
 * Regenerates src/tor/config/tor-options.json from a real tor: the option names and types
 * (`GETINFO config/names`) and compiled-in defaults (`GETINFO config/defaults`).
 *
 *   node scripts/gen-tor-options.mjs [path-to-tor]
 *
 * Starts a throwaway tor (no network, no SOCKS, unauthenticated control port on 127.0.0.1) in a
 * temporary directory and removes both when done.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const torBinary = process.argv[2] ?? 'tor';
const outFile = fileURLToPath(new URL('../src/tor/config/tor-options.json', import.meta.url));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-tor-options-'));
let tor;
try {
  // tor 0.4.9 refuses `-f /dev/null` (not a regular file), so give it empty files; the explicit
  // defaults file keeps a system torrc-defaults out of the picture.
  const torrc = path.join(dir, 'torrc');
  fs.writeFileSync(torrc, '');
  const portFile = path.join(dir, 'control-port');
  tor = spawn(
    torBinary,
    ['-f', torrc, '--defaults-torrc', torrc, '--DataDirectory', path.join(dir, 'data'), '--ControlPort', 'auto',
      '--ControlPortWriteToFile', portFile, '--CookieAuthentication', '0', '--DisableNetwork', '1', '--SocksPort', '0',
      '--Log', 'notice stdout'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await waitForPort(tor, portFile);
  const reply = await query(port, 'GETINFO version config/names config/defaults');
  const version = reply.get('version')?.split(' ')[0];
  const namesBlock = reply.get('config/names');
  const defaultsBlock = reply.get('config/defaults');
  if (!version || namesBlock === undefined || defaultsBlock === undefined) throw new Error('GETINFO reply lacks a key');

  const defaults = new Map();
  for (const line of defaultsBlock.split('\n')) {
    const m = /^(\S+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const list = defaults.get(m[1]) ?? [];
    list.push(m[2] === undefined ? '' : unquote(m[2]));
    defaults.set(m[1], list);
  }
  const options = [];
  for (const line of namesBlock.split('\n')) {
    const [name, type] = line.split(' ');
    if (!name || !type) continue;
    options.push({ name, type, defaults: defaults.get(name) ?? [] });
  }
  // One option per line: regenerating for a new tor gives a readable diff.
  const body = options.map((o) => '    ' + JSON.stringify(o)).join(',\n');
  fs.writeFileSync(outFile, `{\n  "torVersion": ${JSON.stringify(version)},\n  "options": [\n${body}\n  ]\n}\n`);
  console.log(`wrote ${options.length} options from tor ${version} to ${path.relative(process.cwd(), outFile)}`);
} finally {
  if (tor && tor.exitCode === null && tor.signalCode === null) {
    const exited = new Promise((resolve) => tor.once('exit', resolve));
    tor.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function waitForPort(child, portFile) {
  return new Promise((resolve, reject) => {
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const fail = (why) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${why}\n${log.trim().split('\n').slice(-10).join('\n')}`));
    };
    child.once('error', (err) => fail(`could not start ${torBinary}: ${err.message}`));
    child.once('exit', (code) => fail(`tor exited (code ${code}) before opening its control port`));
    const timer = setTimeout(() => fail('tor did not open its control port within 30 s'), 30_000);
    const poll = setInterval(() => {
      // tor writes "PORT=127.0.0.1:NNNN"; the file may exist before the line is complete.
      const m = fs.existsSync(portFile) && /:(\d+)\s*$/.exec(fs.readFileSync(portFile, 'utf8'));
      if (!m) return;
      clearInterval(poll);
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(Number(m[1]));
    }, 50);
  });
}

/** Sends AUTHENTICATE (no credentials needed here) and one GETINFO; returns key → value or data block. */
function query(port, command) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const values = new Map();
    let buffered = '';
    let block = null;
    let repliesDone = 0;
    sock.setEncoding('utf8');
    sock.on('error', reject);
    sock.on('connect', () => sock.write(`AUTHENTICATE\r\n${command}\r\n`));
    sock.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (block) {
          if (line === '.') {
            values.set(block.key, block.lines.join('\n'));
            block = null;
          } else block.lines.push(line.startsWith('.') ? line.slice(1) : line);
          continue;
        }
        const m = /^(\d{3})([ +-])(.*)$/.exec(line);
        if (!m || m[1] !== '250') {
          sock.destroy();
          reject(new Error(`tor answered: ${line}`));
          return;
        }
        const eq = m[3].indexOf('=');
        if (m[2] === '+') block = { key: m[3].slice(0, eq), lines: [] };
        else if (m[2] === '-' && eq > 0) values.set(m[3].slice(0, eq), m[3].slice(eq + 1));
        else if (m[2] === ' ' && ++repliesDone === 2) {
          sock.end('QUIT\r\n');
          resolve(values);
        }
      }
    });
  });
}

/** config/defaults values are C-quoted strings on tor 0.4.9 (older tors printed them raw). */
function unquote(text) {
  if (!text.startsWith('"') || !text.endsWith('"') || text.length < 2) return text;
  const bytes = [];
  const body = text.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = body[++i];
    const simple = { n: 10, r: 13, t: 9, '\\': 92, '"': 34, "'": 39 }[n];
    if (simple !== undefined) bytes.push(simple);
    else if (n === 'x') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i));
      if (!oct) throw new Error(`bad escape in config/defaults value ${text}`);
      bytes.push(parseInt(oct[0], 8));
      i += oct[0].length - 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
