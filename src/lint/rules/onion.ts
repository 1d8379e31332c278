/** Onion services: where they run, single-onion mode, denial-of-service limits, client authorization. */
import { parseListener } from '../address.js';
import { serviceIndex, serviceOption, type ConfigView } from '../config.js';
import type { OnionServiceSpec } from '../../spec/model.js';
import type { Rule, RuleHit, SpecPath } from '../types.js';

const MANUAL = "tor's manual (tor(1))";

function at(config: ConfigView, service: OnionServiceSpec, ...rest: Array<string | number>): SpecPath {
  return ['onionServices', serviceIndex(config, service), ...rest];
}

function serviceHit(config: ConfigView, service: OnionServiceSpec, message: string, ...rest: Array<string | number>): RuleHit {
  return { message, at: at(config, service, ...rest), source: service.source };
}

export const onionOnRelay: Rule = {
  id: 'TR010',
  name: 'onion-service-on-relay',
  severity: 'error',
  summary: 'Onion services on a tor that is also a relay (ORPort set)',
  rationale:
    'A relay is public: its address, uptime and restarts are in the consensus for anyone to read. An onion service on the same tor goes down and comes back with it, and its traffic shares the relay\'s process and timing, which lets an observer link the service to the relay\'s IP address. tor warns at start-up: "Tor is currently configured as a relay and a hidden service. That\'s not very secure: you should probably run your hidden service in a separate Tor process".',
  sources: ['tor 0.4.9\'s start-up warning, citing https://bugs.torproject.org/tpo/core/tor/8742', `${MANUAL}: ORPort`],
  fix: 'Run the onion services on a separate tor (another spec with tor.launch or another control port), or remove ORPort from this one.',
  *check(config) {
    if (!config.hostsOnionServices) return;
    for (const line of config.lines('ORPort')) {
      if (parseListener(line.value, '0.0.0.0').kind === 'off') continue;
      yield { message: `ORPort ${line.value} makes this tor a relay, and it hosts ${config.services.length} onion service(s)`, at: line.at, ...(line.source ? { source: line.source } : {}) };
    }
  },
};

/** Where a single-onion option is written, for a finding about it. */
function optionAt(config: ConfigView, name: string): Pick<RuleHit, 'at' | 'source'> {
  const line = config.lines(name).at(-1);
  return line ? { at: line.at, ...(line.source ? { source: line.source } : {}) } : { at: ['options'] };
}

export const singleOnionMismatch: Rule = {
  id: 'TR011',
  name: 'single-onion-half-set',
  severity: 'error',
  summary: 'HiddenServiceNonAnonymousMode without HiddenServiceSingleHopMode, or the other way round',
  rationale:
    'The two options only work together: tor refuses to start with one and not the other ("HiddenServiceNonAnonymousMode does not provide any server anonymity. It must be used with HiddenServiceSingleHopMode set to 1", and the converse). A spec that sets one is a tor that will not start, or a restart that fails.',
  sources: [`${MANUAL}: HiddenServiceSingleHopMode, HiddenServiceNonAnonymousMode`, "tor 0.4.9's option validation messages"],
  fix: 'Set both to 1 for a single onion service (not anonymous), or neither.',
  *check(config) {
    const nonAnon = config.flag('HiddenServiceNonAnonymousMode') === true;
    const singleHop = config.flag('HiddenServiceSingleHopMode') === true;
    if (nonAnon === singleHop) return;
    const [set, missing] = nonAnon ? ['HiddenServiceNonAnonymousMode', 'HiddenServiceSingleHopMode'] : ['HiddenServiceSingleHopMode', 'HiddenServiceNonAnonymousMode'];
    yield { message: `${set} is 1 but ${missing} is not: tor refuses to start`, ...optionAt(config, set) };
  },
};

const NON_ANON_CLIENT_PORTS = ['SocksPort', 'TransPort', 'NATDPort', 'DNSPort'];

export const singleOnionClientPorts: Rule = {
  id: 'TR012',
  name: 'single-onion-with-client-ports',
  severity: 'error',
  summary: 'HiddenServiceNonAnonymousMode with a client port open (SocksPort is open by default)',
  rationale:
    'A tor in non-anonymous mode builds one-hop circuits; tor refuses to also act as an anonymous client: "HiddenServiceNonAnonymousMode is incompatible with using Tor as an anonymous client. Please set Socks/Trans/NATD/DNSPort to 0". SocksPort defaults to 9050, so leaving it out of the spec is not enough.',
  sources: [`${MANUAL}: HiddenServiceNonAnonymousMode ("you need to disable all client-side services on your Tor instance, including setting SOCKSPort to \\"0\\"")`],
  fix: 'Set `SocksPort: 0` (and no TransPort, NATDPort or DNSPort) in the spec, and use a separate tor as a client.',
  *check(config) {
    if (config.flag('HiddenServiceNonAnonymousMode') !== true) return;
    if (!config.declares('SocksPort') || config.lines('SocksPort').length === 0) {
      yield { message: 'HiddenServiceNonAnonymousMode is 1 and the spec leaves SocksPort at its default (9050): tor refuses to start', ...optionAt(config, 'HiddenServiceNonAnonymousMode') };
    }
    for (const option of NON_ANON_CLIENT_PORTS) {
      for (const line of config.lines(option)) {
        if (parseListener(line.value).kind === 'off') continue;
        yield { message: `${option} ${line.value} is open while HiddenServiceNonAnonymousMode is 1: tor refuses to start`, at: line.at, ...(line.source ? { source: line.source } : {}) };
      }
    }
  },
};

