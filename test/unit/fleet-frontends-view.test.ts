/**
 * What `apply` tells the operator about Onionbalance's side of a balanced service (issue #17). Without
 * `manage: true` the operator reloads Onionbalance: the command shown must be one that works on Debian, whose
 * unit's `systemctl reload` runs `onionbalance reload`, which Onionbalance 0.2.2 refuses. With `manage: true`
 * the plan shows every file the start touches.
 */
import { describe, expect, it } from 'vitest';
import type { FrontendPlan } from '../../src/fleet/balanced.js';
import { obArgv, obFiles, planOb } from '../../src/fleet/onionbalance.js';
import type { FrontendRun } from '../../src/fleet/run.js';
import { renderFrontends } from '../../src/cli/views/fleet.js';

const address = 'a'.repeat(56);
const plan: FrontendPlan = {
  name: 'shop',
  address,
  newKey: false,
  backends: [{ target: 'b1', address: 'b'.repeat(56) }],
  configFile: '/srv/ob/config.yaml',
  keyFile: '/srv/ob/shop.key',
  pending: [],
  before: null,
  after: 'services: []\n',
  writeKey: false,
};
const run = (p: FrontendPlan, applied: boolean): FrontendRun => ({ front: { service: {} as never, address }, plan: p, applied });

describe('the Onionbalance frontend view', () => {
  it('after apply without manage: a SIGHUP that works under Debian\'s unit, never `systemctl reload onionbalance`', () => {
    const out = renderFrontends([run(plan, true)], true);
    expect(out).toContain('/srv/ob/config.yaml: written; send Onionbalance SIGHUP to read it (Debian\'s unit: systemctl kill -s HUP onionbalance)');
    expect(out).not.toContain('systemctl reload');
  });

  it('a planned start shows the command, its log, the lock it holds and the pid record it writes', () => {
    const managed = { control: 'unix:/run/ob-tor/control', binary: 'onionbalance', isTestnet: false, verbosity: 'info' as const, source: { file: 's', line: 1, col: 1 } };
    const onionbalance = planOb(managed, '/srv/ob', plan.configFile, {}, 'digest');
    const out = renderFrontends([run({ ...plan, onionbalance }, false)]);
    expect(out).toContain('> start onionbalance: not running');
    expect(out).toContain(`${obArgv(managed, plan.configFile, '/srv/ob').join(' ')} >>/srv/ob/onionbalance.log 2>&1 &`);
    expect(out).toContain(`holding /srv/ob/.lock; the process recorded in ${obFiles('/srv/ob').pidFile} (0600)`);
  });
});
