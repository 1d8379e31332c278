import { describe, expect, it } from 'vitest';
import { IMMUTABLE_OPTIONS, SANDBOX_IMMUTABLE_OPTIONS } from '../../src/tor/config/immutable.js';
import { canonical, sameValue, toTor, ValueError, type InputValue } from '../../src/tor/config/normalize.js';
import { OptionTable, type OptionInfo } from '../../src/tor/config/types.js';
import bundledJson from '../../src/tor/config/tor-options.json' with { type: 'json' };

const table = OptionTable.bundled();

function info(name: string): OptionInfo {
  const found = table.get(name);
  if (!found) throw new Error(`no option ${name}`);
  return found;
}

/**
 * Observed on tor 0.4.9.11: `SETCONF Option=<input>` (quoted), then `GETCONF Option` (values unquoted).
 * For a list input each entry was its own `Option=` key. `null` is a bare `SETCONF Option`.
 */
const OBSERVED: Array<[option: string, input: InputValue, readBack: string[]]> = [
  ['MaxCircuitDirtiness', '10 minutes', ['600']],
  ['MaxCircuitDirtiness', '1 hour', ['3600']],
  ['MaxCircuitDirtiness', '90', ['90']],
  ['MaxCircuitDirtiness', '1.5 hours', ['5400']],
  ['MaxCircuitDirtiness', '10 MINUTES', ['600']],
  ['MaxCircuitDirtiness', '10minutes', ['600']],
  ['MaxCircuitDirtiness', '  10 minutes', ['600']],
  ['MaxCircuitDirtiness', '+600', ['600']],
  ['MaxCircuitDirtiness', '1.0e3', ['1000']],
  ['MaxCircuitDirtiness', '.5 hours', ['1800']],
  ['MaxCircuitDirtiness', '100.7', ['100']],
  ['MaxCircuitDirtiness', '2 weeks', ['1209600']],
  ['MaxCircuitDirtiness', '1 day', ['86400']],
  ['HeartbeatPeriod', '3 months', ['7889184']],
  ['NewCircuitPeriod', '2147483647', ['2147483647']],
  ['NewCircuitPeriod', '-0', ['0']],
  ['CircuitBuildTimeout', '010', ['10']],
  ['LogTimeGranularity', '2 seconds', ['2000']],
  ['LogTimeGranularity', '250', ['250']],
  ['LogTimeGranularity', '1 millisecond', ['1']],
  ['LogTimeGranularity', '1 minute', ['60000']],
  ['LogTimeGranularity', '1 week', ['604800000']],
  ['LogTimeGranularity', '0.5 seconds', ['500']],
  ['MaxOnionQueueDelay', '1750 msec', ['1750']],
  ['MaxOnionQueueDelay', '3 seconds', ['3000']],
  ['KISTSchedRunInterval', '10 MSEC', ['10']],
  ['KISTSchedRunInterval', '2 milliseconds', ['2']],
  ['TokenBucketRefillInterval', '100 msec', ['100']],
  ['BandwidthRate', '1 MB', ['1048576']],
  ['BandwidthRate', '100 KBytes', ['102400']],
  ['BandwidthRate', '8 kbits', ['1024']],
  ['BandwidthRate', '1 KB', ['1024']],
  ['BandwidthRate', '1 kb', ['1024']],
  ['BandwidthRate', '1000', ['1000']],
  ['BandwidthRate', '1.5 MB', ['1572864']],
  ['BandwidthRate', '1 GB', ['1073741824']],
  ['BandwidthRate', '10 mbit', ['1310720']],
  ['BandwidthRate', '1 megabit', ['131072']],
  ['BandwidthRate', '100 M', ['104857600']],
  ['BandwidthRate', '512 bytes', ['512']],
  ['BandwidthRate', '512 b', ['512']],
  ['BandwidthRate', '512 B', ['512']],
  ['BandwidthRate', '1 kilobyte', ['1024']],
  ['MaxMemInQueues', '1 TB', ['1099511627776']],
  ['MaxMemInQueues', '1 tbit', ['137438953472']],
  ['MaxMemInQueues', '300 MB', ['314572800']],
  ['MaxMemInQueues', '9223372036854775807', ['9223372036854775807']],
  ['AccountingMax', '10 GB', ['10737418240']],
  ['AccountingMax', '0.5 GB', ['536870912']],
  ['NumEntryGuards', '3', ['3']],
  ['NumEntryGuards', ' 3', ['3']],
  ['NumEntryGuards', '+3', ['3']],
  ['NumEntryGuards', '03', ['3']],
  ['NumEntryGuards', '2147483647', ['2147483647']],
  ['NumEntryGuards', null, ['0']],
  ['PathBiasCircThreshold', '-1', ['-1']],
  ['PathBiasCircThreshold', '-2147483648', ['-2147483648']],
  ['PathBiasCircThreshold', '50', ['50']],
  ['PathBiasCircThreshold', ' -5', ['-5']],
  ['__OwningControllerFD', '18446744073709551615', ['18446744073709551615']],
  ['PathsNeededToBuildCircuits', '0.5', ['0.500000']],
  ['PathsNeededToBuildCircuits', '0.75', ['0.750000']],
  ['PathsNeededToBuildCircuits', '.5', ['0.500000']],
  ['PathsNeededToBuildCircuits', '5e-1', ['0.500000']],
  ['PathsNeededToBuildCircuits', ' 0.5', ['0.500000']],
  ['PathsNeededToBuildCircuits', '-1', ['-1.000000']],
  ['CircuitPriorityHalflife', '30', ['30.000000']],
  ['CircuitPriorityHalflife', '1e20', ['100000000000000000000.000000']],
  ['CircuitPriorityHalflife', '0.0078125', ['0.007812']],
  ['CircuitPriorityHalflife', '0.0234375', ['0.023438']],
  ['CircuitPriorityHalflife', '0.0000001', ['0.000000']],
  ['CircuitPriorityHalflife', '-0.0000001', ['-0.000000']],
  ['CircuitPriorityHalflife', '0.1234565', ['0.123456']],
  ['CircuitPriorityHalflife', '1e-7', ['0.000000']],
  ['CircuitPriorityHalflife', '123456789.123456789', ['123456789.123457']],
  ['CircuitPriorityHalflife', '1.5E3', ['1500.000000']],
  ['CircuitPriorityHalflife', '+.5', ['0.500000']],
  ['CircuitPriorityHalflife', '5.', ['5.000000']],
  ['CircuitPriorityHalflife', '-0', ['-0.000000']],
  ['KISTSockBufSizeFactor', '2.5', ['2.500000']],
  ['DirAuthorityFallbackRate', '0.5', ['0.500000']],
  ['CircuitPadding', '0', ['0']],
  ['CircuitPadding', '1', ['1']],
  ['CircuitPadding', null, ['0']],
  ['ConnectionPadding', 'auto', ['auto']],
  ['ConnectionPadding', 'AUTO', ['auto']],
  ['ConnectionPadding', '1', ['1']],
  ['ConnectionPadding', '0', ['0']],
  ['ConnectionPadding', null, ['0']],
  ['ConfluxEnabled', 'Auto', ['auto']],
  ['LongLivedPorts', '80, 443', ['80,443']],
  ['LongLivedPorts', '80,,443, ', ['80,443']],
  ['LongLivedPorts', '', []],
  ['LongLivedPorts', null, []],
  ['LongLivedPorts', ' 22 ', ['22']],
  ['AutomapHostsSuffixes', '.onion, .Exit', ['.onion,.Exit']],
  ['AutomapHostsSuffixes', '.a ,.b', ['.a,.b']],
  ['TrackHostExits', 'example.com, .foo.org', ['example.com,.foo.org']],
  ['WarnPlaintextPorts', '23,23', ['23,23']],
  ['Schedulers', 'Vanilla, KIST', ['Vanilla,KIST']],
  ['ExitNodes', '{us}, {de}', ['{us},{de}']],
  ['ExitNodes', '{US}', ['{US}']],
  ['ExitNodes', '{us},{us}', ['{us},{us}']],
  ['ExitNodes', '{us} , ,{de}', ['{us},{de}']],
  ['ExitNodes', ' {us} ', ['{us}']],
  ['ExitNodes', '', []],
  ['ExitNodes', '$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', ['$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']],
  ['ExitNodes', '$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa~foo', ['$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa~foo']],
  ['ExitNodes', '1.2.3.0/24, foo', ['1.2.3.0/24,foo']],
  ['ExitNodes', ['{us}', '{de}'], ['{us},{de}']],
  ['ExitNodes', ['{us}', '{de}', '{fr}'], ['{us},{de},{fr}']],
  ['ExcludeNodes', ['{cn}', '{ru}'], ['{cn},{ru},{??}']],
  ['ExitNodes', '{??}', ['{??}']],
  // GeoIPExcludeUnknown at its default (auto): tor appends {??} once a country is excluded.
  ['ExcludeNodes', '{cn}', ['{cn},{??}']],
  ['ExcludeNodes', '{cn},{??}', ['{cn},{??}']],
  ['ExcludeNodes', '{??},{cn}', ['{??},{cn}']],
  ['ExcludeNodes', '{CN}', ['{CN},{??}']],
  ['ExcludeNodes', 'foo', ['foo']],
  ['ExcludeNodes', '{cn},{a1}', ['{cn},{a1},{??}']],
  ['ExcludeExitNodes', '{ru}', ['{ru},{??}']],
  ['EntryNodes', '{cn}', ['{cn}']],
  ['MiddleNodes', '{de}', ['{de}']],
  ['HSLayer2Nodes', '{de}', ['{de}']],
  ['ContactInfo', 'me@example.com', ['me@example.com']],
  ['ContactInfo', '  spaced  ', ['  spaced  ']],
  ['ContactInfo', '', []],
  ['ContactInfo', null, []],
  ['ContactInfo', 'café', ['café']],
  ['ContactInfo', '#hash', ['#hash']],
  ['ContactInfo', '"q', ['"q']],
  ['ContactInfo', 'tab\there', ['tab\there']],
  ['Nickname', 'MyRelay', ['MyRelay']],
  ['SafeLogging', 'relay', ['relay']],
  ['SafeLogging', 'RELAY', ['RELAY']],
  ['AccountingRule', '', []],
  ['GeoIPFile', '~/geoip', ['~/geoip']],
  ['GeoIPFile', '/tmp/../tmp/geoip', ['/tmp/../tmp/geoip']],
  ['GeoIPFile', 'relative/geoip', ['relative/geoip']],
  ['CookieAuthFile', '/tmp/x/', ['/tmp/x/']],
  ['Log', 'notice stdout', ['notice stdout']],
  ['Log', 'notice   stdout  ', ['notice   stdout  ']],
  ['Log', 'NOTICE stdout', ['NOTICE stdout']],
  ['Log', ['notice stdout', 'info file /tmp/i.log'], ['notice stdout', 'info file /tmp/i.log']],
  ['Log', '', []],
  ['Log', null, []],
  ['ExitPolicy', ['accept *:80', 'reject *:*'], ['accept *:80', 'reject *:*']],
  ['ExitPolicy', 'accept *:80,reject *:*', ['accept *:80,reject *:*']],
  ['ExitPolicy', '  accept *:443 ', ['  accept *:443 ']],
  ['MapAddress', 'www.example.org www.example.org.exit', ['www.example.org www.example.org.exit']],
  ['ReachableAddresses', '*:80, *:443', ['*:80, *:443']],
  ['Address', '1.2.3.4', ['1.2.3.4']],
  ['SocksPort', '9050 IsolateDestAddr', ['9050 IsolateDestAddr']],
  ['SocksPort', '127.0.0.1:9150  IsolateDestAddr   IsolateDestPort', ['127.0.0.1:9150  IsolateDestAddr   IsolateDestPort']],
  ['SocksPort', ['auto', 'unix:/tmp/s.sock'], ['auto', 'unix:/tmp/s.sock']],
  ['SocksPort', '0', ['0']],
  ['SocksPort', '9050 isolatedestaddr', ['9050 isolatedestaddr']],
  ['SocksPort', '9050 IsolateDestAddr ', ['9050 IsolateDestAddr ']],
  ['SocksPort', '', []],
  ['SocksPort', null, []],
  ['__SocksPort', '9051', ['9051']],
  ['ControlPort', 'auto', ['auto']],
];

