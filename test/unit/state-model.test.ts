/**
 * TorState against a scripted control port: the orderings a real tor produces only by chance (events racing
 * the snapshot or the EXTENDCIRCUIT reply), and every reply shape the model reads.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type TorClient } from '../../src/tor/client.js';
import { CircuitError, TorState } from '../../src/tor/state/index.js';
import { fakeTor } from '../helpers/fake-tor.js';

const FP = {
  relay: 'E18956691027106274395DE1BF0C014627C08187',
  exit: '06874E8AC7BE9D49ED850CC1DF720A82ACC20BA0',
  guard: '7E129A7864D983FC0FB23E117E52B4DAF3C27435',
};
const b64 = (fp: string) => Buffer.from(fp, 'hex').toString('base64').replace(/=+$/, '');
const entry = (nick: string, fp: string, ip: string, flags: string, p?: string) =>
  [`r ${nick} ${b64(fp)} ${b64(fp)} 2038-01-01 00:00:00 ${ip} 9001 0`, `s ${flags}`, 'w Bandwidth=20', ...(p ? [`p ${p}`] : [])].join('\n');
const NS_ALL = [entry('relay', FP.relay, '10.0.0.1', 'Fast Running Valid'), entry('exit', FP.exit, '10.0.0.2', 'Exit Fast Running Valid')].join('\n');
const MD_EXIT = 'onion-key\nntor-onion-key x\np accept 80,443\nid ed25519 y';
const TIME = 'TIME_CREATED=2026-11-27T04:59:43.284649';
const path = (...fps: string[]) => fps.map((f) => `$${f}~n${f.slice(0, 4)}`).join(',');

/** Returns true when it answered the line itself. */
type Script = (line: string, s: net.Socket) => boolean | void;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/**
 * A tor that authenticates anyone, accepts SETEVENTS, answers the model's start-up GETINFOs from `snapshot`
 * (written after `before`, lines sent first: events racing the reply), and hands every other line to `script`.
 */
async function fakeState(options: { snapshot?: { circuits?: string[]; streams?: string[]; ns?: string }; before?: string[]; script?: Script; mds?: Record<string, string>; countries?: Record<string, string> } = {}) {
  const { snapshot = {}, before = [], script = () => false, mds = { [FP.exit]: MD_EXIT }, countries = { '10.0.0.1': 'us', '10.0.0.2': '??' } } = options;
  const server = await fakeTor((line, s) => {
    if (line.startsWith('PROTOCOLINFO')) s.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
    else if (line.startsWith('AUTHENTICATE') || line.startsWith('SETEVENTS')) s.write('250 OK\r\n');
    else if (script(line, s) === true) return;
    else if (line === 'GETINFO circuit-status stream-status ns/all') {
      s.write(before.map((l) => `650 ${l}\r\n`).join(''));
      s.write(data('circuit-status', snapshot.circuits ?? []) + data('stream-status', snapshot.streams ?? []) + data('ns/all', (snapshot.ns ?? NS_ALL).split('\n')) + '250 OK\r\n');
    } else if (line.startsWith('GETINFO md/id/')) {
      const md = mds[line.slice('GETINFO md/id/'.length)];
      s.write(md ? data(line.slice(8), md.split('\n')) + '250 OK\r\n' : `552 Unrecognized key "${line.slice(8)}"\r\n`);
    } else if (line.startsWith('GETINFO ip-to-country/')) {
      const keys = line.slice(8).split(' ');
      s.write(keys.map((k) => `250-${k}=${countries[k.slice('ip-to-country/'.length)] ?? '??'}\r\n`).join('') + '250 OK\r\n');
    } else s.write('510 Unrecognized command\r\n');
  });
  closers.push(server.close);
  const client = await connect({ control: server.address });
  closers.push(() => client.close());
  return { server, client };
}

function data(key: string, lines: string[]): string {
  return `250+${key}=\r\n${lines.map((l) => `${l}\r\n`).join('')}.\r\n`;
}

async function started(options: Parameters<typeof fakeState>[0] = {}): Promise<{ state: TorState; client: TorClient; server: Awaited<ReturnType<typeof fakeState>>['server']; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const script = options.script;
  const { server, client } = await fakeState({
    ...options,
    script: (line, s) => {
      if (!sockets.includes(s)) sockets.push(s);
      return script?.(line, s);
    },
  });
  const state = await TorState.create(client);
  closers.unshift(() => state.close());
  return { state, client, server, sockets };
}

/** Send events on the control connection and let the client take them in. */
async function emit(socket: net.Socket, client: TorClient, ...lines: string[]) {
  socket.write(lines.map((l) => (l.includes('\n') ? l : `650 ${l}\r\n`)).join(''));
  await client.getInfo('version').catch(() => {});
}

