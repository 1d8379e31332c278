/**
 * `targets:` (issue #17): several tors from one spec, each with its control address, credentials, labels
 * and option overrides, and each onion service's `targets` (which of them run it). The overrides are
 * checked against a tor's option table with the other options (options.ts); what each target finally gets
 * is derived by the fleet layer (src/fleet/desired.ts).
 */
import path from 'node:path';
import type { BalancedService, FleetTarget, ManagedOnionbalance, OnionServiceSpec } from '../model.js';
import { formatControlAddress, parseControlAddress } from '../../tor/address.js';
import { TorError } from '../../tor/errors.js';
import { Secret } from '../../tor/secret.js';
import type { Path } from '../diagnostics.js';
import { locate } from '../tree.js';
import { pos, where, type SpecReader } from './reader.js';
import { servicePorts } from './services.js';

/** The targets in spec order (options left empty) with where each is written, or undefined for a spec of one tor. */
export function fleetTargets(r: SpecReader): { targets: FleetTarget[]; paths: Path[] } | undefined {
  const list = r.node(['targets']);
  if (list?.kind !== 'seq') return undefined;
  const torEntry = r.entry(['tor']);
  if (torEntry) r.error(torEntry.keyLoc, 'give either tor (one tor) or targets (several), not both; each target has its own control address', ['tor']);
  const names = r.uniqueBy<string>((name, first) => `duplicate target name "${name}" (first at ${where(first)}); names must be unique`);
  const controls = r.uniqueBy<string, string>((control, other) => `control address ${control} is already target "${other}"'s; one tor is one target`);
  const out: FleetTarget[] = [];
  const paths: Path[] = [];
  for (const { item, p } of r.items(['targets'])) {
    const nameNode = r.scalar([...p, 'name']);
    const name = typeof nameNode?.value === 'string' ? nameNode.value : '';
    if (nameNode) names.add(name, nameNode.loc, [...p, 'name'], nameNode.loc);
    const target: FleetTarget = { name, control: '', labels: {}, options: [], source: pos(item.loc) };
    const control = r.scalar([...p, 'control']);
    if (control) {
      try {
        const address = parseControlAddress(String(control.value));
        if (address.type === 'unix') address.path = path.resolve(control.loc.source.dir, address.path);
        target.control = formatControlAddress(address);
        controls.add(target.control, control.loc, [...p, 'control'], name);
      } catch (err) {
        if (!(err instanceof TorError)) throw err;
        r.error(control.loc, `targets[${p[1]}].control: ${err.message}`, [...p, 'control']);
      }
    }
    const password = r.scalar([...p, 'password']);
    if (password) {
      target.password = new Secret(String(password.value));
      if (!password.secret) r.diags.warn(password.loc, `the password of target "${name}" is written in the spec; prefer \${env:…} or \${file:…} so it stays out of version control`);
    }
    const cookie = r.scalar([...p, 'cookieFile']);
    const cookieFile = cookie && r.resolvePath(cookie, [...p, 'cookieFile']);
    if (cookieFile) target.cookieFile = cookieFile;
    const labels = r.node([...p, 'labels']);
    if (labels?.kind === 'map') for (const [key, e] of labels.entries) if (e.value.kind === 'scalar') target.labels[key] = String(e.value.value);
    out.push(target);
    paths.push(p);
  }
  return { targets: out, paths };
}

/**
 * Each service's `targets`, checked against the declared targets: a name that is not one is an error at its
 * place, and so is `targets` on a service of a spec without `targets:`.
 */
export function serviceTargets(r: SpecReader, services: OnionServiceSpec[], servicePaths: readonly Path[], targets: readonly FleetTarget[] | undefined): void {
  // Every name written, a broken target's as well: its own error is reported once, not again at each service.
  const list = r.node(['targets']);
  const written = list?.kind === 'seq' ? list.items.map((_, i) => locate(r.root, ['targets', i, 'name'])) : [];
  const declared = new Set(written.flatMap((f) => (f.depth === 3 && f.node.kind === 'scalar' && typeof f.node.value === 'string' ? [f.node.value] : [])));
  services.forEach((service, i) => {
    const p: Path = [...servicePaths[i]!, 'targets'];
    const list = r.node(p);
    if (list?.kind !== 'seq') return;
    if (!targets) {
      r.error(r.keyLoc(p), `service "${service.name}" names targets, but the spec declares none (top-level targets:)`, p);
      return;
    }
    const names: string[] = [];
    for (const { item, p: ip } of r.items(p)) {
      const value = item.kind === 'scalar' ? String(item.value) : '';
      if (!declared.has(value)) r.error(item.loc, `service "${service.name}": no target is called "${value}" (targets: ${[...declared].join(', ')})`, ip);
      else if (!names.includes(value)) names.push(value);
    }
    service.targets = names;
  });
}

/**
 * `type: balanced` services: the frontend key (a file, or generated into `<stateDirectory>/keys/`), where
 * Onionbalance's files go, the backends (declared targets) and each backend's directory. Their `options` are
 * left empty here: they are checked against a tor's option table like a filesystem service's.
 */