/** YAML-typed inputs (numbers, booleans, lists) and what tor reads back for what toTor sends. */
const TYPED: Array<[option: string, input: InputValue, sent: string[], readBack: string[]]> = [
  ['MaxCircuitDirtiness', 600, ['600'], ['600']],
  ['MaxCircuitDirtiness', 1.5, ['1'], ['1']],
  ['LogTimeGranularity', 250, ['250'], ['250']],
  ['BandwidthRate', 1048576, ['1048576'], ['1048576']],
  ['NumEntryGuards', 3, ['3'], ['3']],
  ['PathBiasCircThreshold', -5, ['-5'], ['-5']],
  ['PathsNeededToBuildCircuits', 0.5, ['0.5'], ['0.500000']],
  ['CircuitPriorityHalflife', 1e-7, ['1e-7'], ['0.000000']],
  ['CircuitPriorityHalflife', -0, ['-0'], ['-0.000000']],
  ['CircuitPadding', true, ['1'], ['1']],
  ['CircuitPadding', false, ['0'], ['0']],
  ['CircuitPadding', 'True', ['1'], ['1']],
  ['ConnectionPadding', true, ['1'], ['1']],
  ['ConnectionPadding', 'auto', ['auto'], ['auto']],
  ['LongLivedPorts', [80, 443], ['80,443'], ['80,443']],
  ['LongLivedPorts', 22, ['22'], ['22']],
  ['LongLivedPorts', [], [], []],
  ['ExitNodes', ['{us}', ' {de} '], ['{us},{de}'], ['{us},{de}']],
  ['Nickname', 123, ['123'], ['123']],
  ['SocksPort', [9050, '9150 IsolateDestAddr'], ['9050', '9150 IsolateDestAddr'], ['9050', '9150 IsolateDestAddr']],
  ['SocksPort', 0, ['0'], ['0']],
];

