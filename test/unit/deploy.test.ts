import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadSpecSources } from '../../src/spec/index.js';

const root = path.join(import.meta.dirname, '../..');

describe('deployment files', () => {
  it('kubernetes manifests parse, and the spec in the ConfigMap validates', async () => {
    const docs = [];
    for (const f of ['configmap.yaml', 'secret.yaml', 'deployment.yaml']) {
      for (const d of parseAllDocuments(await readFile(path.join(root, 'deploy/kubernetes', f), 'utf8'))) {
        expect(d.errors, f).toEqual([]);
        docs.push(d.toJS() as { kind: string; metadata: { name: string }; data?: Record<string, string> });
      }
    }
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Secret']);
    const spec = docs.find((d) => d.metadata.name === 'tor-reconcile-spec')!.data!['spec.yaml']!;
    // The Secret is mounted at /keys in the pod; here the demo key of the examples stands in for it.
    const demo = path.join(root, 'examples/specs/secrets/demo-client.auth_private');
    // The container's --allow-path flags are what the spec may reach (confinement, docs/gitops.md); /keys is
    // played by the demo key's directory.
    const args = (docs.find((d) => d.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { name: string; args: string[] }[] } } } }).spec.template.spec.containers.find((c) => c.name === 'tor-reconcile')!.args;
    const allow = args.flatMap((a, i) => (args[i - 1] === '--allow-path' ? [a === '/keys' ? path.dirname(demo) : a] : []));
    expect(allow).toHaveLength(2);
    const { state } = await loadSpecSources([{ name: 'configmap spec.yaml', text: spec.replace('/keys/upstream.auth_private', demo), path: path.join(root, 'deploy/kubernetes/spec.yaml') }], { confine: { allow } });
    expect(state.tor.control).toBe('unix:/run/tor/control');
    expect(state.onionServices.map((s) => s.name)).toEqual(['web', 'api']);
  });

  it('the systemd unit runs watch as tor user, restarts always, and is hardened', async () => {
    const unit = await readFile(path.join(root, 'deploy/systemd/tor-reconcile.service'), 'utf8');
    for (const line of ['User=debian-tor', 'Restart=always', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'StateDirectoryMode=0700']) expect(unit).toContain(line);
    expect(unit).toMatch(/^ExecStart=.*tor-reconcile watch .*--allow-path \/var\/lib\/tor .*--allow-path \/var\/lib\/tor-reconcile/m);
  });

  it('the apply unit runs apply after every start of tor, restarts with it, and passes systemd-analyze verify', async (ctx) => {
    const file = path.join(root, 'deploy/systemd/tor-reconcile-apply.service');
    const unit = await readFile(file, 'utf8');
    for (const line of ['After=tor@default.service', 'PartOf=tor@default.service', 'WantedBy=tor@default.service', 'Restart=on-failure', 'Type=oneshot', 'RemainAfterExit=yes']) expect(unit).toContain(line);
    expect(unit).toMatch(/^ExecStart=.*tor-reconcile apply /m);
    const analyze = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    if ((analyze.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return ctx.skip('systemd-analyze is not installed');
    // Unknown keys are only warned about: any complaint fails the check.
    expect(analyze.stderr).toBe('');
    expect(analyze.status).toBe(0);
  });
});
