/**
 * `onionServices:`: filesystem services (a HiddenServiceDir tor owns) and ephemeral ones (ADD_ONION with a
 * key file tor-reconcile keeps), their ports, pinned addresses and authorized clients. A filesystem
 * service's `options` are left empty here: they are checked against a tor's option table (options.ts).
 */
import path from 'node:path';
import type { AuthorizedClient, EphemeralService, FilesystemService, OnionPortSpec, OnionServiceSpec } from '../model.js';
import { ClientAuthError, parseServiceAuthLine } from '../../tor/onion/clientauth.js';
import type { Path } from '../diagnostics.js';
import { pathLabel } from '../tree.js';
import { pos, where, type SpecReader } from './reader.js';

/** The services in spec order, each with the path it is written at (for its `options`). */
export function onionServices(r: SpecReader, stateDirectory: string): Array<{ service: OnionServiceSpec; p: Path }> {
  const list = r.node(['onionServices']);
  if (list?.kind !== 'seq') return [];
  const out: Array<{ service: OnionServiceSpec; p: Path }> = [];
  const names = r.uniqueBy<string>((name, first) => `duplicate service name "${name}" (first at ${where(first)}); names must be unique`);
  const directories = r.uniqueBy<string, string>((directory, other) => `directory ${directory} is already used by service "${other}"; each service needs its own directory`);
  const keyFiles = r.uniqueBy<string, string>((keyFile, other) => `key file ${keyFile} is already used by service "${other}"; tor refuses to load one key twice`);
  const ephemeralKeys: Array<{ keyFile: string; p: Path }> = [];
  list.items.forEach((item, i) => {
    const p: Path = ['onionServices', i];
    const type = r.str([...p, 'type']);
    // Without a valid type nothing else can be judged; the schema said what is wrong.
    if (r.diags.hasErrorAt(p) || (type !== 'filesystem' && type !== 'ephemeral')) return;
    const nameNode = r.scalar([...p, 'name']);
    const name = typeof nameNode?.value === 'string' ? nameNode.value : '';
    if (nameNode) names.add(name, nameNode.loc, [...p, 'name'], nameNode.loc);
    const ports = servicePorts(r, p, name);
    const authorizedClients = serviceClients(r, p, name);
    const address = r.node([...p, 'address']) ? r.onionAddress([...p, 'address']) : undefined;
    const source = pos(item.loc);
    if (type === 'filesystem') {
      const dirNode = r.scalar([...p, 'directory']);
      const directory = (dirNode && r.resolvePath(dirNode, [...p, 'directory'])) ?? '';
      if (dirNode && directory) directories.add(directory, dirNode.loc, [...p, 'directory'], name);
      const service: FilesystemService = { type, name, directory, ports, options: [], authorizedClients, source };
      if (address) service.address = address;
      if (r.scalar([...p, 'adopt'])?.value === true) service.adopt = true;
      out.push({ service, p });
    } else {
      const keyFile = keyFileOf(r, p, name, stateDirectory) ?? '';
      if (keyFile) keyFiles.add(keyFile, r.keyLoc([...p, 'key']), [...p, 'key'], name);
      const maxStreams = r.scalar([...p, 'maxStreams'])?.value;
      const service: EphemeralService = {
        type,
        name,
        keyFile,
        ports,
        maxStreamsCloseCircuit: r.scalar([...p, 'maxStreamsCloseCircuit'])?.value === true,
        authorizedClients,
        source,
      };
      if (typeof maxStreams === 'number') service.maxStreams = maxStreams;
      if (address) service.address = address;
      out.push({ service, p });
      ephemeralKeys.push({ keyFile, p });
    }
  });
  // Tor owns the files of a HiddenServiceDir: it replaces a key it cannot read with a new one.
  for (const { keyFile, p } of ephemeralKeys) {
    const inside = [...directories.seen].find(([dir]) => dir && keyFile && (keyFile === dir || keyFile.startsWith(dir + path.sep)));
    if (inside) {
      r.error(r.keyLoc([...p, 'key']), `key file ${keyFile} is inside the directory of filesystem service "${inside[1]}": tor would replace it with its own key; keep ephemeral keys elsewhere (copy one with tor-reconcile keys import)`, [...p, 'key']);
    }
  }
  return out;
}

export function servicePorts(r: SpecReader, service: Path, name: string): OnionPortSpec[] {
  const out: OnionPortSpec[] = [];
  const seen = r.uniqueBy<number>((port, first) => `port ${port} is listed twice in service "${name}" (first at ${where(first)})`);
  for (const { item, p } of r.items([...service, 'ports'])) {
    const port = r.scalar([...p, 'port'])!.value as number;
    const targetNode = r.scalar([...p, 'target']);
    const target = portTarget(port, targetNode?.value as string | number | undefined);
    if (typeof target !== 'string') r.error(targetNode!.loc, `${pathLabel([...p, 'target'])}: ${target.error}`, [...p, 'target']);
    seen.add(port, item.loc, p, item.loc);
    if (typeof target === 'string') out.push({ port, target });
  }
  return out;
}

function serviceClients(r: SpecReader, service: Path, serviceName: string): AuthorizedClient[] {
  const out: AuthorizedClient[] = [];
  const names = r.uniqueBy<string>(
    (name, first) => `client "${name}" is listed twice in service "${serviceName}" (first at ${where(first)}); each becomes authorized_clients/<name>.auth`,
  );
  for (const { p } of r.items([...service, 'authorizedClients'])) {
    const nameNode = r.scalar([...p, 'name'])!;
    const name = String(nameNode.value);
    names.add(name, nameNode.loc, [...p, 'name'], nameNode.loc);
    const keyNode = r.scalar([...p, 'publicKey'])!;
    const key = String(keyNode.value);
    try {
      // A whole `.auth` file line is accepted as well as the bare key.
      out.push({ name, publicKey: parseServiceAuthLine(key.includes(':') ? key : `descriptor:x25519:${key}`).publicKey });
    } catch (err) {
      if (!(err instanceof ClientAuthError)) throw err;
      r.error(keyNode.loc, `${pathLabel([...p, 'publicKey'])}: ${err.message}`, [...p, 'publicKey']);
    }
  }
  return out;
}

function keyFileOf(r: SpecReader, service: Path, name: string, stateDirectory: string): string | undefined {
  const p = [...service, 'key'];
  if (r.diags.isBroken(p) || !r.node(p)) return undefined;
  const loc = r.keyLoc(p);
  const file = r.scalar([...p, 'file']);
  const generate = r.scalar([...p, 'generate'])?.value;
  if (file && generate !== undefined) {
    r.error(loc, 'give either key.file or key.generate, not both (a generated key lives in <stateDirectory>/keys/)', p);
    return undefined;
  }
  if (file) return r.resolvePath(file, [...p, 'file']);
  if (generate === true) return name ? path.join(stateDirectory, 'keys', `${name}.key`) : undefined;
  r.error(loc, 'key: give { file: PATH } for a key file of your own, or { generate: true } to have one kept in <stateDirectory>/keys/', p);
  return undefined;
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
