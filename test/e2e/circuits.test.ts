/**
 * TorState, circuits, streams and DNS over tor on a private network (see test/net/network.ts).
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplyError } from '../../src/tor/errors.js';
import type { StreamEvent } from '../../src/tor/events.js';
import { torConnect, torFetch, resolve, resolvePtr, HostUnreachableError, connectVia } from '../../src/tor/socks/index.js';
import { CircuitError, policyAllows, TorState, type Router, type Stream } from '../../src/tor/state/index.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';
import { startHoldTarget, startHttpTarget, type Target } from '../net/targets.js';

const HOSTS = {
  'www.example.test': ['10.1.2.3'],
  'pub.example.test': ['192.0.2.7'],
  'web.test': ['127.0.0.1'],
};

let net: PrivateNetwork;
let state: TorState;
let web: Target;
let hold: Target;
/** Resolves when the model has taken in a NEWCONSENSUS published after it started (one every 10 s). */
let nextConsensus: Promise<Router[]>;

beforeAll(async () => {
  net = await startNetwork({ hosts: HOSTS });
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms (${net.dir})`);
  [web, hold] = await Promise.all([startHttpTarget(), startHoldTarget()]);
  state = await TorState.create(net.client.client);
  nextConsensus = new Promise((r) => {
    const off = state.on('routers', (routers) => {
      if (routers.length === net.nodes.filter((n) => n.fingerprint).length) {
        off();
        r(routers);
      }
    });
  });
});

afterAll(async () => {
  await state?.close();
  await Promise.all([web?.close(), hold?.close()]);
  await net?.stop();
});

const fp = (name: string) => net.nodes.find((n) => n.name === name)!.fingerprint!;

/** The stream tor made for one of our SOCKS connections: STREAM NEW reports its source port. */
async function streamOf(socket: Socket): Promise<Stream> {
  let found: Stream | undefined;
  await expect.poll(() => (found = [...state.streams.values()].find((s) => s.sourceAddr?.port === socket.localPort && s.status === 'SUCCEEDED'))).toBeDefined();
  return found!;
}

describe('TorState routers', () => {
  it('lists every relay with its address, ports, flags, bandwidth, country and exit policy', () => {
    const relays = net.nodes.filter((n) => n.fingerprint);
    expect(state.routers.size).toBe(relays.length);
    for (const node of relays) {
      const r = state.routers.get(node.fingerprint!);
      expect(r, node.name).toMatchObject({ nickname: node.name, address: node.address, orPort: node.orPort, country: node.country });
      expect(r!.flags).toEqual(expect.arrayContaining(['Running', 'Valid']));
      expect(typeof r!.bandwidth).toBe('number');
      const exit = node.role === 'exit';
      expect(r!.flags.includes('Exit'), node.name).toBe(exit);
      expect(r!.flags.includes('Authority'), node.name).toBe(node.role === 'authority');
      expect(policyAllows(r!.exitPolicy!, 80), node.name).toBe(exit);
    }
    expect(net.exits.map((e) => state.routers.get(e.fingerprint!)!.country)).toEqual(['us', 'de']);
  });

  it('finds routers by nickname, $FP, $FP~nick and bare fingerprint', () => {
    const exit1 = fp('exit1');
    for (const spec of ['exit1', `$${exit1}`, `$${exit1}~exit1`, exit1.toLowerCase()]) expect(state.router(spec)?.fingerprint, spec).toBe(exit1);
    expect(state.router('nosuchrelay')).toBeUndefined();
  });
});

describe('circuits', () => {
  it('builds a circuit on a pinned path and reports it BUILT with path, purpose and age', async () => {
    const circuit = await state.buildCircuit(['relay1', fp('relay2'), state.router('exit1')!]);
    expect(circuit.status).toBe('BUILT');
    expect(circuit.path.map((h) => h.nickname)).toEqual(['relay1', 'relay2', 'exit1']);
    expect(circuit.routers.map((r) => r?.nickname)).toEqual(['relay1', 'relay2', 'exit1']);
    expect(circuit.purpose).toBe('GENERAL');
    expect(circuit.age).toBeGreaterThanOrEqual(-1000);
    expect(circuit.age).toBeLessThan(60_000);
    expect(state.circuits.get(circuit.id)).toBe(circuit);
    await circuit.close();
  });

  it("rejects with tor's reason when the circuit fails", async () => {
    // A relay refuses to extend a circuit back to itself.
    const err = await state.buildCircuit(['relay1', 'relay1']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitError);
    expect(err).toMatchObject({ status: 'FAILED', reason: expect.any(String) });
    expect((err as CircuitError).message).toContain((err as CircuitError).reason);
    expect(state.circuits.has((err as CircuitError).circuitId)).toBe(false);
  });

  it("rejects with tor's refusal when a hop is unknown", async () => {
    const err = await state.buildCircuit(['relay1', 'F'.repeat(40)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplyError);
    expect((err as ReplyError).code).toBe(552);
  });

  it('closes a circuit: CLOSED with REASON=REQUESTED, gone from the model and from tor', async () => {
    const circuit = await state.buildCircuit(['relay2', 'relay1', 'exit2']);
    await circuit.close();
    expect(circuit.status).toBe('CLOSED');
    expect(circuit.reason).toBe('REQUESTED');
    expect(state.circuits.has(circuit.id)).toBe(false);
    expect(state.circuit(circuit.id)).toBe(circuit);
    const live = await net.client.client.getInfo('circuit-status');
    expect(live.split('\n').map((l) => l.split(' ')[0])).not.toContain(circuit.id);
  });
});

describe('streams on chosen circuits', () => {
  it.each([
    ['exit1', 'us'],
    ['exit2', 'de'],
  ])('a stream on a circuit pinned through %s leaves through it (country %s)', async (exitName, country) => {
    const circuit = await state.buildCircuit(['relay1', 'relay2', exitName]);
    const events: StreamEvent[] = [];
    const off = state.on('stream', (_s, e) => events.push(e));
    try {
      const res = await torFetch(`http://127.0.0.1:${web.port}/via-${exitName}`, { circuit });
      expect(res.status).toBe(200);
      expect(res.text()).toBe(`hello /via-${exitName}`);
      const id = res.stream!.id;
      await expect.poll(() => events.find((e) => e.id === id && e.status === 'SUCCEEDED')?.circuitId).toBe(circuit.id);
      expect(events.filter((e) => e.id === id).map((e) => e.status)).toEqual(expect.arrayContaining(['NEW', 'SENTCONNECT', 'SUCCEEDED']));
      const last = state.circuit(circuit.id)!.routers.at(-1)!;
      expect(last.fingerprint).toBe(fp(exitName));
      expect(last.country).toBe(country);
    } finally {
      off();
      await circuit.close();
    }
  });

  it('restores __LeaveStreamsUnattached after attaching, and ordinary streams still work meanwhile', async () => {
    const circuit = await state.buildCircuit(['relay2', 'relay1', 'exit1']);
    const [via, plain] = await Promise.all([
      connectVia(state, circuit, '127.0.0.1', hold.port),
      torFetch(`http://127.0.0.1:${web.port}/plain`, { socks: net.socks, isolation: 'plain-during-attach' }),
    ]);
    expect(plain.text()).toBe('hello /plain');
    await expect.poll(() => via.stream.circuitId).toBe(circuit.id);
    expect((await net.client.client.getConf(['__LeaveStreamsUnattached'])).get('__LeaveStreamsUnattached')).toEqual(['0']);
    via.socket.destroy();
    await circuit.close();
  });

  it('closes a stream with a reason: the application sees the connection end', async () => {
    const socket = await torConnect(net.socks, '127.0.0.1', hold.port, { isolation: 'stream-close' });
    const stream = await streamOf(socket);
    const ended = once(socket, 'close');
    await stream.close('DONE');
    await ended;
    expect(stream.status).toBe('CLOSED');
    expect(state.streams.has(stream.id)).toBe(false);
  });

  it('isolates streams with different isolation keys onto different circuits', async () => {
    const sockets = await Promise.all(['alice', 'bob'].map((key) => torConnect(net.socks, '127.0.0.1', hold.port, { isolation: key })));
    try {
      const [a, b] = await Promise.all(sockets.map(streamOf));
      expect(a!.socksUsername).toBe('alice');
      expect(b!.socksUsername).toBe('bob');
      expect(a!.circuitId).not.toBe(b!.circuitId);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

describe('DNS through tor', () => {
  it('resolves a name at the exit', async () => {
    expect(await resolve(net.socks, 'www.example.test')).toBe('10.1.2.3');
    expect(net.dns.queries).toContain('A www.example.test');
  });

  it('resolves an address back to its name (RESOLVE_PTR)', async () => {
    expect(await resolvePtr(net.socks, '192.0.2.7')).toBe('pub.example.test');
  });

  it('fails a name that does not exist with HostUnreachableError', async () => {
    const err = await resolve(net.socks, 'nonexistent.example.test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect(err).toMatchObject({ code: 0x04, target: 'RESOLVE nonexistent.example.test' });
  });

  it('connects to a name the exit resolves (never resolved locally)', async () => {
    const res = await torFetch(`http://web.test:${web.port}/by-name`, { socks: net.socks });
    expect(res.text()).toBe('hello /by-name');
    expect(net.dns.queries).toContain('A web.test');
  });
});

describe('TorState follows tor', () => {
  it('matches circuit-status and stream-status after churn', async () => {
    const built = await Promise.all([
      state.buildCircuit(['relay1', 'relay2', 'exit1']),
      state.buildCircuit(['relay2', 'relay1', 'exit2']),
      state.buildCircuit(['relay1', 'exit2']),
    ]);
    await built[0]!.close();
    const sockets = await Promise.all(['churn-1', 'churn-2', 'churn-3'].map((key) => torConnect(net.socks, '127.0.0.1', hold.port, { isolation: key })));
    const streams = await Promise.all(sockets.map(streamOf));
    await streams[0]!.close('MISC');
    sockets[1]!.destroy();
    await net.client.client.signal('NEWNYM');
    await built[2]!.close({ ifUnused: true });

    const live = async () => {
      const info = await net.client.client.getInfo(['circuit-status', 'stream-status']);
      const circuits = lines(info['circuit-status']).map((l) => {
        const [id, status, path] = l.split(' ');
        const purpose = /PURPOSE=(\S+)/.exec(l)?.[1];
        return `${id} ${status} ${purpose} ${path?.startsWith('$') ? path.split(',').map((h) => h.slice(1, 41)).join(',') : ''}`;
      });
      const streams = lines(info['stream-status']).map((l) => l.split(' ').slice(0, 4).join(' '));
      return { circuits: circuits.sort(), streams: streams.sort() };
    };
    const model = () => ({
      circuits: [...state.circuits.values()].map((c) => `${c.id} ${c.status} ${c.purpose} ${c.path.map((h) => h.fingerprint).join(',')}`).sort(),
      streams: [...state.streams.values()].map((s) => `${s.id} ${s.status} ${s.circuitId} ${s.target.host}:${s.target.port}`).sort(),
    });
    // tor keeps building and retiring circuits on its own: compare until a moment when both agree.
    await expect.poll(async () => {
      const l = await live();
      return { same: JSON.stringify(l) === JSON.stringify(model()), live: l, model: model() };
    }, { timeout: 15_000, interval: 250 }).toMatchObject({ same: true });
    expect(model().streams.length).toBeGreaterThanOrEqual(1);
    for (const s of sockets) s.destroy();
  });

  it('takes in the next consensus', async () => {
    const routers = await nextConsensus;
    expect(routers.map((r) => r.nickname).sort()).toEqual(net.nodes.filter((n) => n.fingerprint).map((n) => n.name).sort());
    expect(state.routers.get(fp('exit2'))!.country).toBe('de');
  }, 40_000);
});

function lines(value: string | undefined): string[] {
  return (value ?? '').split('\n').filter(Boolean);
}
