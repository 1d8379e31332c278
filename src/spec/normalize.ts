/**
 * From a spec that has the right shape to the DesiredState: tor's option names and value forms, absolute
 * paths, parsed onion addresses and keys, and every check that needs knowledge of tor rather than of YAML.
 * Parts of the spec already reported as broken are skipped, so each mistake is reported once.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type {
  AttachCircuit,
  AttachMatch,
  AttachPolicy,
  AttachSpec,
  AuthorizedClient,
  ClientAuthSpec,
  DesiredOption,
  DesiredState,
  EphemeralService,
  FilesystemService,
  LaunchSpec,
  OnionPortSpec,
  OnionServiceSpec,
  SourcePos,
  TorTarget,
} from './model.js';
import { formatControlAddress, parseControlAddress } from '../tor/address.js';
import { toTor, ValueError, type InputValue } from '../tor/config/normalize.js';
import type { OptionInfo, OptionTable } from '../tor/config/types.js';
import { TorError } from '../tor/errors.js';
import { ClientAuthError, parseClientAuthPrivate, parseServiceAuthLine } from '../tor/onion/clientauth.js';
import { OnionAddressError, parseOnionAddress, type OnionAddressProblem } from '../tor/onion/keys.js';
import { Secret } from '../tor/secret.js';
import type { Diagnostics, Loc, Path, SourceFile } from './diagnostics.js';
import { closest } from './issues.js';
import { BURST_RULES, onionOption, onionOptions, onionOptionValue, refusedOnionOption } from './onion-options.js';
import { locate, pathLabel, toPlain, type MapNode, type ScalarNode, type SpecNode } from './tree.js';

/** Options a launched tor gets from tor-reconcile itself (src/tor/launch.ts); a spec must not fight over them. */
const SET_BY_LAUNCH = new Map<string, string>([
  ['DataDirectory', 'give tor.launch.dataDirectory instead'],
  ['ControlPort', 'tor-reconcile opens the control port of a tor it launches'],
  ['ControlSocket', 'tor-reconcile opens the control port of a tor it launches'],
  ['ControlPortWriteToFile', 'tor-reconcile opens the control port of a tor it launches'],
  ['CookieAuthentication', 'tor-reconcile authenticates to a tor it launches with its cookie'],
  ['PidFile', 'tor-reconcile keeps the pid file of a tor it launches'],
  ['RunAsDaemon', 'a launched tor must stay attached to tor-reconcile'],
  ['__OwningControllerProcess', 'tor-reconcile sets it so that a launched tor exits with it'],
]);

/** Options that belong to one controller connection or process: set from a spec they outlive it and hurt tor. */
const CONTROLLER_ONLY = new Map<string, string>([
  ['__OwningControllerProcess', 'tor exits when that process ends'],
  ['__OwningControllerFD', 'tor exits when that connection closes'],
  ['__LeaveStreamsUnattached', 'new streams hang while nobody attaches them; use attach policies, whose engine sets and resets it'],
]);

/** `allowUnknownOptions`: options `table` does not know are left out rather than refused (LoadOptions). */
export function normalize(root: SpecNode, sources: readonly SourceFile[], table: OptionTable, diags: Diagnostics, allowUnknownOptions = false): DesiredState {
  return new Normalizer(root, sources, table, diags, allowUnknownOptions).run();
}

class Normalizer {
  readonly #firstDir: string;

  constructor(
    readonly root: SpecNode,
    readonly sources: readonly SourceFile[],
    readonly table: OptionTable,
    readonly diags: Diagnostics,
    readonly allowUnknownOptions: boolean,
  ) {
    this.#firstDir = sources[0]!.dir;
  }

