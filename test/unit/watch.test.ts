import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveDesired } from '../../src/reconcile/desired.js';
import { ConflictTracker } from '../../src/reconcile/watch/conflicts.js';
import { isEcho } from '../../src/reconcile/watch/echo.js';
import { missingOnions } from '../../src/reconcile/watch/onion-poll.js';
import { TriggerQueue } from '../../src/reconcile/watch/trigger-queue.js';
import type { Trigger } from '../../src/reconcile/watch/types.js';
import { OptionTable } from '../../src/tor/config/types.js';
import type { ConfChangedEvent } from '../../src/tor/events.js';
import { desiredState, fsService } from '../helpers/desired.js';

describe('conflict tracker', () => {
  const policy = { threshold: 3, windowMs: 60_000, backoffMs: 1_000, maxBackoffMs: 5_000 };

  it('is a conflict past the threshold within the window, and holds the item back for the backoff', () => {
    const t = new ConflictTracker(policy);
    for (const now of [0, 10, 20]) expect(t.noteReverts(['option:ContactInfo'], now)).toEqual([]);
    expect(t.heldBack(20)).toEqual(new Set());
    expect(t.noteReverts(['option:ContactInfo'], 30)).toEqual([{ id: 'option:ContactInfo', reverts: 4, backoffMs: 1_000 }]);
    expect(t.heldBack(30)).toEqual(new Set(['option:ContactInfo']));
    expect(t.heldBack(1_029)).toEqual(new Set(['option:ContactInfo']));
    expect(t.heldBack(1_030)).toEqual(new Set());
  });

  it('counts only reverts within the window', () => {
    const t = new ConflictTracker(policy);
    for (const now of [0, 30_000, 60_000, 90_000, 120_000]) expect(t.noteReverts(['option:ContactInfo'], now)).toEqual([]);
  });

  it('doubles the backoff at each further conflict, up to the maximum', () => {
    const t = new ConflictTracker(policy);
    for (const now of [0, 1, 2]) t.noteReverts(['option:A'], now);
    const backoffs = [3, 4, 5, 6, 7].map((now) => t.noteReverts(['option:A'], now)[0]?.backoffMs);
    expect(backoffs).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('tracks items apart, and reports conflicts in the order of the changes', () => {
    const t = new ConflictTracker({ ...policy, threshold: 0 });
    expect(t.noteReverts(['option:B', 'filesystem-service:web'], 0).map((c) => c.id)).toEqual(['option:B', 'filesystem-service:web']);
    expect(t.heldBack(500)).toEqual(new Set(['option:B', 'filesystem-service:web']));
    expect(t.noteReverts(['option:C'], 0)).toEqual([{ id: 'option:C', reverts: 1, backoffMs: 1_000 }]);
  });

  it('forgets items with no revert in the window and no backoff running, and everything on clear()', () => {
    const t = new ConflictTracker(policy);
    for (const now of [0, 1, 2, 3]) t.noteReverts(['option:A'], now);
    t.noteReverts(['option:B'], 10);
    expect(t.size).toBe(2);
    t.noteReverts(['option:C'], 60_005);
    expect(t.size).toBe(2);
    t.noteReverts(['option:C'], 60_011);
    expect(t.size).toBe(1);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.heldBack(60_011)).toEqual(new Set());
  });
});

describe('trigger queue', () => {
  let runs: Trigger[];
  let release: Array<() => void>;
  const run = (trigger: Trigger) => {
    runs.push(trigger);
    return new Promise<void>((r) => release.push(r));
  };
  const finishRun = async () => {
    release.shift()!();
    await vi.advanceTimersByTimeAsync(0);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    runs = [];
    release = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits for a quiet period and coalesces a burst into one run, named by its most important trigger', async () => {
    const q = new TriggerQueue(100, run);
    q.request('drift');
    await vi.advanceTimersByTimeAsync(60);
    q.request('spec');
    await vi.advanceTimersByTimeAsync(60);
    q.request('resync');
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toEqual(['spec']);
  });

  it('runs one at a time: requests during a run make one run after it', async () => {
    const q = new TriggerQueue(100, run);
    q.request('start', true);
    expect(runs).toEqual(['start']);
    q.request('drift', true);
    q.request('reconnect', true);
    expect(runs).toEqual(['start']);
    await finishRun();
    expect(runs).toEqual(['start', 'reconnect']);
    await finishRun();
    expect(runs).toEqual(['start', 'reconnect']);
  });

  it('is idle only when nothing runs or waits', async () => {
    const q = new TriggerQueue(100, run);
    await q.idle();
    let idle = false;
    q.request('drift');
    void q.idle().then(() => (idle = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toEqual(['drift']);
    expect(idle).toBe(false);
    await finishRun();
    expect(idle).toBe(true);
  });

  it('after stop, drops the scheduled run, ignores requests, and resolves once the run in progress is over', async () => {
    const q = new TriggerQueue(100, run);
    q.request('start', true);
    q.request('drift');
    let stopped = false;
    void q.stop().then(() => (stopped = true));
    q.request('spec', true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(false);
    await finishRun();
    expect(stopped).toBe(true);
    expect(runs).toEqual(['start']);
  });
});

describe('echo check', () => {
  const table = OptionTable.bundled();
  const at = { file: 'test.yaml', line: 1, col: 1 };
  const event = (changes: Array<[string, string | null]>): ConfChangedEvent => ({ type: 'CONF_CHANGED', raw: { code: 650, lines: [] }, changes });

  it('is an echo when every managed key has its desired value; unmanaged keys do not matter', () => {
    const r = resolveDesired(desiredState('/s', { options: { ContactInfo: 'me@example.org', NumEntryGuards: 2 } }));
    expect(isEcho(event([['ContactInfo', 'me@example.org'], ['NumEntryGuards', '2'], ['Nickname', 'x']]), r, table)).toBe(true);
    expect(isEcho(event([['contactinfo', 'someone-else']]), r, table)).toBe(false);
    expect(isEcho(event([['NumEntryGuards', null]]), r, table)).toBe(false);
  });

  it('compares the options native attach policies compile to', () => {
    const policy = { name: 'all', match: {}, action: 'circuit' as const, circuit: { exitCountries: ['ch'], isolate: 'none' as const }, onFailure: 'tor' as const, deadlineMs: 15_000, source: at };
    const r = resolveDesired(desiredState('/s', { attach: { policies: [policy], default: 'tor', source: at } }));
    expect(isEcho(event([['ExitNodes', '{ch}'], ['StrictNodes', '1']]), r, table)).toBe(true);
    expect(isEcho(event([['ExitNodes', '{de}']]), r, table)).toBe(false);
  });

  it('takes HiddenService lines for drift exactly when the spec manages the block', () => {
    const lines: Array<[string, string | null]> = [['HiddenServiceDir', null]];
    expect(isEcho(event(lines), resolveDesired(desiredState('/s', { onionServices: [fsService('web', '/hs/web', [[80, '127.0.0.1:8080']])] })), table)).toBe(false);
    expect(isEcho(event(lines), resolveDesired(desiredState('/s', { prune: true })), table)).toBe(false);
    expect(isEcho(event(lines), resolveDesired(desiredState('/s')), table)).toBe(true);
  });
});

describe('onion poll', () => {
  const a = 'a'.repeat(56);
  const b = 'b'.repeat(56);

  it('names the expected addresses absent from onions/detached, sorted', () => {
    expect(missingOnions(new Set([b, a]), '')).toEqual([a, b]);
    expect(missingOnions(new Set([a, b]), `${b}\n${'c'.repeat(56)}`)).toEqual([a]);
    expect(missingOnions(new Set([a]), ` ${a} \n`)).toEqual([]);
    expect(missingOnions(new Set(), b)).toEqual([]);
  });
});
