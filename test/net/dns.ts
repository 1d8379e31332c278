/**
 * A tiny authoritative DNS server over UDP for the private network's exits: the sandbox has no working
 * resolver, and tor exits resolve with their own DNS client (not /etc/hosts), so without this every RESOLVE
 * fails. Answers A, AAAA and PTR from a fixed table; NXDOMAIN for anything else (tor's hijack detection
 * asks for random names and must get NXDOMAIN).
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface DnsServer {
  host: string;
  port: number;
  /** Queries received, as `TYPE name`, for tests that check who asked what. */
  queries: string[];
  close(): Promise<void>;
}

const TYPE = { A: 1, PTR: 12, AAAA: 28 } as const;

/** `records` maps a name (no trailing dot) to its IPv4 and/or IPv6 addresses; PTR answers are derived. */
export async function startDns(records: Record<string, string[]>, host = '127.0.0.1'): Promise<DnsServer> {
  const forward = new Map<string, string[]>();
  const reverse = new Map<string, string>();
  for (const [name, addrs] of Object.entries(records)) {
    forward.set(name.toLowerCase(), addrs);
    for (const a of addrs) reverse.set(reverseName(a), name);
  }
  const queries: string[] = [];
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (msg, peer) => {
    const q = parseQuery(msg);
    if (!q) return;
    queries.push(`${Object.entries(TYPE).find(([, v]) => v === q.type)?.[0] ?? q.type} ${q.name}`);
    const answers: Buffer[] = [];
    let exists = false;
    if (q.type === TYPE.PTR) {
      const target = reverse.get(q.name);
      if (target) {
        exists = true;
        answers.push(record(TYPE.PTR, encodeName(target)));
      }
    } else {
      const addrs = forward.get(q.name);
      if (addrs) {
        exists = true;
        for (const a of addrs) {
          if (q.type === TYPE.A && net.isIPv4(a)) answers.push(record(TYPE.A, Buffer.from(a.split('.').map(Number))));
          if (q.type === TYPE.AAAA && net.isIPv6(a)) answers.push(record(TYPE.AAAA, ipv6(a)));
        }
      }
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    // QR=1, opcode and RD copied, AA=1, RA=1; RCODE 3 (NXDOMAIN) for unknown names.
    header[2] = 0x84 | (msg[2]! & 0x79);
    header[3] = 0x80 | (exists ? 0 : 3);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  return {
    host,
    port: socket.address().port,
    queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** The question of a standard query; undefined for anything this server does not answer. */
function parseQuery(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    if (len > 63 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/** An answer pointing at the question's name (offset 12), class IN, TTL 60. */
function record(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(60, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function ipv6(a: string): Buffer {
  const [head = '', tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

function reverseName(a: string): string {
  if (net.isIPv4(a)) return `${a.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${[...ipv6(a).toString('hex')].reverse().join('.')}.ip6.arpa`;
}
