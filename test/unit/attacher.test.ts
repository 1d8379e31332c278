/**
 * StreamAttacher against a scripted control port: what it leaves behind when tor refuses to hand it streams
 * or to take them back, and how its deadline is set.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamAttacher } from '../../src/tor/attacher.js';
import { connect } from '../../src/tor/client.js';
import { ReplyError, TorError, UsageError } from '../../src/tor/errors.js';
import { TorState } from '../../src/tor/state/index.js';
import { fakeTor } from '../helpers/fake-tor.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/**
 * A tor whose start-up the model reads (`streams` in its snapshot), that answers `replies[line]` (default
 * `250 OK`) and records every command after start-up in `commands`.
 */
async function attacherOn(options: { streams?: string[]; replies?: Record<string, string> } = {}) {
  const commands: string[] = [];
  let control: net.Socket | undefined;
  let started = false;
  const server = await fakeTor((line, s) => {
    control = s;
    if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
    else if (line === 'GETINFO circuit-status stream-status ns/all') {
      const streams = (options.streams ?? []).map((l) => `${l}\r\n`).join('');
      s.write(`250-circuit-status=\r\n250+stream-status=\r\n${streams}.\r\n250-ns/all=\r\n250 OK\r\n`);
      started = true;
    } else {
      if (started) commands.push(line);
      s.write(options.replies?.[line] ?? (line === 'GETCONF __LeaveStreamsUnattached' ? '250 __LeaveStreamsUnattached=0\r\n' : '250 OK\r\n'));
    }
  });
  closers.push(server.close);
  const client = await connect({ control: server.address });
  closers.push(() => client.close());
  const state = await TorState.create(client, { countries: false, microdescriptors: false });
  closers.unshift(() => state.close());
  /** Send events, then make sure the client has taken them in. */
  const emit = async (...events: string[]) => {
    control!.write(events.map((e) => `650 ${e}\r\n`).join(''));
    await client.getInfo('version');
  };
  return { state, commands, emit };
}

describe('StreamAttacher', () => {
  it('stops listening for streams when tor refuses to leave them unattached', async () => {
    const { state, commands, emit } = await attacherOn({ replies: { 'SETCONF __LeaveStreamsUnattached="1"': '553 Transition not allowed\r\n' } });
    const attacher = new StreamAttacher(state);
    await expect(attacher.start()).rejects.toBeInstanceOf(ReplyError);
    await emit('STREAM 40 NEW 0 x.test:80 SOURCE_ADDR=127.0.0.1:5000 PURPOSE=USER');
    await new Promise((r) => setTimeout(r, 20));
    expect(commands.filter((c) => c.startsWith('ATTACHSTREAM'))).toEqual([]);
  });

  it('reports a failed reset of __LeaveStreamsUnattached, after handing waiting streams to tor', async () => {
    const { state, commands } = await attacherOn({
      streams: ['41 NEW 0 y.test:443 SOURCE_ADDR=127.0.0.1:5001 PURPOSE=USER'],
      replies: { 'RESETCONF __LeaveStreamsUnattached': '551 Unable to set option\r\n' },
    });
    const attacher = new StreamAttacher(state);
    // Keep the waiting stream undecided until stop().
    attacher.add(() => new Promise(() => {}));
    await attacher.start();
    const err = await attacher.stop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TorError);
    expect((err as Error).message).toMatch(/^could not reset __LeaveStreamsUnattached \(RESETCONF __LeaveStreamsUnattached: tor replied 551 Unable to set option\): new streams on this tor wait for a controller/);
    expect((err as Error).cause).toBeInstanceOf(ReplyError);
    expect(commands.slice(-2)).toEqual(['RESETCONF __LeaveStreamsUnattached', 'ATTACHSTREAM 41 0']);
  });

  it('refuses options for a shared attacher that already exists, instead of ignoring them', async () => {
    const { state } = await attacherOn();
    const shared = StreamAttacher.for(state);
    expect(StreamAttacher.for(state)).toBe(shared);
    expect(() => StreamAttacher.for(state, { deadlineMs: 5000 })).toThrow(UsageError);
    expect(shared.deadlineMs).toBe(30_000);
  });

  it('hands a stream to tor once a deadline set after construction passes', async () => {
    const { state, commands, emit } = await attacherOn();
    const attacher = StreamAttacher.for(state, { deadlineMs: 60_000 });
    attacher.setDeadline(50);
    expect(attacher.deadlineMs).toBe(50);
    expect(() => attacher.setDeadline(0)).toThrow(UsageError);
    attacher.add(() => new Promise(() => {}));
    await attacher.acquire();
    await emit('STREAM 42 NEW 0 z.test:80 SOURCE_ADDR=127.0.0.1:5002 PURPOSE=USER');
    await expect.poll(() => commands, { timeout: 2000 }).toContain('ATTACHSTREAM 42 0');
    await attacher.release();
  });
});