describe('toTor and canonical against tor 0.4.9.11 read-backs', () => {
  it.each(OBSERVED)('%s = %j reads back as %j', (option, input, readBack) => {
    const i = info(option);
    expect(canonical(i, toTor(i, input))).toEqual(canonical(i, readBack));
    expect(sameValue(i, toTor(i, input), readBack)).toBe(true);
  });

  it.each(TYPED)('%s = %j is sent as %j', (option, input, sent, readBack) => {
    const i = info(option);
    expect(toTor(i, input)).toEqual(sent);
    expect(sameValue(i, sent, readBack)).toBe(true);
  });

  it('sends tor canonical text where it has one', () => {
    expect(toTor(info('MaxCircuitDirtiness'), '10 minutes')).toEqual(['600']);
    expect(toTor(info('BandwidthRate'), '8 kbits')).toEqual(['1024']);
    expect(toTor(info('ExitNodes'), '{us}, {de}')).toEqual(['{us},{de}']);
    expect(toTor(info('ConfluxEnabled'), 'AUTO')).toEqual(['auto']);
    expect(toTor(info('LogTimeGranularity'), '0.5 seconds')).toEqual(['500']);
    expect(toTor(info('MaxCircuitDirtiness'), '10 minutes ')).toEqual(['600']);
  });

  it('keeps tor-accepted forms that toTor itself refuses comparable', () => {
    // A legacy download schedule: tor keeps the first entry.
    expect(canonical(info('ClientBootstrapConsensusAuthorityDownloadInitialDelay'), ['5, 10, 20'])).toEqual(['5']);
    expect(canonical(info('CircuitPriorityHalflife'), ['Infinity'])).toEqual(['inf']);
    expect(canonical(info('CircuitPriorityHalflife'), ['-inf'])).toEqual(['-inf']);
    expect(canonical(info('CircuitPriorityHalflife'), ['nan'])).toEqual(['nan']);
    // GETCONF of a repeated scalar key returns one line, the last one SETCONF gave.
    expect(canonical(info('ContactInfo'), ['a', 'b'])).toEqual(['b']);
    expect(canonical(info('LongLivedPorts'), ['80', '443'])).toEqual(['443']);
    expect(canonical(info('ExitNodes'), ['{us}', '{de}', '{fr}'])).toEqual(['{us},{de},{fr}']);
    expect(canonical(info('ExcludeNodes'), ['{cn}', '{ru}'])).toEqual(['{cn},{ru}']);
  });

  it('keeps unparseable text as it is', () => {
    expect(canonical(info('MaxCircuitDirtiness'), ['soon'])).toEqual(['soon']);
    expect(canonical(info('NumEntryGuards'), ['3 '])).toEqual(['3 ']);
    expect(sameValue(info('MaxCircuitDirtiness'), ['soon'], ['600'])).toBe(false);
  });

  it('ignores {??} only in the Exclude lists, where tor adds it itself', () => {
    // GeoIPExcludeUnknown 1: tor adds {??} even to a list without countries, or to an empty one.
    expect(sameValue(info('ExcludeNodes'), toTor(info('ExcludeNodes'), 'foo'), ['foo,{??}'])).toBe(true);
    expect(sameValue(info('ExcludeNodes'), [], ['{??}'])).toBe(true);
    // GeoIPExcludeUnknown 0: nothing added.
    expect(sameValue(info('ExcludeExitNodes'), ['{ru}'], ['{ru}'])).toBe(true);
    expect(sameValue(info('ExitNodes'), ['{us}'], ['{us},{??}'])).toBe(false);
  });

  it('compares case, order and repetition as tor stores them', () => {
    expect(sameValue(info('ExitNodes'), ['{US}'], ['{us}'])).toBe(false);
    expect(sameValue(info('ExitNodes'), ['{us},{de}'], ['{de},{us}'])).toBe(false);
    expect(sameValue(info('Log'), ['notice stdout', 'info stderr'], ['info stderr', 'notice stdout'])).toBe(false);
    expect(sameValue(info('ContactInfo'), [' x'], ['x'])).toBe(false);
  });

  /** tor clamps these after parsing (per-option validation, not type semantics): they never match. */
  it.each([
    ['MaxCircuitDirtiness', '0', ['10']],
    ['MaxCircuitDirtiness', null, ['10']],
    ['MaxCircuitDirtiness', '1 month', ['2592000']],
    ['MaxCircuitDirtiness', '31 days', ['2592000']],
    ['PathsNeededToBuildCircuits', '0.1234567', ['0.250000']],
    ['PathsNeededToBuildCircuits', '1', ['0.950000']],
    ['PathsNeededToBuildCircuits', null, ['0.250000']],
    // With BandwidthBurst also 2 GB: tor takes "2gb" to mean its maximum, 2^31 - 1.
    ['BandwidthRate', '2 GB', ['2147483647']],
  ] as Array<[string, InputValue, string[]]>)('quirk: %s = %j reads back as %j', (option, input, readBack) => {
    const i = info(option);
    expect(sameValue(i, toTor(i, input), readBack)).toBe(false);
  });
});