describe('TorState start-up', () => {
  it('loads circuits, streams and routers with countries and microdescriptor exit policies', async () => {
    const { state } = await started({
      snapshot: {
        circuits: [`3 BUILT ${path(FP.guard, FP.relay, FP.exit)} BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL ${TIME}`, '4 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL'],
        streams: ['12 SUCCEEDED 3 www.example.com:443'],
      },
    });
    expect([...state.circuits.keys()]).toEqual(['3', '4']);
    const c3 = state.circuits.get('3')!;
    expect(c3).toMatchObject({ status: 'BUILT', purpose: 'GENERAL', buildFlags: ['NEED_CAPACITY'] });
    expect(c3.path.map((h) => h.fingerprint)).toEqual([FP.guard, FP.relay, FP.exit]);
    expect(c3.routers.map((r) => r?.nickname)).toEqual([undefined, 'relay', 'exit']);
    expect(c3.timeCreated).toEqual(new Date(Date.UTC(2026, 10, 27, 4, 59, 43, 284)));
    expect(c3.streams.map((s) => s.id)).toEqual(['12']);
    const s12 = state.streams.get('12')!;
    expect(s12).toMatchObject({ status: 'SUCCEEDED', circuitId: '3', target: { host: 'www.example.com', port: 443 } });
    expect(s12.circuit).toBe(c3);

    const relay = state.routers.get(FP.relay)!;
    const exit = state.routers.get(FP.exit)!;
    expect(relay).toMatchObject({ nickname: 'relay', country: 'us', bandwidth: 20 });
    expect(relay.exitPolicy).toBeUndefined();
    expect(exit.country).toBeUndefined();
    expect(exit.exitPolicy).toEqual({ action: 'accept', ports: [{ min: 80, max: 80 }, { min: 443, max: 443 }] });
    expect(state.router('exit')).toBe(exit);
    // Relays as events name them: the fingerprint decides, whatever the nickname says.
    for (const spec of [`$${FP.exit}~exit`, `$${FP.exit}=other`, FP.exit.toLowerCase(), `$${FP.exit}`]) expect(state.router(spec), spec).toBe(exit);
  });

  it('keeps an exit policy from the consensus entry without asking for the microdescriptor', async () => {
    const asked: string[] = [];
    const { state } = await started({
      snapshot: { ns: entry('full', FP.relay, '10.0.0.1', 'Running', 'reject 1-65535') },
      script: (line) => void (line.startsWith('GETINFO md/') && asked.push(line)),
    });
    expect(state.routers.get(FP.relay)!.exitPolicy).toEqual({ action: 'reject', ports: [{ min: 1, max: 65535 }] });
    expect(asked).toEqual([]);
  });

  it('lets no snapshot undo what events reported while it was in flight', async () => {
    const { state } = await started({
      before: [`CIRC 5 CLOSED ${path(FP.relay)} PURPOSE=GENERAL REASON=FINISHED`, `CIRC 6 BUILT ${path(FP.relay, FP.exit)} PURPOSE=GENERAL`, 'STREAM 8 SUCCEEDED 6 a.test:80'],
      snapshot: {
        circuits: [`5 BUILT ${path(FP.relay)} PURPOSE=GENERAL`, `6 EXTENDED ${path(FP.relay)} PURPOSE=GENERAL`, `7 BUILT ${path(FP.exit)} PURPOSE=GENERAL`],
        streams: ['8 SENTCONNECT 6 a.test:80'],
      },
    });
    expect(state.circuits.has('5')).toBe(false);
    expect(state.circuit('5')?.status).toBe('CLOSED');
    expect(state.circuits.get('6')?.status).toBe('BUILT');
    expect(state.circuits.get('6')?.path).toHaveLength(2);
    expect(state.circuits.get('7')?.status).toBe('BUILT');
    expect(state.streams.get('8')?.status).toBe('SUCCEEDED');
  });
});