export function balancedServices(r: SpecReader, stateDirectory: string, targets: readonly FleetTarget[] | undefined, taken: readonly OnionServiceSpec[]): Array<{ service: BalancedService; p: Path }> {
  const list = r.node(['onionServices']);
  if (list?.kind !== 'seq') return [];
  const declared = new Set(targets?.map((t) => t.name));
  const names = new Set(taken.map((s) => s.name));
  const out: Array<{ service: BalancedService; p: Path }> = [];
  list.items.forEach((item, i) => {
    const p: Path = ['onionServices', i];
    if (r.diags.hasErrorAt(p) || r.str([...p, 'type']) !== 'balanced') return;
    const name = r.str([...p, 'name']) ?? '';
    if (!targets) {
      r.error(r.keyLoc([...p, 'type']), `service "${name}": a balanced service needs targets: (its backends are targets)`, p);
      return;
    }
    if (names.has(name)) r.error(r.scalar([...p, 'name'])!.loc, `duplicate service name "${name}"; names must be unique`, [...p, 'name']);
    names.add(name);
    const backends: string[] = [];
    for (const { item: b, p: bp } of r.items([...p, 'backends'])) {
      const value = b.kind === 'scalar' ? String(b.value) : '';
      if (!declared.has(value)) r.error(b.loc, `service "${name}": backend "${value}" is not a target (targets: ${[...declared].join(', ')})`, bp);
      else if (!backends.includes(value)) backends.push(value);
    }
    const keyFile = r.scalar([...p, 'frontend', 'key', 'file']);
    const generate = r.scalar([...p, 'frontend', 'key', 'generate'])?.value === true;
    if (!keyFile === !generate) r.error(r.keyLoc([...p, 'frontend', 'key']), 'frontend.key: give { file: PATH } or { generate: true }', [...p, 'frontend', 'key']);
    const dir = r.scalar([...p, 'frontend', 'directory']);
    const directory = r.scalar([...p, 'directory']);
    const onionbalance = managedOnionbalance(r, [...p, 'onionbalance'], name, targets.filter((t) => backends.includes(t.name)));
    out.push({
      p,
      service: {
        ...(onionbalance ? { onionbalance } : {}),
        type: 'balanced',
        name,
        frontendKeyFile: (keyFile && r.resolvePath(keyFile, [...p, 'frontend', 'key', 'file'])) || path.join(stateDirectory, 'keys', `${name}.frontend.key`),
        generated: generate,
        frontendDirectory: (dir && r.resolvePath(dir, [...p, 'frontend', 'directory'])) || '',
        backends,
        directory: (directory && r.resolvePath(directory, [...p, 'directory'])) || '',
        ports: servicePorts(r, p, name),
        options: [],
        source: pos(item.loc),
      },
    });
  });
  return out;
}

/**
 * `onionbalance: { manage: true, control, … }`: the process tor-reconcile runs for a balanced service, or
 * undefined when it only writes Onionbalance's files. Its tor must not be one of the backends: Onionbalance
 * sends NEWNYM to its tor every cycle, and a tor hosting the backend would be both frontend and instance.
 */
function managedOnionbalance(r: SpecReader, p: Path, name: string, backends: readonly FleetTarget[]): ManagedOnionbalance | undefined {
  if (r.scalar([...p, 'manage'])?.value !== true) return undefined;
  const controlNode = r.scalar([...p, 'control']);
  if (!controlNode) {
    r.error(r.keyLoc(p), `service "${name}": onionbalance.manage needs onionbalance.control, the control port of Onionbalance's own tor`, p);
    return undefined;
  }
  let control: string;
  try {
    const address = parseControlAddress(String(controlNode.value));
    if (address.type === 'unix') address.path = path.resolve(controlNode.loc.source.dir, address.path);
    control = formatControlAddress(address);
  } catch (err) {
    if (!(err instanceof TorError)) throw err;
    r.error(controlNode.loc, `onionbalance.control: ${err.message}`, [...p, 'control']);
    return undefined;
  }
  const backend = backends.find((t) => t.control === control);
  if (backend) r.error(controlNode.loc, `service "${name}": onionbalance.control is backend "${backend.name}"'s tor; Onionbalance needs a tor of its own that hosts no onion service`, [...p, 'control']);
  const binaryNode = r.scalar([...p, 'binary']);
  const binaryName = binaryNode ? String(binaryNode.value) : 'onionbalance';
  // A bare name is looked up in PATH when apply runs it; a path is the spec file's, like every other path.
  const binary = binaryNode && binaryName.includes('/') ? (r.resolvePath(binaryNode, [...p, 'binary']) ?? binaryName) : binaryName;
  return {
    control,
    binary,
    isTestnet: r.scalar([...p, 'isTestnet'])?.value === true,
    verbosity: (r.str([...p, 'verbosity']) as ManagedOnionbalance['verbosity'] | undefined) ?? 'info',
    source: pos(r.node(p)!.loc),
  };
}
