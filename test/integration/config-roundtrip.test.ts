/**
 * Sends toTor() output to a real tor with SETCONF, reads it back with GETCONF and checks sameValue():
 * the config model's claim that the two compare equal exactly when tor stores the same thing.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMMUTABLE_OPTIONS } from '../../src/tor/config/immutable.js';
import { sameValue, toTor, type InputValue } from '../../src/tor/config/normalize.js';
import { OptionTable, type OptionInfo } from '../../src/tor/config/types.js';
import { commands } from '../../src/tor/protocol/encoder.js';
import { startTestTor, type TestTor } from '../helpers/tor.js';

const table = OptionTable.bundled();
let tor: TestTor | undefined;

beforeAll(async () => {
  tor = await startTestTor();
});

afterAll(async () => {
  await tor?.cleanup();
});

function info(name: string): OptionInfo {
  const found = table.get(name);
  if (!found) throw new Error(`no option ${name}`);
  return found;
}

/** The raw outcome (code and text), not a thrown error: the refusal tests look at tor's exact answer. */
async function setConf(option: OptionInfo, values: string[]): Promise<{ code: number; text: string }> {
  const entries = values.length ? values.map((v) => [option.name, v] as const) : [[option.name, null] as const];
  const reply = await tor!.client.connection.send(commands.setConf(entries));
  return { code: reply.code, text: reply.lines.map((l) => l.text).join('\n') };
}

async function getConf(option: OptionInfo): Promise<string[]> {
  return (await tor!.client.getConf([option.name])).get(option.name) ?? [];
}

async function reset(option: OptionInfo): Promise<void> {
  await tor!.client.resetConf([option.name]);
}

const SAME: Array<[option: string, input: InputValue]> = [
  ['MaxCircuitDirtiness', '10 minutes'],
  ['MaxCircuitDirtiness', 600],
  ['MaxCircuitDirtiness', '1.5 hours'],
  ['HeartbeatPeriod', '3 months'],
  ['LogTimeGranularity', '2 seconds'],
  ['MaxOnionQueueDelay', '1750 msec'],
  ['BandwidthRate', '100 KBytes'],
  ['BandwidthRate', '8 kbits'],
  ['MaxMemInQueues', '1 tbit'],
  ['AccountingMax', '0.5 GB'],
  ['NumEntryGuards', 3],
  ['NumEntryGuards', null],
  ['PathBiasCircThreshold', -5],
  ['PathsNeededToBuildCircuits', 0.75],
  ['CircuitPriorityHalflife', '0.0078125'],
  ['CircuitPriorityHalflife', 1e-7],
  ['CircuitPriorityHalflife', '123456789.123456789'],
  ['KISTSockBufSizeFactor', 2.5],
  ['CircuitPadding', false],
  ['CircuitPadding', null],
  ['ConnectionPadding', 'AUTO'],
  ['ConfluxEnabled', true],
  ['LongLivedPorts', [80, 443]],
  ['LongLivedPorts', null],
  ['Schedulers', 'Vanilla, KIST'],
  ['AutomapHostsSuffixes', '.onion, .Exit'],
  ['ExitNodes', '{us}, {de}'],
  ['ExitNodes', ['$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~foo', '{US}']],
  ['ExcludeNodes', '{cn}'],
  ['ExcludeExitNodes', ['{ru}', '{??}']],
  ['ContactInfo', 'café'],
  ['ContactInfo', '#hash'],
  ['ContactInfo', '  spaced  '],
  ['ContactInfo', 'tab\there "quoted"'],
  ['ContactInfo', null],
  ['Nickname', 'MyRelay'],
  ['SafeLogging', 'relay'],
  ['Log', ['notice stdout', 'warn stdout']],
  ['ExitPolicy', ['accept *:80', 'reject *:*']],
  ['ReachableAddresses', '*:80, *:443'],
  ['SocksPort', ['auto IsolateDestAddr  IsolateDestPort', 'auto']],
  ['SocksPort', '0'],
];

/** tor clamps these in validation: the model cannot know, so they do not compare equal. */
const CLAMPED: Array<[option: string, input: InputValue]> = [
  ['MaxCircuitDirtiness', 0],
  ['MaxCircuitDirtiness', '31 days'],
  ['PathsNeededToBuildCircuits', 0.1],
];

describe('config round trip through tor', () => {
  it.each(SAME)('%s = %j reads back as sent', async (option, input) => {
    const i = info(option);
    const sent = toTor(i, input);
    const set = await setConf(i, sent);
    expect(set, `SETCONF ${option}`).toEqual({ code: 250, text: 'OK' });
    const back = await getConf(i);
    expect(sameValue(i, sent, back), `sent ${JSON.stringify(sent)}, read back ${JSON.stringify(back)}`).toBe(true);
    await reset(i);
  });

  it.each(CLAMPED)('quirk: tor changes %s = %j', async (option, input) => {
    const i = info(option);
    const sent = toTor(i, input);
    expect((await setConf(i, sent)).code).toBe(250);
    expect(sameValue(i, sent, await getConf(i))).toBe(false);
    await reset(i);
  });

  it.each([
    ['DataDirectory', '/tmp/tor-reconcile-elsewhere'],
    ['RunAsDaemon', true],
    ['Sandbox', true],
    ['User', 'nobody'],
    ['HardwareAccel', true],
    ['TokenBucketRefillInterval', '200 msec'],
    ['KeepBindCapabilities', false],
    ['SyslogIdentityTag', 'tor-reconcile'],
  ] as Array<[string, InputValue]>)('refuses to change immutable %s', async (option, input) => {
    const i = info(option);
    expect(IMMUTABLE_OPTIONS.has(i.name)).toBe(true);
    expect(i.immutable).toBe(true);
    const set = await setConf(i, toTor(i, input));
    expect(set.code).toBe(553);
    expect(set.text).toContain(`Transition not allowed: While Tor is running, changing ${i.name} is not allowed`);
  });

  it('changes a mutable file option', async () => {
    const i = info('GeoIPFile');
    const file = path.join(tor!.dataDirectory, 'no-such-geoip');
    expect(await setConf(i, toTor(i, file))).toEqual({ code: 250, text: 'OK' });
    expect(await getConf(i)).toEqual([file]);
    await reset(i);
  });
});