  run(): DesiredState {
    const state: DesiredState = {
      version: 1,
      files: this.sources.map((s) => s.path),
      tor: {},
      stateDirectory: path.join(this.#firstDir, '.tor-reconcile'),
      options: [],
      onionServices: [],
      prune: false,
      clientAuth: [],
    };
    if (this.root.kind !== 'map') return state;
    const stateDir = this.scalar(['stateDirectory']);
    if (stateDir) state.stateDirectory = this.resolvePath(stateDir, ['stateDirectory']) ?? state.stateDirectory;
    const prune = this.scalar(['prune']);
    if (prune) state.prune = prune.value === true;
    state.tor = this.tor();
    state.options = this.options(state.tor.launch !== undefined);
    state.onionServices = this.onionServices(state.stateDirectory);
    state.clientAuth = this.clientAuth();
    const attach = this.attach();
    if (attach) state.attach = attach;
    return state;
  }

  // ---- stream-attach policies ----

  attach(): AttachSpec | undefined {
    const entry = this.entry(['attach']);
    if (!entry || this.diags.hasErrorAt(['attach'])) return undefined;
    const policies: AttachPolicy[] = [];
    const names = new Map<string, Loc>();
    const list = this.node(['attach', 'policies']);
    if (list?.kind === 'seq') {
      list.items.forEach((item, i) => {
        const p: Path = ['attach', 'policies', i];
        if (this.diags.hasErrorAt(p)) return;
        const nameNode = this.scalar([...p, 'name']);
        const name = typeof nameNode?.value === 'string' ? nameNode.value : '';
        const first = names.get(name);
        if (nameNode && first) this.error(nameNode.loc, `duplicate attach policy name "${name}" (first at ${where(first)})`, [...p, 'name']);
        else if (nameNode) names.set(name, nameNode.loc);
        const policy = this.attachPolicy(p, name, item.loc);
        if (policy) policies.push(policy);
      });
    }
    const dflt = this.str(['attach', 'default']);
    return { policies, default: dflt === 'reject' ? 'reject' : 'tor', source: this.pos(entry.keyLoc) };
  }

  attachPolicy(p: Path, name: string, loc: Loc): AttachPolicy | undefined {
    const match: AttachMatch = {};
    const m = [...p, 'match'];
    const hosts = this.strings([...m, 'host']);
    if (hosts) match.hosts = hosts.map((h) => h.toLowerCase());
    const cidrs = this.strings([...m, 'cidr']);
    if (cidrs) {
      match.cidrs = [];
      for (const c of cidrs) {
        const net = parseCidr(c);
        if (!net) this.error(this.node([...m, 'cidr'])!.loc, `${pathLabel([...m, 'cidr'])}: "${c}" is not a network such as 10.0.0.0/8 or 2001:db8::/32`, [...m, 'cidr']);
        // The form the matcher's BlockList takes: without the spaces parseCidr forgives.
        else match.cidrs.push(`${net.address}/${net.bits}`);
      }
    }
    const portNode = this.node([...m, 'port']);
    if (portNode) {
      const items = portNode.kind === 'seq' ? portNode.items : [portNode];
      match.ports = [];
      for (const it of items) {
        if (it.kind !== 'scalar') continue;
        const range = typeof it.value === 'number' ? [it.value, it.value] : String(it.value).split('-').map(Number);
        const [from, to] = range as [number, number];
        if (!(from >= 1 && to <= 65535 && from <= to)) this.error(it.loc, `${pathLabel([...m, 'port'])}: ${String(it.value)} is not a port or a range of ports (1-65535, low-high)`, [...m, 'port']);
        else match.ports.push([from, to]);
      }
    }
    const onion = this.scalar([...m, 'onion'])?.value;
    if (typeof onion === 'boolean') match.onion = onion;
    const user = this.str([...m, 'socksUsername']);
    if (user !== undefined) match.socksUsername = user;
    const group = this.scalar([...m, 'sessionGroup'])?.value;
    if (typeof group === 'number') match.sessionGroup = group;

    const c = [...p, 'circuit'];
    const written = this.str([...p, 'action']) as AttachPolicy['action'] | undefined;
    const hasCircuit = this.node(c) !== undefined;
    const action = written ?? (hasCircuit ? 'circuit' : 'tor');
    if (action === 'circuit' && !hasCircuit) {
      this.error(this.keyLoc([...p, 'action']), `attach policy "${name}": action circuit needs a \`circuit:\` saying which`, [...p, 'action']);
      return undefined;
    }
    if (action !== 'circuit' && hasCircuit) {
      this.error(this.keyLoc(c), `attach policy "${name}": \`circuit:\` only applies to action circuit (this policy's action is ${action})`, c);
      return undefined;
    }
    const policy: AttachPolicy = {
      name,
      match,
      action,
      onFailure: this.str([...p, 'onFailure']) === 'reject' ? 'reject' : 'tor',
      deadlineMs: this.duration([...p, 'deadline'], 'TimeMsecInterval') ?? 15_000,
      source: this.pos(loc),
    };
    if (hasCircuit) {
      const circuit: AttachCircuit = { isolate: (this.str([...c, 'isolate']) as AttachCircuit['isolate'] | undefined) ?? 'none' };
      const countries = this.strings([...c, 'exitCountry']);
      if (countries) circuit.exitCountries = countries.map((x) => x.toLowerCase());
      const hops = this.strings([...c, 'path']);
      if (hops) {
        circuit.path = [];
        for (const h of hops) {
          const hop = relayRef(h);
          if (!hop) this.error(this.node([...c, 'path'])!.loc, `${pathLabel([...c, 'path'])}: "${h}" is not a relay: give $FINGERPRINT (40 hex digits), a nickname, or *`, [...c, 'path']);
          else circuit.path.push(hop);
        }
        if (countries && hops.length && hops[hops.length - 1] !== '*') {
          this.error(this.keyLoc([...c, 'exitCountry']), `attach policy "${name}": the path fixes the exit relay, so exitCountry cannot also choose it`, [...c, 'exitCountry']);
        }
      }
      const dirt = this.duration([...c, 'maxDirtiness'], 'TimeInterval');
      if (dirt !== undefined) circuit.maxDirtiness = dirt;
      policy.circuit = circuit;
    }
    return policy;
  }

  /** One string or a list of them at `p`. */
  strings(p: Path): string[] | undefined {
    const n = this.node(p);
    if (!n) return undefined;
    const items = n.kind === 'seq' ? n.items : [n];
    return items.filter((i): i is ScalarNode => i.kind === 'scalar' && i.value !== null).map((i) => String(i.value));
  }

  /** A duration in tor's units (`10 minutes`, `500 msec`), as seconds or milliseconds by `type`. */
  duration(p: Path, type: 'TimeInterval' | 'TimeMsecInterval'): number | undefined {
    const n = this.scalar(p);
    if (!n) return undefined;
    try {
      return Number(toTor({ name: pathLabel(p), type, defaults: [], immutable: false }, n.value as InputValue)[0]);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      this.error(n.loc, err.message, p);
      return undefined;
    }
  }

  // ---- access to the tree, skipping what is broken ----

  node(p: Path): SpecNode | undefined {
    if (this.diags.hasErrorAt(p)) return undefined;
    const found = locate(this.root, p);
    return found.depth === p.length ? found.node : undefined;
  }

  entry(p: Path) {
    if (this.diags.hasErrorAt(p)) return undefined;
    const found = locate(this.root, p);
    return found.depth === p.length ? found.entry : undefined;
  }

  scalar(p: Path): ScalarNode | undefined {
    const n = this.node(p);
    return n?.kind === 'scalar' && n.value !== null ? n : undefined;
  }

  keyLoc(p: Path): Loc {
    const found = locate(this.root, p);
    return found.entry?.keyLoc ?? found.node.loc;
  }

  pos(loc: Loc): SourcePos {
    const { line, col } = loc.source.lines.linePos(loc.start);
    return { file: loc.source.name, line, col };
  }

  error(loc: Loc, message: string, p?: Path): void {
    this.diags.error(loc, message, p);
  }

  /** Absolute, against the directory of the file the value is written in; `~` is refused, not guessed. */
  resolvePath(node: ScalarNode, p: Path): string | undefined {
    const text = String(node.value);
    if (text.startsWith('~')) {
      this.error(node.loc, `${pathLabel(p)}: "~" is not expanded; write the full path, or one relative to this spec file`, p);
      return undefined;
    }
    return path.resolve(node.loc.source.dir, text);
  }

  // ---- tor ----

  tor(): TorTarget {
    const out: TorTarget = {};
    const control = this.scalar(['tor', 'control']);
    const launchEntry = this.entry(['tor', 'launch']);
    if (control && launchEntry) {
      this.error(launchEntry.keyLoc, 'give either tor.control (connect to a running tor) or tor.launch (start one), not both', ['tor', 'launch']);
    }
    if (control) {
      try {
        const address = parseControlAddress(String(control.value));
        if (address.type === 'unix') address.path = path.resolve(control.loc.source.dir, address.path);
        out.control = formatControlAddress(address);
      } catch (err) {
        if (!(err instanceof TorError)) throw err;
        this.error(control.loc, `tor.control: ${err.message}`, ['tor', 'control']);
      }
    }
    const password = this.scalar(['tor', 'password']);
    if (password) {
      out.password = new Secret(String(password.value));
      if (!password.secret) this.diags.warn(password.loc, 'tor.password is written in the spec; prefer ${env:…} or ${file:…} so it stays out of version control');
    }
    const cookie = this.scalar(['tor', 'cookieFile']);
    if (cookie) out.cookieFile = this.resolvePath(cookie, ['tor', 'cookieFile']);
    if (launchEntry) {
      for (const key of ['password', 'cookieFile'] as const) {
        if (this.entry(['tor', key])) {
          this.error(this.keyLoc(['tor', key]), `tor.${key} is for connecting to a running tor (tor.control); a launched tor is reached through its own cookie`, ['tor', key]);
        }
      }
      if (!this.diags.hasErrorAt(['tor', 'launch'])) out.launch = this.launch();
    }
    return out;
  }

  launch(): LaunchSpec {
    const dataDir = this.scalar(['tor', 'launch', 'dataDirectory']);
    const binary = this.scalar(['tor', 'launch', 'binary']);
    const binaryText = binary ? String(binary.value) : 'tor';
    const options: Record<string, string[]> = {};
    const map = this.node(['tor', 'launch', 'options']);
    if (map?.kind === 'map') {
      for (const o of this.optionEntries(map, ['tor', 'launch', 'options'])) {
        const owned = SET_BY_LAUNCH.get(o.info.name);
        if (owned) {
          this.error(o.keyLoc, `${o.info.name} cannot be set in tor.launch.options: ${owned}`, o.path);
          continue;
        }
        const lines = this.optionLines(o.info, o.value, o.path);
        if (lines) options[o.info.name] = lines;
      }
    }
    return {
      dataDirectory: (dataDir && this.resolvePath(dataDir, ['tor', 'launch', 'dataDirectory'])) || path.join(this.#firstDir, '.tor-data'),
      // A bare name is looked up on PATH, as a shell would; only a path is relative to the spec file.
      binary: binary && binaryText.includes('/') ? path.resolve(binary.loc.source.dir, binaryText) : binaryText,
      options,
    };
  }

  // ---- options ----

  options(launched: boolean): DesiredOption[] {
    const map = this.node(['options']);
    if (map?.kind !== 'map') return [];
    const out: DesiredOption[] = [];
    for (const o of this.optionEntries(map, ['options'])) {
      const controllerOnly = CONTROLLER_ONLY.get(o.info.name);
      if (controllerOnly) {
        this.error(o.keyLoc, `${o.info.name} cannot be managed from a spec: ${controllerOnly}`, o.path);
        continue;
      }
      if (o.value.kind === 'scalar' && o.value.value === null) {
        out.push({ name: o.info.name, value: null, immutable: o.info.immutable, source: this.pos(o.keyLoc) });
      } else {
        const lines = this.optionLines(o.info, o.value, o.path);
        if (!lines) continue;
        const secret = isSecret(o.value) || (o.value.kind === 'seq' && o.value.items.some(isSecret));
        out.push({ name: o.info.name, value: lines.map((l) => (secret ? new Secret(l) : l)), immutable: o.info.immutable, source: this.pos(o.keyLoc) });
      }
      if (o.info.immutable) {
        const hint = launched ? '; with tor.launch, set it under tor.launch.options' : '';
        this.diags.warn(o.keyLoc, `${o.info.name} needs a tor restart to change: tor refuses a new value while it runs${hint}`);
      }
    }
    return out;
  }

  /**
   * The entries of a mapping of tor options with their canonical names: unknown names (with suggestions),
   * the same option twice in different case, and per-service options are reported and left out.
   */
  optionEntries(map: MapNode, base: Path): Array<{ info: OptionInfo; value: SpecNode; keyLoc: Loc; path: Path }> {
    const out: Array<{ info: OptionInfo; value: SpecNode; keyLoc: Loc; path: Path }> = [];
    const seen = new Map<string, Loc>();
    for (const [key, e] of map.entries) {
      const p = [...base, key];
      if (this.diags.isBroken(p)) continue;
      const info = this.table.get(key);
      const isServiceOption = refusedOnionOption(key) !== undefined || (info !== undefined && info.name.startsWith('HiddenService') && (info.type === 'Dependent' || info.type === 'Virtual'));
      if (isServiceOption) {
        this.error(e.keyLoc, `${info?.name ?? key} is an onion service option: declare onion services under onionServices`, p);
        continue;
      }
      if (!info && this.allowUnknownOptions) {
        this.diags.leaveOut(p);
        continue;
      }
      if (!info) {
        const guesses = this.table.suggest(key);
        const hint = guesses.length ? `; did you mean ${guesses.join(' or ')}?` : '';
        const where = this.table.torVersion ? ` (tor ${this.table.torVersion})` : '';
        this.error(e.keyLoc, `unknown tor option "${key}"${where}${hint}`, p);
        continue;
      }
      const first = seen.get(info.name);
      if (first) {
        const { line, col } = first.source.lines.linePos(first.start);
        this.error(e.keyLoc, `${info.name} is given twice (also as "${first.source.text.slice(first.start, first.end)}" at ${first.source.name}:${line}:${col}); option names ignore case`, p);
        continue;
      }
      seen.set(info.name, e.keyLoc);
      out.push({ info, value: e.value, keyLoc: e.keyLoc, path: p });
    }
    return out;
  }

  /** The value in tor's form, or undefined after reporting why tor would refuse it (secrets redacted). */
  optionLines(info: OptionInfo, node: SpecNode, p: Path): string[] | undefined {
    const secrets: string[] = [];
    const input = inputValue(node, secrets);
    try {
      return toTor(info, input);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      // ValueError messages start with the option name; the section in front makes them read like the others.
      const section = pathLabel(p.slice(0, -1));
      this.error(node.loc, `${section}.${redact(err.message, secrets, `${info.name}: the interpolated value is not a valid ${info.type} value`)}`, p);
      return undefined;
    }
  }

  // ---- onion services ----

  onionServices(stateDirectory: string): OnionServiceSpec[] {
    const list = this.node(['onionServices']);
    if (list?.kind !== 'seq') return [];
    const out: OnionServiceSpec[] = [];
    const names = new Map<string, Loc>();
    const directories = new Map<string, string>();
    const keyFiles = new Map<string, string>();
    const ephemeralKeys: Array<{ keyFile: string; p: Path }> = [];
    list.items.forEach((item, i) => {
      const p: Path = ['onionServices', i];
      const type = this.str([...p, 'type']);
      // Without a valid type nothing else can be judged; the schema said what is wrong.
      if (this.diags.hasErrorAt(p) || (type !== 'filesystem' && type !== 'ephemeral')) return;
      const nameNode = this.scalar([...p, 'name']);
      const name = typeof nameNode?.value === 'string' ? nameNode.value : '';
      if (nameNode) {
        const first = names.get(name);
        if (first) this.error(nameNode.loc, `duplicate service name "${name}" (first at ${where(first)}); names must be unique`, [...p, 'name']);
        else names.set(name, nameNode.loc);
      }
      const ports = this.ports(p, name);
      const authorizedClients = this.authorizedClients(p, name);
      const address = this.node([...p, 'address']) ? this.onionAddress([...p, 'address']) : undefined;
      const source = this.pos(item.loc);
      if (type === 'filesystem') {
        const dirNode = this.scalar([...p, 'directory']);
        const directory = (dirNode && this.resolvePath(dirNode, [...p, 'directory'])) ?? '';
        const other = directories.get(directory);
        if (dirNode && other !== undefined) {
          this.error(dirNode.loc, `directory ${directory} is already used by service "${other}"; each service needs its own directory`, [...p, 'directory']);
        } else if (directory) directories.set(directory, name);
        const service: FilesystemService = { type, name, directory, ports, options: this.serviceOptions(p), authorizedClients, source };
        if (address) service.address = address;
        out.push(service);
      } else {
        const keyFile = this.keyFile(p, name, stateDirectory) ?? '';
        const other = keyFiles.get(keyFile);
        if (keyFile && other !== undefined) {
          this.error(this.keyLoc([...p, 'key']), `key file ${keyFile} is already used by service "${other}"; tor refuses to load one key twice`, [...p, 'key']);
        } else if (keyFile) keyFiles.set(keyFile, name);
        const maxStreams = this.scalar([...p, 'maxStreams'])?.value;
        const service: EphemeralService = {
          type,
          name,
          keyFile,
          ports,
          maxStreamsCloseCircuit: this.scalar([...p, 'maxStreamsCloseCircuit'])?.value === true,
          authorizedClients,
          source,
        };
        if (typeof maxStreams === 'number') service.maxStreams = maxStreams;
        if (address) service.address = address;
        out.push(service);
        ephemeralKeys.push({ keyFile, p });
      }
    });
    // Tor owns the files of a HiddenServiceDir: it replaces a key it cannot read with a new one.
    for (const { keyFile, p } of ephemeralKeys) {
      const inside = [...directories].find(([dir]) => dir && keyFile && (keyFile === dir || keyFile.startsWith(dir + path.sep)));
      if (inside) {
        this.error(this.keyLoc([...p, 'key']), `key file ${keyFile} is inside the directory of filesystem service "${inside[1]}": tor would replace it with its own key; keep ephemeral keys elsewhere (copy one with tor-reconcile keys import)`, [...p, 'key']);
      }
    }
    return out;
  }

  /** Text at `p`, if it is there and sound. */
  str(p: Path): string | undefined {
    const value = this.scalar(p)?.value;
    return typeof value === 'string' ? value : undefined;
  }

  /** The items of the list at `p` that are sound, with their paths. */
  items(p: Path): Array<{ item: SpecNode; p: Path }> {
    const list = this.node(p);
    if (list?.kind !== 'seq') return [];
    return list.items.map((item, j) => ({ item, p: [...p, j] })).filter((x) => !this.diags.isBroken(x.p));
  }

  ports(service: Path, name: string): OnionPortSpec[] {
    const out: OnionPortSpec[] = [];
    const seen = new Map<number, Loc>();
    for (const { item, p } of this.items([...service, 'ports'])) {
      const port = this.scalar([...p, 'port'])!.value as number;
      const targetNode = this.scalar([...p, 'target']);
      const target = portTarget(port, targetNode?.value as string | number | undefined);
      if (typeof target !== 'string') this.error(targetNode!.loc, `${pathLabel([...p, 'target'])}: ${target.error}`, [...p, 'target']);
      const first = seen.get(port);
      if (first) this.error(item.loc, `port ${port} is listed twice in service "${name}" (first at ${where(first)})`, p);
      else seen.set(port, item.loc);
      if (typeof target === 'string') out.push({ port, target });
    }
    return out;
  }

  authorizedClients(service: Path, serviceName: string): AuthorizedClient[] {
    const out: AuthorizedClient[] = [];
    const names = new Map<string, Loc>();
    for (const { p } of this.items([...service, 'authorizedClients'])) {
      const nameNode = this.scalar([...p, 'name'])!;
      const name = String(nameNode.value);
      const first = names.get(name);
      if (first) this.error(nameNode.loc, `client "${name}" is listed twice in service "${serviceName}" (first at ${where(first)}); each becomes authorized_clients/<name>.auth`, [...p, 'name']);
      else names.set(name, nameNode.loc);
      const keyNode = this.scalar([...p, 'publicKey'])!;
      const key = String(keyNode.value);
      try {
        // A whole `.auth` file line is accepted as well as the bare key.
        out.push({ name, publicKey: parseServiceAuthLine(key.includes(':') ? key : `descriptor:x25519:${key}`).publicKey });
      } catch (err) {
        if (!(err instanceof ClientAuthError)) throw err;
        this.error(keyNode.loc, `${pathLabel([...p, 'publicKey'])}: ${err.message}`, [...p, 'publicKey']);
      }
    }
    return out;
  }

  onionAddress(p: Path): string | undefined {
    const node = this.scalar(p);
    if (!node) return undefined;
    try {
      // Checksum and version only: a pin is compared with the service's key, and a client-auth address is
      // checked again by tor, so the millisecond-per-address curve checks would only slow validation.
      return parseOnionAddress(String(node.value), { verifyPoint: false }).address;
    } catch (err) {
      if (!(err instanceof OnionAddressError)) throw err;
      this.error(node.loc, `${pathLabel(p)}: ${err.message}`, p);
      return undefined;
    }
  }

  keyFile(service: Path, name: string, stateDirectory: string): string | undefined {
    const p = [...service, 'key'];
    if (this.diags.isBroken(p) || !this.node(p)) return undefined;
    const loc = this.keyLoc(p);
    const file = this.scalar([...p, 'file']);
    const generate = this.scalar([...p, 'generate'])?.value;
    if (file && generate !== undefined) {
      this.error(loc, 'give either key.file or key.generate, not both (a generated key lives in <stateDirectory>/keys/)', p);
      return undefined;
    }
    if (file) return this.resolvePath(file, [...p, 'file']);
    if (generate === true) return name ? path.join(stateDirectory, 'keys', `${name}.key`) : undefined;
    this.error(loc, 'key: give { file: PATH } for a key file of your own, or { generate: true } to have one kept in <stateDirectory>/keys/', p);
    return undefined;
  }

  /** The per-service HiddenService* options, in spec order, with tor's joint checks of rate and burst. */
  serviceOptions(service: Path): Array<[string, string]> {
    const map = this.node([...service, 'options']);
    if (map?.kind !== 'map') return [];
    const out: Array<[string, string]> = [];
    const keyLocs = new Map<string, Loc>();
    for (const [key, e] of map.entries) {
      const p = [...service, 'options', key];
      if (this.diags.hasErrorAt(p)) continue;
      const refused = refusedOnionOption(key);
      if (refused) {
        this.error(e.keyLoc, `${key} cannot be set here: ${refused}`, p);
        continue;
      }
      const info = onionOption(key);
      if (!info) {
        const global = this.table.get(key);
        if (global && !global.name.startsWith('HiddenService')) {
          this.error(e.keyLoc, `${global.name} is not a per-service option; set it under the top-level options`, p);
        } else {
          const guess = closest(key, onionOptions().map((o) => o.name));
          this.error(e.keyLoc, `unknown onion service option "${key}"${guess ? `; did you mean ${guess}?` : ''}`, p);
        }
        continue;
      }
      if (!this.table.get(info.name) && this.allowUnknownOptions) {
        this.diags.leaveOut(p);
        continue;
      }
      if (!this.table.get(info.name)) {
        this.error(e.keyLoc, `${info.name} is not known to this tor${this.table.torVersion ? ` (${this.table.torVersion})` : ''}`, p);
        continue;
      }
      const first = keyLocs.get(info.name);
      if (first) {
        this.error(e.keyLoc, `${info.name} is given twice in this service (first at ${where(first)}); option names ignore case`, p);
        continue;
      }
      keyLocs.set(info.name, e.keyLoc);
      const value = onionOptionValue(info, toPlain(e.value) as string | number | boolean);
      if (typeof value !== 'string') {
        this.error(e.value.loc, value.error, p);
        continue;
      }
      out.push([info.name, value]);
    }
    const values = new Map(out);
    for (const rule of BURST_RULES) {
      if (values.get(rule.enabled) !== '1') continue;
      const rate = Number(values.get(rule.rate) ?? onionOption(rule.rate)!.default);
      const burst = Number(values.get(rule.burst) ?? onionOption(rule.burst)!.default);
      if (burst < rate) {
        const at = keyLocs.get(rule.burst) ?? keyLocs.get(rule.rate)!;
        this.error(at, `${rule.burst} (${burst}) is below ${rule.rate} (${rate}) while ${rule.enabled} is on; tor refuses that`, [...service, 'options']);
      }
    }
    return out;
  }

  // ---- client authorization ----

  clientAuth(): ClientAuthSpec[] {
    const out: ClientAuthSpec[] = [];
    const addresses = new Map<string, Loc>();
    const list = this.node(['clientAuth']);
    if (list?.kind !== 'seq') return [];
    list.items.forEach((item, i) => {
      const p: Path = ['clientAuth', i];
      const keyNode = this.scalar([...p, 'privateKey']);
      if (this.diags.hasErrorAt(p) || !keyNode) return;
      if (!keyNode.secret) this.diags.warn(keyNode.loc, 'a private key is written in the spec; prefer ${file:…} or ${env:…} so it stays out of version control');
      let parsed;
      try {
        parsed = parseClientAuthPrivate(new Secret(String(keyNode.value)));
      } catch (err) {
        if (!(err instanceof ClientAuthError)) throw err;
        this.error(keyNode.loc, `${pathLabel([...p, 'privateKey'])}: ${clientAuthProblem(err)}`, [...p, 'privateKey']);
        return;
      }
      let address = parsed.address;
      const addressNode = this.node([...p, 'address']);
      if (addressNode) {
        const given = this.onionAddress([...p, 'address']);
        if (!given) return;
        if (address !== undefined && address !== given) {
          this.error(addressNode.loc, `${pathLabel([...p, 'address'])} differs from the address in the privateKey line`, [...p, 'address']);
          return;
        }
        address = given;
      } else if (this.diags.hasErrorAt([...p, 'address'])) return;
      if (address === undefined) {
        this.error(item.loc, `${pathLabel(p)}: missing required key "address" (privateKey is a bare key, not a whole .auth_private line)`, p);
        return;
      }
      const first = addresses.get(address);
      if (first) {
        this.error(item.loc, `${pathLabel(p)}: credentials for ${address}.onion are already given (at ${where(first)}); tor keeps one per service`, p);
        return;
      }
      addresses.set(address, item.loc);
      const spec: ClientAuthSpec = { address, privateKey: parsed.privateKey, permanent: this.scalar([...p, 'permanent'])?.value === true, source: this.pos(item.loc) };
      const clientName = this.str([...p, 'name']);
      if (clientName !== undefined) spec.clientName = clientName;
      out.push(spec);
    });
    return out;
  }
}

const ADDRESS_PROBLEMS: Record<OnionAddressProblem, string> = {
  length: 'is not 56 characters long',
  characters: 'is not base32 (a-z, 2-7)',
  version: 'has the wrong version byte',
  checksum: 'fails its checksum',
  'public-key': 'is not a valid ed25519 key',
};

/**
 * Why a privateKey was refused, without any part of it: the address check quotes the field it was given,
 * which may be the key itself written in the wrong place.
 */
function clientAuthProblem(err: ClientAuthError): string {
  if (err.cause instanceof OnionAddressError) return `the address before the first ":" ${ADDRESS_PROBLEMS[err.cause.problem]}; expected "<address>:descriptor:x25519:<base32 private key>"`;
  return err.message;
}

/** A value the desired state must hold as a Secret: interpolated, or a secret even when written literally. */
function isSecret(node: SpecNode): boolean {
  return node.kind === 'scalar' && (node.secret || node.sensitive);
}

function where(loc: Loc): string {
  const { line, col } = loc.source.lines.linePos(loc.start);
  return `${loc.source.name}:${line}:${col}`;
}

/**
 * What toTor gets for a YAML value. Integers beyond 2^53 are passed as their digits, which YAML's numbers
 * would round. Secret texts are collected so messages can be redacted.
 */
function inputValue(node: SpecNode, secrets: string[]): InputValue {
  const one = (n: SpecNode): string | number | boolean => {
    const s = n as ScalarNode;
    if (typeof s.value === 'number' && Number.isInteger(s.value) && !Number.isSafeInteger(s.value) && s.text !== undefined) return s.text;
    if (isSecret(s) && typeof s.value === 'string') secrets.push(s.value);
    return s.value as string | number | boolean;
  };
  if (node.kind === 'seq') return node.items.map(one);
  if (node.kind === 'scalar' && node.value === null) return null;
  return one(node);
}

/**
 * `message` with secret values replaced by `<redacted>` where toTor quotes them; if a secret still shows
 * (say it is `1`, and the message mentions `1/0`), the whole message is replaced by `fallback`.
 */
function redact(message: string, secrets: readonly string[], fallback: string): string {
  let out = message;
  for (const s of secrets) out = out.split(`\`${s}\``).join('<redacted>').split(JSON.stringify(s)).join('<redacted>');
  return secrets.some((s) => s !== '' && out.includes(s)) ? fallback : out;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * A port target in the form tor prints back (`HOST:PORT` or `unix:PATH`), or why it is refused. Tor itself
 * also resolves host names, once, when it reads the configuration; that fails without DNS (as under
 * DisableNetwork), so only addresses and `localhost` are accepted.
 */
export function portTarget(port: number, target: string | number | undefined): string | { error: string } {
  if (target === undefined) return `127.0.0.1:${port}`;
  const text = typeof target === 'number' ? String(target) : target.trim();
  if (/^\d+$/.test(text)) return validPort(text) ? `127.0.0.1:${Number(text)}` : { error: `port ${text} is out of range (1-65535)` };
  if (text.startsWith('unix:')) {
    const socket = text.slice(5);
    if (!socket.startsWith('/')) return { error: 'a unix socket target needs an absolute path: unix:/path/to/socket' };
    if (/[\s"\\]/.test(socket)) return { error: 'a unix socket path with spaces, quotes or backslashes is not supported' };
    return `unix:${socket}`;
  }
  // Tor also takes a bare IPv6 address (no port) without brackets; only those have two colons unbracketed.
  const bare = !text.startsWith('[') && text.indexOf(':') !== text.lastIndexOf(':') ? ipv6(text) : undefined;
  if (bare) return `[${bare}]:${port}`;
  const m = /^(?:\[([^\]]*)\]|([^:]+))(?::(\d+))?$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const portText = m?.[3];
  if (!m || host === undefined) {
    return { error: `expected HOST:PORT (IPv4, [IPv6] or localhost), PORT or unix:/path, got ${JSON.stringify(text)}` };
  }
  if (portText !== undefined && !validPort(portText)) return { error: `port ${portText} is out of range (1-65535)` };
  const realPort = portText === undefined ? port : Number(portText);
  if (m[1] !== undefined) {
    const canonical = ipv6(host);
    return canonical ? `[${canonical}]:${realPort}` : { error: `${JSON.stringify(host)} is not an IPv6 address` };
  }
  if (IPV4.test(host) || host === 'localhost') return `${host}:${realPort}`;
  return {
    error: `${JSON.stringify(host)} is not an IP address: tor resolves host names only once, when it reads its configuration; use 127.0.0.1, [::1] or unix:/path`,
  };
}

function validPort(text: string): boolean {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** The compressed lowercase form of an IPv6 address, or undefined if it is not one. */
function ipv6(text: string): string | undefined {
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** `$FINGERPRINT` (any case, `$` optional, normalized to `$` + uppercase), a nickname, or `*`. */
function relayRef(text: string): string | undefined {
  if (text === '*') return text;
  const fp = /^\$?([0-9A-Fa-f]{40})$/.exec(text);
  if (fp) return `$${fp[1]!.toUpperCase()}`;
  return /^[A-Za-z0-9]{1,19}$/.test(text) ? text : undefined;
}

/** `ADDR/BITS` for IPv4 or IPv6; undefined when malformed. */
function parseCidr(text: string): { address: string; bits: number; v6: boolean } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const v = isIP(m[1]!);
  const bits = Number(m[2]);
  if (v === 0 || bits > (v === 6 ? 128 : 32)) return undefined;
  return { address: m[1]!, bits, v6: v === 6 };
}
