/**
 * connectVia's attacher against a scripted control port and SOCKS server: which streams it attaches where,
 * what it hands back to tor, and what it does when the exit refuses its stream.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamAttacher } from '../../src/tor/attacher.js';
import { connect } from '../../src/tor/client.js';
import { ReplyError } from '../../src/tor/errors.js';
import { connectVia, ConnectionRefusedError, SocksTimeoutError } from '../../src/tor/socks/index.js';
import { StreamError, TorState } from '../../src/tor/state/index.js';
import { fakeTor } from '../helpers/fake-tor.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const CIRCUIT = '7 BUILT $E18956691027106274395DE1BF0C014627C08187~relay,$06874E8AC7BE9D49ED850CC1DF720A82ACC20BA0~exit PURPOSE=GENERAL';

interface World {
  /** Control commands the client sent after start-up, in order. */
  commands: string[];
  /** Write events (or replies) on the control connection. */
  control(text: string): void;
  socksPort: number;
  /** Send the SOCKS reply to the pending CONNECT. */
  answerSocks(reply: number[]): void;
}

/**
 * tor's two faces: a control port (start-up answered here, the rest recorded and handed to `onCommand`) and
 * a SOCKS port that accepts one CONNECT and calls `onConnect` with the client's source port.
 */
async function world(onCommand: (line: string, w: World) => void, onConnect: (sourcePort: number, w: World) => void): Promise<{ w: World; state: TorState }> {
  let controlSocket: net.Socket | undefined;
  let socksSocket: net.Socket | undefined;
  const w: World = {
    commands: [],
    control: (text) => controlSocket!.write(text),
    socksPort: 0,
    answerSocks: (reply) => socksSocket!.write(Buffer.from(reply)),
  };
  let started = false;
  const server = await fakeTor((line, s) => {
    controlSocket = s;
    if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
    else if (line.startsWith('AUTHENTICATE') || line.startsWith('SETEVENTS')) s.write('250 OK\r\n');
    else if (line === 'GETINFO circuit-status stream-status ns/all') {
      s.write(`250+circuit-status=\r\n${CIRCUIT}\r\n.\r\n250-stream-status=\r\n250-ns/all=\r\n250 OK\r\n`);
      started = true;
    } else if (started) {
      w.commands.push(line);
      if (line === 'GETCONF __LeaveStreamsUnattached') s.write('250 __LeaveStreamsUnattached=0\r\n');
      else onCommand(line, w);
    } else s.write('250 OK\r\n');
  });
  closers.push(server.close);
  const socks = net.createServer((socket) => {
    socksSocket = socket;
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length === 3) {
        socket.write(Buffer.from([5, 0]));
      } else if (buf.length > 3) {
        buf = Buffer.alloc(0);
        onConnect(socket.remotePort!, w);
      }
    });
  });
  await new Promise<void>((r) => socks.listen(0, '127.0.0.1', r));
  w.socksPort = (socks.address() as net.AddressInfo).port;
  closers.push(() => new Promise<void>((r) => (socksSocket?.destroy(), socks.close(() => r()))));
  const client = await connect({ control: server.address });
  closers.push(() => client.close());
  const state = await TorState.create(client, { countries: false, microdescriptors: false });
  closers.unshift(() => state.close());
  return { w, state };
}

const SUCCESS = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

