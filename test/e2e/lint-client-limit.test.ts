/**
 * TR017's limit on authorized clients per descriptor, measured: a service with that many clients (3
 * introduction points, tor's default), and one with 16 more (tor pads the list to a multiple of 16),
 * published on the private network; the encoded descriptor's size (GETINFO hs/service/desc/id) and the
 * HSDirs' answers (HS_DESC). Measured sizes: 14108 bytes at 0-32 clients, 27648 at 176-192, 41188 at 368;
 * at 384 tor builds no descriptor (the next 10000-byte step of the padded layer would exceed 50000).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TorClient } from '../../src/tor/client.js';
import type { HsDescEvent } from '../../src/tor/events.js';
import { generateClientAuthKeyPair } from '../../src/tor/onion/index.js';
import { maxAuthorizedClients } from '../../src/lint/rules/onion.js';
import { startNetwork, type PrivateNetwork } from '../net/network.js';

let net: PrivateNetwork;
beforeAll(async () => {
  net = await startNetwork();
  console.log(`private network bootstrapped in ${net.bootstrapMs} ms`);
}, 300_000);
afterAll(async () => {
  await net?.stop();
});

/** ADD_ONION with `clients` authorized clients; the descriptor's size and every HSDir's answer. */
async function publishWith(client: TorClient, clients: number, waitMs: number): Promise<{ size: number | undefined; uploaded: number; failed: string[] }> {
  const events: HsDescEvent[] = [];
  const off = await client.on('HS_DESC', (e) => void events.push(e));
  try {
    const keys = Array.from({ length: clients }, () => generateClientAuthKeyPair().publicKey);
    const { serviceId } = await client.addOnion({ key: 'NEW:ED25519-V3', ports: [{ port: 80, target: '127.0.0.1:9' }], clientAuthV3: keys });
    const deadline = Date.now() + waitMs;
    const mine = () => events.filter((e) => e.address === serviceId && e.hsDir);
    // Every UPLOAD answered (UPLOADED or FAILED), and at least one answer.
    while (Date.now() < deadline) {
      const m = mine();
      const asked = m.filter((e) => e.action === 'UPLOAD').length;
      const answered = m.filter((e) => e.action === 'UPLOADED' || e.action === 'FAILED').length;
      if (asked > 0 && answered >= asked) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const desc = await client.getInfo(`hs/service/desc/id/${serviceId}`).catch(() => undefined);
    const m = mine();
    return {
      size: typeof desc === 'string' ? Buffer.byteLength(desc) : undefined,
      uploaded: m.filter((e) => e.action === 'UPLOADED').length,
      failed: m.filter((e) => e.action === 'FAILED').map((e) => String(e.reason)),
    };
  } finally {
    await off();
  }
}

describe('TR017: clients per descriptor', () => {
  it('the estimated limit publishes; 16 more clients do not fit', async () => {
    const limit = maxAuthorizedClients(3);
    expect(limit).toBe(368);
    const fits = await publishWith(net.onion!.client, limit, 90_000);
    // A fitting descriptor is uploaded within seconds here; 30 s without an upload is "never".
    const over = await publishWith(net.onion!.client, limit + 16, 30_000);
    console.log(`descriptor with ${limit} clients: ${fits.size} bytes, ${fits.uploaded} uploaded, failed ${fits.failed}; with ${limit + 16}: ${over.size} bytes, ${over.uploaded} uploaded, failed ${over.failed}`);
    expect(fits.uploaded).toBeGreaterThan(0);
    expect(fits.failed).toEqual([]);
    expect(fits.size).toBeLessThanOrEqual(50_000);
    // tor builds no descriptor at all: nothing to upload, nothing in GETINFO.
    expect(over.uploaded).toBe(0);
    expect(over.size).toBeUndefined();
  }, 300_000);
});
