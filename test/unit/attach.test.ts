import { describe, expect, it } from 'vitest';
import { globToRegExp, PolicyMatcher } from '../../src/reconcile/attach/match.js';
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
  });
});
