import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { controlAddresses, parseDump } from '../../src/reconcile/export.js';
import { instanceOptions, instanceReason } from '../../src/reconcile/export-instance.js';
import { exportValue, isDefault } from '../../src/reconcile/export-values.js';
import { renderExport } from '../../src/cli/views/export.js';
import { optionMeaning } from '../../src/tor/config/docs.js';
import { sameValue, toTor } from '../../src/tor/config/normalize.js';
import { OptionTable } from '../../src/tor/config/types.js';

const table = OptionTable.bundled();
const ctx = { geoipExcludeUnknown: 'auto' };
const value = (name: string, ...lines: string[]) => exportValue(table.get(name)!, lines, ctx);

describe('exportValue: tor read-back → the value a person writes', () => {
  it.each<[string, string[], unknown]>([
    ['StrictNodes', ['1'], true],
    ['SafeSocks', ['0'], false],
    ['ConnectionPadding', ['auto'], 'auto'],
    ['ConnectionPadding', ['1'], true],
    ['NumEntryGuards', ['2'], 2],
    ['__OwningControllerFD', ['18446744073709551615'], '18446744073709551615'],
    ['PathsNeededToBuildCircuits', ['0.600000'], 0.6],
    ['MaxCircuitDirtiness', ['300'], '5 minutes'],
    ['MaxCircuitDirtiness', ['60'], '1 minute'],
    ['MaxCircuitDirtiness', ['90'], '90 seconds'],
    ['NewCircuitPeriod', ['1'], '1 second'],
    ['KeepalivePeriod', ['7200'], '2 hours'],
    ['AccountingMax', ['536870912000'], '500 GB'],
    ['AccountingMax', ['1000'], '1000 bytes'],
    ['MaxMemInQueues', ['536870912'], '512 MB'],
    ['RelayBandwidthRate', ['0'], '0 bytes'],
    ['CircuitsAvailableTimeout', ['86400'], '1 day'],
    ['ExcludeNodes', ['{cn},{ru},{??}'], ['{cn}', '{ru}']],
    ['ExcludeNodes', ['{??}'], ['{??}']],
    ['ExitNodes', ['{de},{??}'], ['{de}', '{??}']],
    ['PublishServerDescriptor', ['0'], [0]],
    ['PublishServerDescriptor', ['v3,bridge'], ['v3', 'bridge']],
    ['SocksPort', ['9050'], 9050],
    ['SocksPort', ['127.0.0.1:9050 IsolateDestAddr', '9052'], ['127.0.0.1:9050 IsolateDestAddr', 9052]],
    ['ContactInfo', ['ops@example.org'], 'ops@example.org'],
    ['Nickname', ['12345'], '12345'],
  ])('%s %j → %j', (name, lines, expected) => {
    expect(value(name, ...lines)).toEqual(expected);
  });

  it('msec durations', () => {
    expect(value('CircuitPriorityHalflife', '1.5')).toBe(1.5);
    const msec = table.all().find((o) => o.type === 'TimeMsecInterval')!;
    expect(exportValue(msec, ['2000'], ctx)).toBe('2 seconds');
    expect(exportValue(msec, ['1500'], ctx)).toBe('1500 msec');
  });

  it('{??} is kept where tor would not add it itself', () => {
    expect(exportValue(table.get('ExcludeNodes')!, ['{cn},{??}'], { geoipExcludeUnknown: '0' })).toEqual(['{cn}', '{??}']);
    expect(exportValue(table.get('ExcludeNodes')!, ['$AAAA,{??}'], { geoipExcludeUnknown: '1' })).toEqual(['$AAAA']);
  });

  it('every exported value goes back through toTor to what tor read back', () => {
    const cases: Array<[string, string[]]> = [
      ['MaxCircuitDirtiness', ['300']],
      ['MaxCircuitDirtiness', ['4000']],
      ['AccountingMax', ['536870912000']],
      ['AccountingMax', ['1000']],
      ['PathsNeededToBuildCircuits', ['0.600000']],
      ['ExcludeNodes', ['{cn},{ru},{??}']],
      ['StrictNodes', ['1']],
      ['ConnectionPadding', ['auto']],
      ['SocksPort', ['127.0.0.1:9050 IsolateDestAddr', '9052']],
      ['PublishServerDescriptor', ['0']],
      ['NumEntryGuards', ['2']],
    ];
    for (const [name, lines] of cases) {
      const info = table.get(name)!;
      const v = exportValue(info, lines, ctx) as Parameters<typeof toTor>[1];
      expect(sameValue(info, toTor(info, v), lines), name).toBe(true);
    }
  });

  it("isDefault compares with tor's default in any of its spellings", () => {
    expect(isDefault(table.get('MaxCircuitDirtiness')!, ['600'])).toBe(true);
    expect(isDefault(table.get('MaxCircuitDirtiness')!, ['300'])).toBe(false);
    expect(isDefault(table.get('SafeSocks')!, ['0'])).toBe(true);
  });
});