describe('connectVia', () => {
  it('attaches its own stream to the circuit, hands others back to tor, and restores the option', async () => {
    const { w, state } = await world(
      (line, w) => {
        w.control('250 OK\r\n');
        if (line === 'ATTACHSTREAM 40 7') w.control('650 STREAM 40 SENTCONNECT 7 x.test:80\r\n650 STREAM 40 SUCCEEDED 7 x.test:80\r\n');
        if (line === 'ATTACHSTREAM 40 7') w.answerSocks(SUCCESS);
      },
      (port, w) => w.control(`650 STREAM 41 NEW 0 other.test:443 SOURCE_ADDR=127.0.0.1:1 PURPOSE=USER\r\n650 STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER\r\n`),
    );
    const { socket, stream } = await connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}` });
    expect(stream).toMatchObject({ id: '40', status: 'SUCCEEDED', circuitId: '7' });
    expect(w.commands).toEqual(['GETCONF __LeaveStreamsUnattached', 'SETCONF __LeaveStreamsUnattached="1"', 'ATTACHSTREAM 41 0', 'ATTACHSTREAM 40 7', 'RESETCONF __LeaveStreamsUnattached']);
    socket.destroy();
  });

  it("closes its stream and rejects with tor's reasons when the exit refuses it (tor would retry elsewhere)", async () => {
    const { w, state } = await world(
      (line, w) => {
        w.control('250 OK\r\n');
        if (line === 'ATTACHSTREAM 40 7') w.control('650 STREAM 40 DETACHED 7 x.test:80 REASON=END REMOTE_REASON=MISC\r\n');
        if (line === 'CLOSESTREAM 40 1') {
          w.control('650 STREAM 40 CLOSED 0 x.test:80 REASON=MISC\r\n');
          w.answerSocks([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        }
      },
      (port, w) => w.control(`650 STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER\r\n`),
    );
    const err = await connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ streamId: '40', status: 'DETACHED', reason: 'END', remoteReason: 'MISC' });
    expect((err as Error).message).toBe('stream 40 to x.test:80 on circuit 7 DETACHED (REASON=END REMOTE_REASON=MISC)');
    await expect.poll(() => w.commands).toContain('CLOSESTREAM 40 1');
    await expect.poll(() => w.commands.at(-1)).toBe('RESETCONF __LeaveStreamsUnattached');
  });

  it("passes tor's SOCKS refusal through when the stream fails at the exit", async () => {
    const { w, state } = await world(
      (line, w) => {
        w.control('250 OK\r\n');
        if (line === 'ATTACHSTREAM 40 7') w.answerSocks([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
      },
      (port, w) => w.control(`650 STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER\r\n`),
    );
    await expect(connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}` })).rejects.toBeInstanceOf(ConnectionRefusedError);
  });

  it('rejects when its attach failed and tor put the stream on another circuit', async () => {
    const { w, state } = await world(
      (line, w) => {
        if (line === 'ATTACHSTREAM 40 7') return w.control('552 Unknown circuit "7"\r\n');
        w.control('250 OK\r\n');
        if (line === 'ATTACHSTREAM 40 0') {
          w.control('650 STREAM 40 SENTCONNECT 9 x.test:80\r\n650 STREAM 40 SUCCEEDED 9 x.test:80\r\n');
          w.answerSocks(SUCCESS);
        }
      },
      (port, w) => w.control(`650 STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER\r\n`),
    );
    const err = await connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as Error).message).toBe('stream 40 to x.test:80 SUCCEEDED on circuit 9, not on circuit 7');
    await expect.poll(() => w.commands.at(-1)).toBe('RESETCONF __LeaveStreamsUnattached');
  });

  it('stops waiting for tor to report the stream after the timeout', async () => {
    const { w, state } = await world(
      (line, w) => {
        w.control('250 OK\r\n');
        // Tor says yes on the SOCKS port but its STREAM SUCCEEDED event never comes.
        if (line === 'ATTACHSTREAM 40 7') w.answerSocks(SUCCESS);
      },
      (port, w) => w.control(`650 STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER\r\n`),
    );
    const err = await connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}`, timeout: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocksTimeoutError);
    expect((err as Error).message).toBe('x.test:80 on circuit 7: tor did not report the stream SUCCEEDED within 200 ms');
  }, 5000);

  it('leaves no handler or listener behind when the attacher cannot start', async () => {
    const { w, state } = await world(
      (line, w) => w.control(line.startsWith('SETCONF __LeaveStreamsUnattached') ? '553 Transition not allowed\r\n' : '250 OK\r\n'),
      () => {},
    );
    // Count attacher handlers and model listeners registered and not yet removed.
    let live = 0;
    const counted = (original: (...args: never[]) => () => unknown) =>
      function (this: unknown, ...args: never[]) {
        live++;
        const off = original.apply(this, args);
        let removed = false;
        return () => {
          if (!removed) live--;
          removed = true;
          return off();
        };
      };
    const add = counted(StreamAttacher.prototype.add);
    const on = counted(TorState.prototype.on);
    const spies = [vi.spyOn(StreamAttacher.prototype, 'add').mockImplementation(add as never), vi.spyOn(TorState.prototype, 'on').mockImplementation(on as never)];
    try {
      const err = await connectVia(state, state.circuits.get('7')!, 'x.test', 80, { socks: `${w.socksPort}` }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplyError);
      expect((err as ReplyError).code).toBe(553);
      expect(live).toBe(0);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('refuses a circuit that is not built', async () => {
    const { w, state } = await world(() => {}, () => {});
    const circuit = state.circuits.get('7')!;
    await circuit.whenBuilt();
    w.control('650 CIRC 7 CLOSED PURPOSE=GENERAL REASON=FINISHED\r\n');
    await expect.poll(() => circuit.status).toBe('CLOSED');
    await expect(connectVia(state, circuit, 'x.test', 80, { socks: `${w.socksPort}` })).rejects.toThrow('circuit 7 is CLOSED, not BUILT');
  });
});