describe('TorState following events', () => {
  it('tracks a circuit through its life and its purpose changes (CIRC_MINOR)', async () => {
    const { state, client, sockets } = await started({ script: () => {} });
    const s = await socketOf(client, sockets);
    const seen: string[] = [];
    state.on('circuit', (c, e) => seen.push(`${c.id} ${e.type === 'CIRC' ? e.status : e.event} ${c.status} ${c.purpose}`));
    await emit(s, client, 'CIRC 9 LAUNCHED BUILD_FLAGS=IS_INTERNAL PURPOSE=HS_VANGUARDS', `CIRC 9 EXTENDED ${path(FP.guard)} PURPOSE=HS_VANGUARDS`, `CIRC 9 BUILT ${path(FP.guard, FP.relay)} PURPOSE=HS_VANGUARDS`);
    await emit(s, client, `CIRC_MINOR 9 PURPOSE_CHANGED ${path(FP.guard, FP.relay)} PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_CONNECTING REND_QUERY=abc OLD_PURPOSE=HS_VANGUARDS`);
    const c = state.circuits.get('9')!;
    expect(c).toMatchObject({ status: 'BUILT', purpose: 'HS_CLIENT_REND', hsState: 'HSCR_CONNECTING', rendQuery: 'abc' });
    await emit(s, client, `CIRC 9 CLOSED ${path(FP.guard, FP.relay)} PURPOSE=HS_CLIENT_REND REASON=FINISHED`);
    expect(state.circuits.has('9')).toBe(false);
    expect(c).toMatchObject({ status: 'CLOSED', reason: 'FINISHED', isOpen: false });
    expect(seen).toEqual(['9 LAUNCHED LAUNCHED HS_VANGUARDS', '9 EXTENDED EXTENDED HS_VANGUARDS', '9 BUILT BUILT HS_VANGUARDS', '9 PURPOSE_CHANGED BUILT HS_CLIENT_REND', '9 CLOSED CLOSED HS_CLIENT_REND']);
  });

  it('tracks a stream and keeps what only its NEW event said', async () => {
    const { state, client, sockets } = await started({ script: () => {} });
    const s = await socketOf(client, sockets);
    await emit(s, client, 'STREAM 21 NEW 0 b.test:443 SOURCE_ADDR=127.0.0.1:50000 PURPOSE=USER SOCKS_USERNAME="k"', 'STREAM 21 SENTCONNECT 4 b.test:443', 'STREAM 21 SUCCEEDED 4 b.test:443');
    expect(state.streams.get('21')).toMatchObject({ status: 'SUCCEEDED', circuitId: '4', sourceAddr: { host: '127.0.0.1', port: 50000 }, socksUsername: 'k', purpose: 'USER' });
    await emit(s, client, 'STREAM 21 CLOSED 4 b.test:443 REASON=DONE');
    expect(state.streams.has('21')).toBe(false);
    expect(state.stream('21')?.reason).toBe('DONE');
  });

  it('replaces routers on NEWCONSENSUS and updates one on NS', async () => {
    const { state, client, sockets } = await started({ script: () => {} });
    const s = await socketOf(client, sockets);
    const batches: string[][] = [];
    state.on('routers', (rs) => batches.push(rs.map((r) => r.nickname)));
    await emit(s, client, `650+NEWCONSENSUS\r\n${entry('exit', FP.exit, '10.0.0.2', 'Exit Running Valid').split('\n').join('\r\n')}\r\n.\r\n650 OK\r\n`);
    await expect.poll(() => [...state.routers.values()].map((r) => r.nickname)).toEqual(['exit']);
    await emit(s, client, `650+NS\r\n${entry('exit', FP.exit, '10.0.0.2', 'BadExit Exit Running Valid').split('\n').join('\r\n')}\r\n.\r\n650 OK\r\n`);
    await expect.poll(() => state.routers.get(FP.exit)?.flags).toContain('BadExit');
    expect(batches).toEqual([['exit'], ['exit']]);
    expect(state.routers.get(FP.exit)!.exitPolicy).toEqual({ action: 'accept', ports: [{ min: 80, max: 80 }, { min: 443, max: 443 }] });
  });
});

describe('TorState microdescriptors', () => {
  it('fetches a microdescriptor again only for routers whose digest changed or that have none', async () => {
    const asked: string[] = [];
    const { state, client, sockets } = await started({ script: (line) => void (line.startsWith('GETINFO md/') && asked.push(line.slice('GETINFO md/id/'.length, 'GETINFO md/id/'.length + 4))) });
    const s = await socketOf(client, sockets);
    expect(asked.sort()).toEqual([FP.exit.slice(0, 4), FP.relay.slice(0, 4)]);
    const ns = (digest: string) => {
      const exit = entry('exit', FP.exit, '10.0.0.2', 'Exit Running Valid').replace(`${b64(FP.exit)} 2038`, `${digest} 2038`);
      return `650+NS\r\n${[entry('relay', FP.relay, '10.0.0.1', 'Running Valid'), exit].join('\n').split('\n').join('\r\n')}\r\n.\r\n650 OK\r\n`;
    };
    const applied = () =>
      new Promise<void>((r) => {
        const off = state.on('routers', () => (off(), r()));
      });
    const before = state.routers.get(FP.exit)!.microdescriptor;
    asked.length = 0;
    let done = applied();
    await emit(s, client, ns(b64(FP.exit)));
    await done;
    expect(asked).toEqual([FP.relay.slice(0, 4)]);
    expect(state.routers.get(FP.exit)!.microdescriptor).toBe(before);
    asked.length = 0;
    done = applied();
    await emit(s, client, ns(b64(FP.guard)));
    await done;
    expect(asked.sort()).toEqual([FP.exit.slice(0, 4), FP.relay.slice(0, 4)]);
    expect(state.routers.get(FP.exit)!.microdescriptor).not.toBe(before);
  });
});

