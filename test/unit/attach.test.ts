import { describe, expect, it } from 'vitest';
import { choosePath } from '../../src/reconcile/attach/engine.js';
import { globToRegExp, PolicyMatcher } from '../../src/reconcile/attach/match.js';
import type { Router } from '../../src/tor/state/index.js';
import type { AttachPolicy } from '../../src/spec/model.js';

const at = { file: 't', line: 1, col: 1 };
const p = (name: string, match: AttachPolicy['match'], action: AttachPolicy['action'] = 'tor'): AttachPolicy => ({ name, match, action, onFailure: 'tor', deadlineMs: 1000, source: at });

describe('policy matching (first match wins)', () => {
  const m = new PolicyMatcher({
    policies: [
      p('bank', { hosts: ['*.bank.example'], ports: [[443, 443]] }, 'circuit'),
      p('lan', { cidrs: ['10.0.0.0/8', '2001:db8::/32'] }, 'reject'),
      p('onions', { onion: true }),
      p('alice', { socksUsername: 'alice-*' }, 'circuit'),
      p('group', { sessionGroup: 7 }, 'reject'),
      p('high', { ports: [[8000, 8099]] }),
    ],
    default: 'reject',
    source: at,
  });
  it.each([
    [{ host: 'www.bank.example', port: 443 }, 'bank'],
    [{ host: 'WWW.Bank.Example.', port: 443 }, 'bank'],
    [{ host: 'www.bank.example', port: 80 }, undefined],
    [{ host: 'bank.example', port: 443 }, undefined],
    // The glob is anchored at both ends: a name merely containing the pattern is another site.
    [{ host: 'www.bank.example.evil.net', port: 443 }, undefined],
    [{ host: 'evil.net.www.bank.example', port: 443 }, 'bank'],
    [{ host: 'www.bank.examplex', port: 443 }, undefined],
    [{ host: '10.1.2.3', port: 22 }, 'lan'],
    [{ host: '[2001:db8::1]', port: 22 }, 'lan'],
    [{ host: '11.1.2.3', port: 22 }, undefined],
    [{ host: 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd.onion', port: 80 }, 'onions'],
    [{ host: 'example.org', port: 80, socksUsername: 'alice-1' }, 'alice'],
    [{ host: 'example.org', port: 80, socksUsername: 'bob' }, undefined],
    [{ host: 'example.org', port: 80, sessionGroup: 7 }, 'group'],
    [{ host: 'example.org', port: 8080 }, 'high'],
  ])('%j → %s', (stream, name) => {
    const d = m.decide(stream);
    expect(d.policy?.name).toBe(name);
    if (!d.policy) expect(d).toEqual({ policy: undefined, action: 'reject' });
  });

  it('globs escape regular-expression characters', () => {
    expect(globToRegExp('a+b.example').test('a+b.example')).toBe(true);
    expect(globToRegExp('a+b.example').test('aab.example')).toBe(false);
    expect(globToRegExp('host-?.example').test('host-1.example')).toBe(true);
    expect(globToRegExp('*.bank.example').test('www.bank.example.evil.net')).toBe(false);
    expect(globToRegExp('www.bank.*').test('evil.www.bank.example')).toBe(false);
  });
});

describe('path choice', () => {
  const fp = (c: string) => c.repeat(40);
  const router = (c: string, flags: string[], extra: Partial<Router> = {}): Router => ({
    nickname: `r${c}`,
    fingerprint: fp(c),
    digest: fp(c),
    published: new Date(0),
    address: '127.0.0.1',
    orPort: 1,
    dirPort: 0,
    orAddresses: [],
    flags: ['Running', 'Valid', ...flags],
    unmeasured: false,
    bandwidth: 100,
    ...extra,
  });
  const acceptAll = { action: 'accept' as const, ports: [{ min: 1, max: 65535 }] };
  const routers = [
    router('A', ['Guard'], { microdescriptor: { exitPolicy: { action: 'reject', ports: [{ min: 1, max: 65535 }] }, family: [`$${fp('B')}`] } }),
    router('B', ['Guard']),
    router('C', []),
    router('D', ['Exit'], { country: 'de', exitPolicy: acceptAll }),
    router('E', ['Exit'], { country: 'us', exitPolicy: { action: 'accept', ports: [{ min: 80, max: 80 }] } }),
    router('F', ['Exit', 'BadExit'], { country: 'de', exitPolicy: acceptAll }),
  ];
  const ctx = (ownFamily: string[] = [], random = () => 0.5) => ({ routers, lookup: (h: string) => routers.find((r) => `$${r.fingerprint}` === h || r.nickname === h), ownFamily: new Set(ownFamily), random });

  it('puts a guard first and an exit in the wanted country, allowing the port, last', () => {
    for (let i = 0; i < 50; i++) {
      const path = choosePath({ isolate: 'none', exitCountries: ['de'] }, 443, ctx([], Math.random));
      expect(path[0]!.flags).toContain('Guard');
      expect(path[2]!.fingerprint).toBe(fp('D'));
      expect(new Set(path).size).toBe(3);
    }
    expect(() => choosePath({ isolate: 'none', exitCountries: ['us'] }, 443, ctx())).toThrow(/no exit relay in us allows port 443/);
  });

  it('never picks two relays of one family, nor one of this tor own family', () => {
    for (let i = 0; i < 50; i++) {
      const fps = choosePath({ isolate: 'none' }, 80, ctx([], Math.random)).map((r) => r.fingerprint);
      expect(fps.includes(fp('A')) && fps.includes(fp('B'))).toBe(false);
      const own = choosePath({ isolate: 'none' }, 80, ctx([fp('B'), fp('C')], Math.random)).map((r) => r.fingerprint);
      expect(own).not.toContain(fp('B'));
      expect(own).not.toContain(fp('C'));
    }
  });

  it('takes pinned hops as given and chooses only the * ones', () => {
    const path = choosePath({ isolate: 'none', path: ['*', 'rC', `$${fp('E')}`] }, 80, ctx());
    expect(path.map((r) => r.nickname).slice(1)).toEqual(['rC', 'rE']);
    expect(path[0]!.flags).toContain('Guard');
  });
});