describe('ValueError', () => {
  it.each([
    ['MaxCircuitDirtiness', 'ten', 'MaxCircuitDirtiness: expected a duration such as `10 minutes` or a number of seconds, got `ten` (not a number)'],
    ['MaxCircuitDirtiness', '1 min', 'MaxCircuitDirtiness: expected a duration such as `10 minutes` or a number of seconds, got `1 min` (unknown unit `min`; tor knows second, minute, hour, day, week, month (singular or plural))'],
    ['MaxCircuitDirtiness', '600 s', 'got `600 s` (unknown unit `s`;'],
    ['MaxCircuitDirtiness', '1e3', 'got `1e3` (unknown unit `e3`;'],
    ['MaxCircuitDirtiness', '-5', 'got `-5` (must not be negative)'],
    ['MaxCircuitDirtiness', -5, 'got `-5` (must not be negative)'],
    ['MaxCircuitDirtiness', '2147483648', 'got `2147483648` (too large (at most 2147483647 seconds))'],
    ['MaxCircuitDirtiness', true, 'MaxCircuitDirtiness: expected a duration such as `10 minutes` or a number of seconds, got `true` (not a number)'],
    ['MaxCircuitDirtiness', ['1', '2'], 'MaxCircuitDirtiness: takes a single value, got a list'],
    ['MaxCircuitDirtiness', Number.POSITIVE_INFINITY, 'got `Infinity` (not a number)'],
    ['LogTimeGranularity', '1 month', 'LogTimeGranularity: expected a duration such as `100 msec` or `2 seconds`, or a number of milliseconds, got `1 month` (unknown unit `month`'],
    ['LogTimeGranularity', '1 ms', 'got `1 ms` (unknown unit `ms`'],
    ['BandwidthRate', '100 K', 'BandwidthRate: expected a size such as `1 MB`, `100 KBytes` or `8 mbits`, or a number of bytes, got `100 K` (unknown unit `k`'],
    ['BandwidthRate', '1 KiB', '(unknown unit `kib`'],
    ['MaxMemInQueues', '8 EB', '(unknown unit `eb`'],
    ['MaxMemInQueues', '9223372036854775808', 'got `9223372036854775808` (too large)'],
    ['MaxMemInQueues', '16777216 TB', '(too large)'],
    ['NumEntryGuards', true, 'NumEntryGuards: expected a whole number from 0 to 2147483647, got `true`'],
    ['NumEntryGuards', -1, 'NumEntryGuards: expected a whole number from 0 to 2147483647, got `-1`'],
    ['NumEntryGuards', '3.0', 'got `3.0`'],
    ['NumEntryGuards', 1.5, 'got `1.5`'],
    ['NumEntryGuards', '0x3', 'got `0x3`'],
    ['NumEntryGuards', '2147483648', 'got `2147483648`'],
    ['MaxClientCircuitsPending', '1e2', 'got `1e2`'],
    ['PathBiasCircThreshold', '-2147483649', 'PathBiasCircThreshold: expected a whole number from -2147483648 to 2147483647, got `-2147483649`'],
    ['__OwningControllerFD', '18446744073709551616', 'expected a whole number from 0 to 18446744073709551615'],
    ['PathsNeededToBuildCircuits', 'abc', 'PathsNeededToBuildCircuits: expected a number such as `0.5`, got `abc`'],
    ['PathsNeededToBuildCircuits', '0.5abc', 'got `0.5abc`'],
    ['PathsNeededToBuildCircuits', '0,5', 'got `0,5`'],
    ['PathsNeededToBuildCircuits', 'inf', 'got `inf`'],
    ['PathsNeededToBuildCircuits', Number.NaN, 'got `NaN`'],
    ['PathsNeededToBuildCircuits', '1e400', 'got `1e400`'],
    ['PathsNeededToBuildCircuits', false, 'got `false`'],
    ['CircuitPadding', 'auto', 'CircuitPadding: expected true or false (or 1/0), got `auto`'],
    ['CircuitPadding', 2, 'got `2`'],
    ['CircuitPadding', 'yes', 'got `yes`'],
    ['ConnectionPadding', '-1', 'ConnectionPadding: expected true, false or auto (or 1/0), got `-1`'],
    ['ContactInfo', true, 'ContactInfo: expected text, got `true`'],
    ['ContactInfo', 'a\nb', 'ContactInfo: values cannot contain line breaks or NUL bytes, got "a\\nb"'],
    ['ContactInfo', ['a'], 'ContactInfo: takes a single value, got a list'],
    ['Log', true, 'Log: expected text or a list of lines, got `true`'],
    ['Log', ['notice stdout', ''], 'Log: list entries must not be empty'],
    ['Log', ['notice stdout\r\n'], 'Log: values cannot contain line breaks'],
    ['LongLivedPorts', [80, true], 'LongLivedPorts: expected a comma-separated list, got `true`'],
    ['ExitNodes', true, 'ExitNodes: expected a list of relays'],
    ['HiddenServiceOptions', 'x', 'HiddenServiceOptions: is a read-only view of related options and cannot be set'],
    ['SocksPortLines', null, 'SocksPortLines: is a read-only view'],
  ] as Array<[string, InputValue, string]>)('%s = %j', (option, input, message) => {
    let caught: unknown;
    try {
      toTor(info(option), input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValueError);
    expect((caught as ValueError).option).toBe(option);
    expect((caught as ValueError).message).toContain(message);
  });
});

describe('OptionTable', () => {
  it('bundles the 383 options of tor 0.4.9.11', () => {
    expect(table.torVersion).toBe('0.4.9.11');
    expect(table.all()).toHaveLength(383);
    expect(OptionTable.bundled()).toBe(table);
    expect(new Set(table.all().map((o) => o.type))).toEqual(
      new Set(['Boolean', 'Boolean+Auto', 'Integer', 'SignedInteger', 'Float', 'TimeInterval', 'TimeMsecInterval', 'DataSize',
        'String', 'Filename', 'LineList', 'CommaList', 'RouterList', 'Dependent', 'Virtual']),
    );
  });

  it('carries types and defaults', () => {
    expect(table.get('MaxCircuitDirtiness')).toEqual({ name: 'MaxCircuitDirtiness', type: 'TimeInterval', defaults: ['10 minutes'], immutable: false });
    expect(table.get('ExitNodes')?.defaults).toEqual([]);
    expect(table.get('FallbackDir')?.defaults.length).toBeGreaterThan(100);
    expect(table.get('AuthDirBadExitCCs')?.defaults).toEqual(['']);
    expect(table.get('SocksPort')?.type).toBe('Dependent');
    expect(table.get('HiddenServiceOptions')?.type).toBe('Virtual');
  });

  it('marks immutable options, all of which exist', () => {
    for (const name of [...IMMUTABLE_OPTIONS, ...SANDBOX_IMMUTABLE_OPTIONS]) expect(table.canonical(name)).toBe(name);
    expect(table.all().filter((o) => o.immutable).map((o) => o.name).sort()).toEqual([...IMMUTABLE_OPTIONS].sort());
    expect(table.get('datadirectory')?.immutable).toBe(true);
    expect(table.get('ControlPort')?.immutable).toBe(false);
  });

  it('canonicalizes names case-insensitively, never by abbreviation', () => {
    expect(table.canonical('exitnodes')).toBe('ExitNodes');
    expect(table.canonical('EXITNODES')).toBe('ExitNodes');
    expect(table.canonical('__leavestreamsunattached')).toBe('__LeaveStreamsUnattached');
    expect(table.canonical('b')).toBeUndefined();
    expect(table.canonical('Bandwidth')).toBeUndefined();
    expect(table.canonical('ExitNode')).toBeUndefined();
    expect(table.canonical(' ExitNodes')).toBeUndefined();
    expect(table.get('b')).toBeUndefined();
    expect(table.get('socksport')?.name).toBe('SocksPort');
  });

  it('suggests likely names', () => {
    expect(table.suggest('ExitNode')[0]).toBe('ExitNodes');
    expect(table.suggest('MaxCircuitDirtyness')[0]).toBe('MaxCircuitDirtiness');
    expect(table.suggest('SocksPorts')[0]).toBe('SocksPort');
    expect(table.suggest('exitndoes')[0]).toBe('ExitNodes');
    expect(table.suggest('Bandwith').slice(0, 2)).toEqual(['BandwidthRate', 'BandwidthBurst']);
    expect(table.suggest('LeaveStreamsUnattached')).toEqual(['__LeaveStreamsUnattached']);
    expect(table.suggest('b')).toEqual([]);
    expect(table.suggest('')).toEqual([]);
    expect(table.suggest('Completely unrelated words')).toEqual([]);
    for (const q of ['Socks', 'Exit', 'HiddenServicePorts', 'ControlPrt']) expect(table.suggest(q).length).toBeLessThanOrEqual(3);
  });

  it('reads a live tor’s config/names and config/defaults', () => {
    const names = 'ExitNodes RouterList\nMaxCircuitDirtiness TimeInterval\nFallbackDir LineList\nContactInfo String\n';
    const defaults = 'MaxCircuitDirtiness "10 minutes"\nFallbackDir "1.2.3.4:80 id=A"\nFallbackDir "5.6.7.8:80 id=B"\n' +
      'ContactInfo "caf\\303\\251"\nexitnodes\n___UsingTestNetworkDefaults "0"';
    const t = OptionTable.fromTor(names, defaults, '0.4.9.11');
    expect(t.torVersion).toBe('0.4.9.11');
    expect(t.all().map((o) => o.name)).toEqual(['ExitNodes', 'MaxCircuitDirtiness', 'FallbackDir', 'ContactInfo']);
    expect(t.get('maxcircuitdirtiness')?.defaults).toEqual(['10 minutes']);
    expect(t.get('FallbackDir')?.defaults).toEqual(['1.2.3.4:80 id=A', '5.6.7.8:80 id=B']);
    expect(t.get('ContactInfo')?.defaults).toEqual(['café']);
    // Names in config/defaults are matched exactly, as tor prints them.
    expect(t.get('ExitNodes')?.defaults).toEqual([]);
    expect(OptionTable.fromTor('X Boolean', 'X 1').get('x')?.defaults).toEqual(['1']);
  });

  it('rebuilds the bundled table from the same data', () => {
    const quote = (v: string): string => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const names = bundledJson.options.map((o) => `${o.name} ${o.type}`).join('\n');
    const defaults = bundledJson.options.flatMap((o) => o.defaults.map((d) => `${o.name} ${quote(d)}`)).join('\n');
    expect(OptionTable.fromTor(names, defaults, bundledJson.torVersion).all()).toEqual(table.all());
  });

  it('compares options of a type it does not know as text, and refuses malformed lines', () => {
    expect(OptionTable.fromTor('Foo Time', '').get('foo')?.type).toBe('String');
    expect(() => OptionTable.fromTor('JustAName', '')).toThrow(/malformed config\/names line/);
  });
});