export const singleOnionNotAnonymous: Rule = {
  id: 'TR013',
  name: 'single-onion-service',
  severity: 'note',
  summary: 'Single onion services: the services on this tor are not anonymous',
  rationale:
    'With both single-hop options set, every onion service of this tor connects directly to its introduction and rendezvous points: "One-hop circuits make Single Onion servers easily locatable". This is right for a service whose location is public anyway (a news site\'s onion mirror) and wrong for any other; once used, its directory "can NEVER be used again for a hidden service".',
  sources: [`${MANUAL}: HiddenServiceSingleHopMode, HiddenServiceNonAnonymousMode`],
  fix: 'Nothing, if the service\'s location is meant to be public (suppress with that reason). Otherwise remove both options and give the services new directories and keys.',
  *check(config) {
    if (config.flag('HiddenServiceNonAnonymousMode') === true && config.flag('HiddenServiceSingleHopMode') === true && config.hostsOnionServices) {
      yield { message: `single onion mode: the location of ${config.services.map((s) => `"${s.name}"`).join(', ')} is not hidden`, ...optionAt(config, 'HiddenServiceSingleHopMode') };
    }
  },
};

function isPublic(service: OnionServiceSpec): boolean {
  return service.authorizedClients.length === 0;
}

export const noMaxStreams: Rule = {
  id: 'TR014',
  name: 'onion-no-stream-limit',
  severity: 'warning',
  summary: 'A public onion service without a limit on streams per rendezvous circuit',
  rationale:
    'Anyone who knows a public onion address can open one rendezvous circuit and then as many streams on it as they like: each stream is a connection to the backend, so one client can exhaust it. HiddenServiceMaxStreams (ephemeral: maxStreams) caps the streams per circuit; its default, 0, is unlimited. With HiddenServiceMaxStreamsCloseCircuit the circuit is closed instead of the extra streams being ignored.',
  sources: [`${MANUAL}: HiddenServiceMaxStreams, HiddenServiceMaxStreamsCloseCircuit`],
  fix: 'Give the service `options: { HiddenServiceMaxStreams: N, HiddenServiceMaxStreamsCloseCircuit: true }` (filesystem) or `maxStreams: N` with `maxStreamsCloseCircuit: true` (ephemeral), N a little above what one legitimate client needs.',
  *check(config) {
    for (const service of config.services.filter(isPublic)) {
      const limit = service.type === 'filesystem' ? Number(serviceOption(service, 'HiddenServiceMaxStreams') ?? 0) : (service.maxStreams ?? 0);
      if (limit === 0) yield serviceHit(config, service, `public onion service "${service.name}" has no HiddenServiceMaxStreams: one client may open unlimited streams`);
    }
  },
};

export const noDosDefence: Rule = {
  id: 'TR015',
  name: 'onion-no-dos-defence',
  severity: 'note',
  summary: 'A public filesystem onion service with neither introduction-point DoS defence nor proof-of-work',
  rationale:
    'Floods of introduction requests are the usual denial of service against onion services. HiddenServiceEnableIntroDoSDefense asks the introduction points to rate-limit requests for the service ("The service never looks at the consensus parameters in order to enable or disable this defense"), and HiddenServicePoWDefensesEnabled lets clients that solve a puzzle go first when the service is overloaded. Both are off by default. (Ephemeral services cannot set them through ADD_ONION in tor-reconcile yet and are not reported.)',
  sources: [`${MANUAL}: HiddenServiceEnableIntroDoSDefense, HiddenServiceEnableIntroDoSRatePerSec, HiddenServiceEnableIntroDoSBurstPerSec, HiddenServicePoWDefensesEnabled`],
  fix: 'Add `HiddenServicePoWDefensesEnabled: true` and/or `HiddenServiceEnableIntroDoSDefense: true` (with a rate and burst) to the service\'s options.',
  *check(config) {
    for (const service of config.services.filter(isPublic)) {
      if (service.type !== 'filesystem') continue;
      if (serviceOption(service, 'HiddenServiceEnableIntroDoSDefense') === '1' || serviceOption(service, 'HiddenServicePoWDefensesEnabled') === '1') continue;
      yield serviceHit(config, service, `public onion service "${service.name}" has no introduction DoS defence and no proof-of-work defence`);
    }
  },
};