describe('TorState commands', () => {
  it('builds a circuit: EXTENDCIRCUIT with the path, resolved on BUILT even when BUILT beats the reply', async () => {
    const sent: string[] = [];
    const { state } = await started({
      script: (line, s) => {
        if (!line.startsWith('EXTENDCIRCUIT')) return false;
        sent.push(line);
        s.write(`650 CIRC 11 LAUNCHED PURPOSE=GENERAL\r\n650 CIRC 11 BUILT ${path(FP.relay, FP.exit)} PURPOSE=GENERAL\r\n250 EXTENDED 11\r\n`);
        return true;
      },
    });
    const c = await state.buildCircuit(['relay', FP.exit.toLowerCase()], { purpose: 'controller' });
    expect(sent).toEqual([`EXTENDCIRCUIT 0 relay,$${FP.exit} purpose=controller`]);
    expect(c).toMatchObject({ id: '11', status: 'BUILT' });
    expect(state.circuits.get('11')).toBe(c);
  });

  it("rejects with tor's reason when the circuit fails after the reply", async () => {
    const { state } = await started({
      script: (line, s) => {
        if (!line.startsWith('EXTENDCIRCUIT')) return false;
        s.write('250 EXTENDED 12\r\n');
        setTimeout(() => s.write(`650 CIRC 12 FAILED ${path(FP.relay)} PURPOSE=GENERAL REASON=DESTROYED REMOTE_REASON=CHANNEL_CLOSED\r\n`), 20);
        return true;
      },
    });
    const err = await state.buildCircuit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitError);
    expect(err).toMatchObject({ circuitId: '12', status: 'FAILED', reason: 'DESTROYED', remoteReason: 'CHANNEL_CLOSED' });
  });

  it('rejects a circuit that failed before the EXTENDED reply arrived', async () => {
    const { state } = await started({
      script: (line, s) => line.startsWith('EXTENDCIRCUIT') && (s.write('650 CIRC 13 FAILED PURPOSE=GENERAL REASON=NOPATH\r\n250 EXTENDED 13\r\n'), true),
    });
    await expect(state.buildCircuit()).rejects.toMatchObject({ circuitId: '13', reason: 'NOPATH' });
  });

  it('times out waiting for BUILT with the last status in the message, and closes the circuit it gave up on', async () => {
    const closed: string[] = [];
    const { state } = await started({
      script: (line, s) => {
        if (line.startsWith('EXTENDCIRCUIT')) s.write('250 EXTENDED 14\r\n650 CIRC 14 LAUNCHED PURPOSE=GENERAL\r\n');
        else if (line.startsWith('CLOSECIRCUIT')) s.write((closed.push(line), '250 OK\r\n'));
        else return false;
        return true;
      },
    });
    await expect(state.buildCircuit([], { timeout: 50 })).rejects.toThrow(/circuit 14 not BUILT within 50 ms \(last status LAUNCHED\)/);
    expect(closed).toEqual(['CLOSECIRCUIT 14']);
  });

  it('closes circuits and streams and waits for tor to report them closed', async () => {
    const sent: string[] = [];
    const { state } = await started({
      snapshot: { circuits: [`15 BUILT ${path(FP.relay)} PURPOSE=GENERAL`], streams: ['31 SUCCEEDED 15 c.test:80'] },
      script: (line, s) => {
        if (line.startsWith('CLOSESTREAM')) s.write('250 OK\r\n650 STREAM 31 CLOSED 15 c.test:80 REASON=END REMOTE_REASON=DONE\r\n');
        else if (line.startsWith('CLOSECIRCUIT')) s.write(`250 OK\r\n650 CIRC 15 CLOSED ${path(FP.relay)} PURPOSE=GENERAL REASON=REQUESTED\r\n`);
        else return false;
        sent.push(line);
        return true;
      },
    });
    await state.streams.get('31')!.close('DONE');
    await state.circuits.get('15')!.close();
    expect(sent).toEqual(['CLOSESTREAM 31 6', 'CLOSECIRCUIT 15']);
    expect(state.circuits.size + state.streams.size).toBe(0);
  });
});

/** The server side of the client's connection (the one that sent a command last). */
async function socketOf(client: TorClient, sockets: net.Socket[]): Promise<net.Socket> {
  await client.getInfo('version').catch(() => {});
  return sockets.at(-1)!;
}
