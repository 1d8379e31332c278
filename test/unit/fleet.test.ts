/**
 * Issue #17, the pure parts: `targets:` in the spec (errors at file:line:col), and what each target's own
 * DesiredState is (option overrides, services per target, a state directory and generated keys per target).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectTargets, targetState } from '../../src/fleet/desired.js';
import { loadSpecSources, recheckOptions, SpecErrors } from '../../src/spec/index.js';
import { OptionTable } from '../../src/tor/config/types.js';

const FLEET = `version: 1
stateDirectory: /srv/tr
targets:
  - name: a
    control: tcp:10.0.0.1:9051
    labels: { site: ams }
  - name: b
    control: unix:./b.sock
    password: \${env:PW}
    options:
      MaxCircuitDirtiness: 15 minutes
      SafeSocks: true
options:
  MaxCircuitDirtiness: 20 minutes
  NewCircuitPeriod: 60
onionServices:
  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }] }
  - { name: shared, type: ephemeral, key: { file: ./shared.key }, ports: [{ port: 81 }] }
  - { name: web, type: filesystem, directory: /var/lib/tor/web, ports: [{ port: 443 }], targets: [b] }
`;

const load = (text: string, env: Record<string, string> = { PW: 'secret' }) => loadSpecSources([{ name: 'fleet.yaml', text, path: '/etc/tr/fleet.yaml' }], { env });

async function errorsOf(text: string): Promise<string[]> {
  try {
    await load(text);
  } catch (err) {
    if (err instanceof SpecErrors) return err.errors.map((e) => `${e.line}:${e.col} ${e.message}`);
    throw err;
  }
  throw new Error('the spec loaded');
}

describe('targets: in the spec', () => {
  it('normalizes each target: control, credentials, labels and its options in tor form', async () => {
    const { state } = await load(FLEET);
    expect(state.tor).toEqual({});
    expect(state.targets!.map((t) => [t.name, t.control, t.labels])).toEqual([
      ['a', 'tcp:10.0.0.1:9051', { site: 'ams' }],
      ['b', 'unix:/etc/tr/b.sock', {}],
    ]);
    expect(state.targets![1]!.password!.reveal()).toBe('secret');
    expect(state.targets![1]!.options.map((o) => [o.name, o.value, o.source.line])).toEqual([
      ['MaxCircuitDirtiness', ['900'], 11],
      ['SafeSocks', ['1'], 12],
    ]);
    expect(state.onionServices.map((s) => s.targets)).toEqual([undefined, undefined, ['b']]);
  });

  it('reports mistakes at file:line:col', async () => {
    const errors = await errorsOf(`version: 1
tor: { control: tcp:127.0.0.1:9051 }
targets:
  - { name: a, control: tcp:127.0.0.1:1 }
  - { name: a, control: tcp:127.0.0.1:1 }
  - { name: c, control: "nope:x", options: { MaxCircuitDirtyness: 3 } }
  - { control: tcp:127.0.0.1:3 }
onionServices:
  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }], targets: [a, z] }
`);
    expect(errors).toEqual([
      expect.stringMatching(/^2:1 give either tor \(one tor\) or targets \(several\), not both/),
      expect.stringMatching(/^5:13 duplicate target name "a" \(first at fleet.yaml:4:13\)/),
      expect.stringMatching(/^5:25 control address tcp:127.0.0.1:1 is already target "a"'s/),
      expect.stringMatching(/^6:25 targets\[2\]\.control: /),
      expect.stringMatching(/^6:46 unknown tor option "MaxCircuitDirtyness".*did you mean MaxCircuitDirtiness\?/),
      expect.stringMatching(/^7:5 .*name/),
      expect.stringMatching(/^9:96 service "api": no target is called "z"/),
    ]);
  });

  it('refuses service targets in a spec without targets:', async () => {
    expect(await errorsOf('version: 1\nonionServices:\n  - { name: api, type: ephemeral, key: { generate: true }, ports: [{ port: 80 }], targets: [a] }\n')).toEqual([
      expect.stringMatching(/^3:83 service "api" names targets, but the spec declares none/),
    ]);
  });

  it('leaves a spec without targets: as it was', async () => {
    const { state } = await load('version: 1\ntor: { control: tcp:127.0.0.1:9051 }\noptions: { SafeSocks: true }\n');
    expect(state.targets).toBeUndefined();
    expect('targets' in state).toBe(false);
  });

  it('re-checks the overrides against another tor\'s table with the other options', async () => {
    const { state } = await load(FLEET);
    const bundled = OptionTable.bundled();
    const names = bundled.all().filter((o) => o.name !== 'SafeSocks');
    const older = OptionTable.fromTor(names.map((o) => `${o.name} ${o.type}`).join('\n'), '', '0.4.0.0');
    expect(() => recheckOptions(state, older)).toThrow(/unknown tor option "SafeSocks" \(tor 0.4.0.0\)/);
  });
});

describe('what each target gets', () => {
  it('top-level options overridden by the target\'s, services that name it or none, its own state directory', async () => {
    const { state } = await load(FLEET);
    const [a, b] = state.targets!;
    const sa = targetState(state, a!);
    const sb = targetState(state, b!);
    expect(sa.tor).toEqual({ control: 'tcp:10.0.0.1:9051' });
    expect(sb.tor.password!.reveal()).toBe('secret');
    expect(sa.options.map((o) => [o.name, o.value])).toEqual([
      ['MaxCircuitDirtiness', ['1200']],
      ['NewCircuitPeriod', ['60']],
    ]);
    expect(sb.options.map((o) => [o.name, o.value])).toEqual([
      ['MaxCircuitDirtiness', ['900']],
      ['NewCircuitPeriod', ['60']],
      ['SafeSocks', ['1']],
    ]);
    expect(sa.onionServices.map((s) => s.name)).toEqual(['api', 'shared']);
    expect(sb.onionServices.map((s) => s.name)).toEqual(['api', 'shared', 'web']);
    expect(sa.stateDirectory).toBe('/srv/tr/targets/a');
    expect('targets' in sa).toBe(false);
    const key = (s: typeof sa, name: string) => (s.onionServices.find((x) => x.name === name) as { keyFile: string }).keyFile;
    // A generated key is the target's own; a key file the spec names is shared, as the spec says.
    expect(key(sa, 'api')).toBe('/srv/tr/targets/a/keys/api.key');
    expect(key(sb, 'api')).toBe('/srv/tr/targets/b/keys/api.key');
    expect(key(sa, 'shared')).toBe(path.resolve('/etc/tr/shared.key'));
    expect(key(sb, 'shared')).toBe(key(sa, 'shared'));
  });

  it('selects targets by name, in spec order, and returns unknown names apart', async () => {
    const { state } = await load(FLEET);
    expect(selectTargets(state, []).selected.map((t) => t.name)).toEqual(['a', 'b']);
    expect(selectTargets(state, ['b', 'a', 'x'])).toMatchObject({ selected: [{ name: 'a' }, { name: 'b' }], unknown: ['x'] });
  });
});
