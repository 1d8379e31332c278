/**
 * The live state's fingerprint decides whether a saved plan is stale: it must change with anything the plan
 * read, and must not depend on the order maps were filled in.
 */
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/reconcile/live.js';
import { recordKey } from '../../src/reconcile/local.js';
import type { EphemeralRecord, LiveServiceFiles, PathEntry, PathProbe, TorIdentity } from '../../src/reconcile/types.js';
import { liveState } from '../helpers/desired.js';

const rec = (name: string, address: string): EphemeralRecord => ({ target: 'unix:/t', spec: '/spec.yaml', name, address, keyFile: `/s/keys/${name}.key`, config: 'c', keyDigest: 'd' });
const records = (...rs: EphemeralRecord[]) => new Map(rs.map((r) => [recordKey(r.target, r.spec, r.name), r]));
const of = (parts: Parameters<typeof liveState>[0]) => {
  const { fingerprint: _omit, ...state } = liveState(parts);
  return fingerprint(state);
};

describe('the live fingerprint', () => {
  const a = rec('a', 'a'.repeat(56));
  const b = rec('b', 'b'.repeat(56));

  it('is the same for the same records and keys in any order', () => {
    expect(of({ records: records(a, b), ephemeralKeys: new Map([['a', { address: a.address }], ['b', { missing: true }]]) })).toBe(
      of({ records: records(b, a), ephemeralKeys: new Map([['b', { missing: true }], ['a', { address: a.address }]]) }),
    );
  });

  it('changes when a record is added, removed or replaced, and when a key changes', () => {
    const base = of({ records: records(a), ephemeralKeys: new Map([['a', { address: a.address }]]) });
    expect(of({ records: records(a, b), ephemeralKeys: new Map([['a', { address: a.address }]]) })).not.toBe(base);
    expect(of({ records: records(), ephemeralKeys: new Map([['a', { address: a.address }]]) })).not.toBe(base);
    expect(of({ records: records({ ...a, config: 'other' }), ephemeralKeys: new Map([['a', { address: a.address }]]) })).not.toBe(base);
    expect(of({ records: records(a), ephemeralKeys: new Map([['a', { address: b.address }]]) })).not.toBe(base);
  });

  it("changes with tor's user and with the owners and modes of the state directory and key files", () => {
    const entry = (mode: number, uid = 0): PathEntry => ({ path: '/s', in: '', kind: 'dir', uid, gid: 0, mode });
    const probe = (mode: number, uid = 0): PathProbe => ({ path: '/s', real: '/s', entries: [entry(mode, uid)] });
    const files = (dir: PathProbe, key: PathProbe) => ({ stateDirectory: dir, keyFiles: new Map([['/s/keys/keystore.json', key]]) });
    const user: TorIdentity = { name: 'debian-tor', uid: 101, gid: 101, groups: [101] };
    const base = of({ torUid: 101, torUser: user, localFiles: files(probe(0o700), probe(0o600)) });
    expect(of({ torUid: 101, torUser: user, localFiles: files(probe(0o700), probe(0o600)) })).toBe(base);
    expect(of({ torUid: 0, torUser: user, localFiles: files(probe(0o700), probe(0o600)) })).not.toBe(base);
    expect(of({ torUid: 101, torUser: { ...user, groups: [101, 4] }, localFiles: files(probe(0o700), probe(0o600)) })).not.toBe(base);
    expect(of({ torUid: 101, torUser: user, localFiles: files(probe(0o777), probe(0o600)) })).not.toBe(base);
    expect(of({ torUid: 101, torUser: user, localFiles: files(probe(0o700), probe(0o600, 1000)) })).not.toBe(base);
  });

  it("changes with what a service directory holds and with tor's torrc as persist reads it", () => {
    const dir = (parts: Partial<LiveServiceFiles>) => new Map([['/hs/web', { clients: new Map(), exists: true, mode: 0o700, hostname: 'a'.repeat(56), ...parts }]]);
    const base = of({ serviceFiles: dir({}) });
    expect(of({ serviceFiles: dir({}) })).toBe(base);
    expect(of({ serviceFiles: dir({ hostname: 'b'.repeat(56) }) })).not.toBe(base);
    expect(of({ serviceFiles: dir({ mode: 0o755 }) })).not.toBe(base);
    expect(of({ serviceFiles: dir({ exists: false, notDirectory: true }) })).not.toBe(of({ serviceFiles: dir({ exists: false }) }));
    const persist = { dropIn: null, included: true, configFile: '/etc/tor/torrc' };
    const withPersist = of({ persist });
    expect(of({ persist: { ...persist, torrcError: 'EACCES' } })).not.toBe(withPersist);
    expect(of({ persist: { ...persist, defaultsFile: '/usr/share/tor/tor-service-defaults-torrc' } })).not.toBe(withPersist);
    expect(of({ persist: { ...persist, torUser: 'debian-tor', torGid: 101 } })).not.toBe(withPersist);
  });
});