describe('parseDump and controlAddresses', () => {
  it('splits lines, unquotes values, skips comments', () => {
    expect(parseDump('# x\nContactInfo "a \\"b\\""\nSocksPort 9050\nBare\n')).toEqual([
      ['ContactInfo', 'a "b"'],
      ['SocksPort', '9050'],
      ['Bare', ''],
    ]);
  });
  it('names the control listeners a spec can hold, socket first', () => {
    expect(controlAddresses(parseDump('ControlPort 9051\nControlSocket /run/tor/control GroupWritable\n'))).toEqual(['unix:/run/tor/control', 'tcp:127.0.0.1:9051']);
    expect(controlAddresses(parseDump('ControlPort 127.0.0.1:29061\nControlPort auto\nControlPort 0\n'))).toEqual(['tcp:127.0.0.1:29061']);
    expect(controlAddresses(parseDump('ControlPort unix:/run/c.sock\n'))).toEqual(['unix:/run/c.sock']);
    expect(controlAddresses([])).toEqual([]);
  });
});

describe('instance options', () => {
  it('are documented in docs/export.md, each of them, and are all real tor options', () => {
    const doc = readFileSync(path.join(import.meta.dirname, '../../docs/export.md'), 'utf8');
    for (const g of instanceOptions()) {
      for (const n of g.names) {
        expect(table.get(n)?.name, n).toBe(n);
        expect(doc, n).toContain(`\`${n}\``);
        expect(instanceReason(n)).toBe(g.why);
      }
    }
    expect(instanceReason('SocksPort')).toBeUndefined();
    expect(instanceReason('ORPort')).toBeUndefined();
  });
});

describe('renderExport', () => {
  const spec = {
    origin: 'tor 0.4.9.11 at unix:/run/tor/control',
    control: 'unix:/run/tor/control',
    options: [
      { name: 'MaxCircuitDirtiness', value: '5 minutes' },
      { name: 'ExcludeNodes', value: ['{cn}', '{ru}'] },
    ],
    services: [],
    instance: [{ name: 'DataDirectory', value: '/var/lib/tor', instance: 'x' }],
    notes: ['a note'],
  };
  it("writes tor's meaning above each option with --comments, and the instance block as commented YAML", () => {
    const text = renderExport(spec, { meaning: optionMeaning });
    expect(text).toContain(`  # ${optionMeaning('MaxCircuitDirtiness')}\n  MaxCircuitDirtiness: 5 minutes\n`);
    expect(text).toContain('ExcludeNodes: [ "{cn}", "{ru}" ]');
    expect(text).toContain('#   options:\n#     DataDirectory: /var/lib/tor\n');
    expect(text).toContain('# a note');
    expect(renderExport(spec)).not.toContain(optionMeaning('MaxCircuitDirtiness')!);
  });
  it('per-service options carry their meaning too', () => {
    const text = renderExport({ ...spec, services: [{ name: 'web', type: 'filesystem', directory: '/hs', ports: [{ port: 80, target: '127.0.0.1:80' }], options: { HiddenServiceMaxStreams: 100 } }] }, { meaning: optionMeaning });
    expect(text).toContain('      # Most simultaneous streams per rendezvous circuit, 0 (unlimited) to 65535.\n      HiddenServiceMaxStreams: 100\n');
  });
  it('knows most options', () => {
    expect(optionMeaning('StrictNodes')).toMatch(/^If StrictNodes is set to 1/);
    expect(table.all().filter((o) => !o.name.startsWith('__') && optionMeaning(o.name)).length).toBeGreaterThan(320);
  });
});