export const duplicateClientKey: Rule = {
  id: 'TR016',
  name: 'client-auth-duplicate-key',
  severity: 'error',
  summary: 'Two authorized clients of one onion service with the same public key',
  rationale:
    'Each authorized client is one key: two names with the same key are one client with two names. Revoking "one" of them (removing its entry) leaves the key authorized under the other name, so the client you meant to cut off keeps access. Usually a key was copied into the wrong entry.',
  sources: [`${MANUAL}: CLIENT AUTHORIZATION (one <auth-type>:<key-type>:<base32-encoded-public-key> per client file)`],
  fix: 'Give each client its own key (`tor-reconcile keys` or the client\'s tor generates one) and remove the copy.',
  *check(config) {
    for (const service of config.services) {
      const seen = new Map<string, string>();
      for (const [j, client] of service.authorizedClients.entries()) {
        const first = seen.get(client.publicKey.toLowerCase());
        if (first !== undefined) yield serviceHit(config, service, `onion service "${service.name}": clients "${first}" and "${client.name}" have the same public key`, 'authorizedClients', j, 'publicKey');
        else seen.set(client.publicKey.toLowerCase(), client.name);
      }
    }
  },
};

/**
 * How many clients fit in one v3 descriptor, by tor-reconcile's model of the format: a descriptor may be at
 * most 50000 bytes (HSV3MaxDescriptorSize's default); the middle (superencrypted) layer is padded to a
 * multiple of 10000 bytes, and both encrypted layers carry 48 bytes of salt and MAC and are base64 with a
 * line break per 64 characters; an `auth-client` line is 70 bytes, and tor pads the list to a multiple of 16
 * clients; an introduction point takes about 750 bytes of the inner layer. Measured on the private network
 * with 3 introduction points (test/e2e/lint-client-limit.test.ts): 368 clients publish, 384 do not.
 */
export function maxAuthorizedClients(introPoints: number): number {
  const MAX_DESCRIPTOR = 50_000;
  const OUTER_FIXED = 1_000;
  const MIDDLE_FIXED = 200;
  const PER_CLIENT = 70;
  const PER_INTRO_POINT = 750;
  const armored = (n: number) => Math.ceil(((n + 48) * 4) / 3) * (65 / 64);
  const inner = armored(introPoints * PER_INTRO_POINT + 100);
  // The largest padded middle layer whose armour still fits.
  let middle = 0;
  while (armored(middle + 10_000) + OUTER_FIXED <= MAX_DESCRIPTOR) middle += 10_000;
  const clients = Math.floor((middle - MIDDLE_FIXED - inner) / PER_CLIENT);
  return Math.max(0, Math.floor(clients / 16) * 16);
}

export const tooManyClients: Rule = {
  id: 'TR017',
  name: 'client-auth-too-many',
  severity: 'warning',
  summary: 'More authorized clients than are estimated to fit in one onion service descriptor',
  rationale:
    'Every authorized client adds an `auth-client` line to the service\'s descriptor (tor pads the list to a multiple of 16), and a descriptor may not exceed 50000 bytes. Past the limit tor does not publish the service at all: measured with tor 0.4.9 on a private network, a service with 384 clients got no descriptor and made no upload, so nobody could reach it, and the spec applied without an error. With 3 introduction points (the default) 368 clients fit; each further introduction point takes room from the clients (tor-reconcile\'s estimate: about 128 with 20).',
  sources: ['Tor rend-spec-v3 (descriptor layers, client authorization); HSV3MaxDescriptorSize, default 50000', 'measured: test/e2e/lint-client-limit.test.ts (tor 0.4.9, private network)', `${MANUAL}: HiddenServiceNumIntroductionPoints`],
  fix: 'Split the clients over several onion services (each its own key and address), or use fewer introduction points.',
  *check(config) {
    for (const service of config.services) {
      const intro = Number(serviceOption(service, 'HiddenServiceNumIntroductionPoints') ?? 3);
      const limit = maxAuthorizedClients(intro);
      if (service.authorizedClients.length > limit) {
        yield serviceHit(config, service, `onion service "${service.name}" has ${service.authorizedClients.length} authorized clients; about ${limit} fit in a descriptor with ${intro} introduction points`, 'authorizedClients');
      }
    }
  },
};

export const onionRules: Rule[] = [onionOnRelay, singleOnionMismatch, singleOnionClientPorts, singleOnionNotAnonymous, noMaxStreams, noDosDefence, duplicateClientKey, tooManyClients];
