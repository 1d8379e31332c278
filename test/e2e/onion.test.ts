/**
 * Onion services on a private network: published by one tor (ADD_ONION), reached through another's SOCKS
 * port, with and without client authorization, and the typed errors when they cannot be reached.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddOnionOptions, TorClient } from '../../src/tor/client.js';
import type { HsDescEvent } from '../../src/tor/events.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import {
  OnionBadAddressError,
  OnionBadClientAuthError,
  OnionDescriptorNotFoundError,
  OnionMissingClientAuthError,
  OnionServiceError,
  SocksReplyError,
  torConnect,
  torFetch,
} from '../../src/tor/socks/index.js';
import { TorState } from '../../src/tor/state/index.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';
import { startHttpTarget, type Target } from '../net/targets.js';

let net: PrivateNetwork;
let web: Target;

beforeAll(async () => {
  net = await startNetwork();
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms (${net.dir})`);
  web = await startHttpTarget();
});

afterAll(async () => {
  await web?.close();
  await net?.stop();
});

/**
 * ADD_ONION, then wait until every HSDir it uploads to has acknowledged: a client asks one responsible HSDir
 * at random, gets "descriptor not found" from one that has not got it yet, and tor does not retry.
 * Each upload is announced (HS_DESC UPLOAD, one per HSDir and descriptor) before any finishes, so once an
 * upload has finished, none still to come is missing from the count. Subscribed first so none is missed.
 */
async function publish(client: TorClient, options: Omit<AddOnionOptions, 'key'>): Promise<string> {
  const events: HsDescEvent[] = [];
  let wake: () => void = () => {};
  const off = await client.on('HS_DESC', (e) => {
    events.push(e);
    wake();
  });
  try {
    const { serviceId } = await client.addOnion({ key: 'NEW:ED25519-V3', ...options });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`descriptors of ${serviceId} not uploaded within 60 s`)), 60_000);
      wake = () => {
        const pending = new Map<string, number>();
        let done = 0;
        for (const e of events) {
          if (e.address !== serviceId || !e.hsDir) continue;
          const dir = e.hsDir.fingerprint;
          if (e.action === 'UPLOAD') pending.set(dir, (pending.get(dir) ?? 0) + 1);
          else if (e.action === 'UPLOADED' || e.action === 'FAILED') {
            pending.set(dir, (pending.get(dir) ?? 0) - 1);
            if (e.action === 'UPLOADED') done++;
          }
        }
        if (done === 0 || [...pending.values()].some((n) => n > 0)) return;
        clearTimeout(timer);
        resolve();
      };
      wake();
    });
    return serviceId;
  } finally {
    await off();
  }
}

describe('onion services through the client', () => {
  it('fetches a page from an onion service, over an HS rendezvous circuit TorState sees', async () => {
    const state = await TorState.create(net.client.client);
    try {
      const id = await publish(net.onion!.client, { ports: [{ port: 80, target: `127.0.0.1:${web.port}` }] });
      const res = await torFetch(`http://${id}.onion/onion-page`, { socks: net.socks });
      expect(res.status).toBe(200);
      expect(res.text()).toBe('hello /onion-page');
      await expect.poll(() => [...state.circuits.values()].some((c) => c.rendQuery === id && c.purpose === 'HS_CLIENT_REND')).toBe(true);
    } finally {
      await state.close();
    }
  });

  it('needs the client-auth key: missing → OnionMissingClientAuthError, wrong → OnionBadClientAuthError, then works', async () => {
    const authorized = generateClientAuthKeyPair();
    const other = generateClientAuthKeyPair();
    const id = await publish(net.onion!.client, { ports: [{ port: 80, target: `127.0.0.1:${web.port}` }], clientAuthV3: [authorized.publicKey] });
    const client = net.client.client;

    const missing = await torConnect(net.socks, `${id}.onion`, 80).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OnionMissingClientAuthError);
    expect(missing).toBeInstanceOf(OnionServiceError);
    expect(missing).toMatchObject({ code: 0xf4, target: `${id}.onion:80` });
    expect((missing as Error).message).toMatch(/client authorization/);

    await client.onionClientAuthAdd({ address: id, privateKey: other.privateKeyBase64 });
    const wrong = await torConnect(net.socks, `${id}.onion`, 80).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(OnionBadClientAuthError);
    expect(wrong).toMatchObject({ code: 0xf5 });

    await client.onionClientAuthAdd({ address: id, privateKey: authorized.privateKeyBase64 });
    const res = await torFetch(`http://${id}.onion/with-auth`, { socks: net.socks });
    expect(res.text()).toBe('hello /with-auth');
  });

  it('reports an onion service nobody publishes as OnionDescriptorNotFoundError', async () => {
    // A valid v3 address (checksum and key check out) that no service on this network has.
    const err = await torConnect(net.socks, 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion', 80).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnionDescriptorNotFoundError);
    expect(err).toBeInstanceOf(SocksReplyError);
    expect(err).toMatchObject({ code: 0xf0 });
  });

  it('reports an address with a bad checksum as OnionBadAddressError', async () => {
    const err = await torConnect(net.socks, 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscrya.onion', 80).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnionBadAddressError);
    expect(err).toMatchObject({ code: 0xf6 });
  });
});
