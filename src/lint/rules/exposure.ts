/** Listeners that let other hosts reach this tor: client ports, the control port, metrics, the ExtORPort. */
import { coversAll, isLoopback, parseListener, policyEntries, targetHost } from '../address.js';
import type { ConfigView } from '../config.js';
import { lineHit, serviceIndex } from '../config.js';
import type { Rule } from '../types.js';

const MANUAL = "tor's manual (tor(1))";

/** Client listeners; only SocksPort and DNSPort have a policy (SocksPolicy). */
const CLIENT_PORTS = ['SocksPort', 'DNSPort', 'TransPort', 'NATDPort', 'HTTPTunnelPort'] as const;
const POLICED = new Set(['SocksPort', 'DNSPort']);

/** Exposed TCP listeners of `option`: each line bound beyond loopback. */
function* exposed(config: ConfigView, option: string): Generator<{ line: ReturnType<ConfigView['lines']>[number]; host: string }> {
  for (const line of config.lines(option)) {
    const l = parseListener(line.value);
    if (l.kind === 'tcp' && !l.loopback) yield { line, host: l.host };
  }
}

/** SocksPolicy restricts only when it ends by rejecting every address: tor accepts what no entry matches. */
function socksPolicyCloses(config: ConfigView): boolean {
  const entries = policyEntries(config.lines('SocksPolicy'));
  return entries.some((e) => e.startsWith('reject') && coversAll(e));
}

export const clientListenerExposed: Rule = {
  id: 'TR001',
  name: 'client-listener-exposed',
  severity: 'error',
  summary: 'A SocksPort, DNSPort, TransPort, NATDPort or HTTPTunnelPort listens beyond this host without a policy that limits who connects',
  rationale:
    'Anyone who can reach a client port can use this tor as an anonymizing proxy (abuse traced to your address), and every application using it shares circuits with strangers. tor binds a bare port to 127.0.0.1; an explicit 0.0.0.0, :: or LAN address opens it to the network. SocksPolicy limits who may connect to the SocksPort and DNSPort, but "any address not matched by some entry in the policy is accepted", so it restricts only when it ends with `reject *`. TransPort, NATDPort and HTTPTunnelPort have no policy at all.',
  sources: [`${MANUAL}: SocksPort, DNSPort, TransPort, NATDPort, HTTPTunnelPort ("[address:]port"), SocksPolicy`],
  fix: 'Bind the listener to 127.0.0.1 (or a unix: socket). If other hosts must use it, add a SocksPolicy that accepts only them and ends with `reject *` (SocksPort, DNSPort), keep a firewall in front, and suppress this finding with that reason.',
  *check(config) {
    const policed = socksPolicyCloses(config);
    for (const option of CLIENT_PORTS) {
      for (const { line, host } of exposed(config, option)) {
        if (POLICED.has(option) && policed) continue;
        const why = POLICED.has(option) ? 'and no SocksPolicy ends with `reject *`' : 'and tor has no policy for it';
        yield lineHit(line, `${option} ${line.value} listens on ${host}, beyond this host, ${why}`);
      }
    }
  },
};

/** A launched tor always gets cookie authentication from tor-reconcile (src/tor/launch.ts). */
function hasControlAuth(config: ConfigView): boolean {
  return config.launched || config.flag('CookieAuthentication') === true || config.lines('HashedControlPassword').length > 0;
}

export const controlPortNoAuth: Rule = {
  id: 'TR002',
  name: 'control-port-no-auth',
  severity: 'error',
  summary: 'A ControlPort with no authentication declared (neither CookieAuthentication 1 nor HashedControlPassword)',
  rationale:
    'The control port can reconfigure tor, read its onion service keys (ADD_ONION, GETINFO) and learn every circuit and stream. "Unless you also specify one or more of HashedControlPassword or CookieAuthentication, setting this option will cause Tor to allow any process on the local host to control it", any other user\'s included. A spec that opens the port should also declare how it is protected; tor-reconcile cannot see an external tor\'s torrc when it lints.',
  sources: [`${MANUAL}: ControlPort, CookieAuthentication, HashedControlPassword`],
  fix: 'Add `CookieAuthentication: true` (or a HashedControlPassword) to the same spec, or use a unix: ControlSocket whose directory only the right users can enter. A tor started by `tor.launch` always gets cookie authentication and is not reported.',
  *check(config) {
    if (hasControlAuth(config)) return;
    for (const line of config.lines('ControlPort')) {
      if (parseListener(line.value).kind !== 'tcp') continue;
      yield lineHit(line, `ControlPort ${line.value} without CookieAuthentication 1 or a HashedControlPassword in the spec: any local process can control tor`);
    }
  },
};

export const controlPortRemote: Rule = {
  id: 'TR003',
  name: 'control-port-exposed',
  severity: 'error',
  summary: 'A ControlPort bound beyond this host',
  rationale:
    'The control protocol is not encrypted: a password or cookie sent to a remote control port can be read on the way, and whoever holds it controls tor, its onion service keys and its circuits. tor itself warns that "programs not running on your computer can reconfigure your Tor".',
  sources: [`${MANUAL}: ControlPort`, 'tor 0.4.9\'s own warning: "You have a ControlPort set to accept connections from a non-local address. [...] the controller protocol isn\'t encrypted!" (without authentication tor closes such a port)'],
  fix: 'Bind the ControlPort to 127.0.0.1 or use a unix: ControlSocket; reach a remote tor through an SSH tunnel or a unix socket forwarded by SSH.',
  *check(config) {
    for (const { line, host } of exposed(config, 'ControlPort')) {
      yield lineHit(line, `ControlPort ${line.value} listens on ${host}: the control protocol is unencrypted`);
    }
  },
};

export const onionTargetRemote: Rule = {
  id: 'TR004',
  name: 'onion-target-remote',
  severity: 'warning',
  summary: "An onion service port whose target is not on this host",
  rationale:
    'Between tor and the target the traffic is plain TCP: it leaves the host unencrypted and unauthenticated, visible to the local network, and the target sees connections from this tor\'s address. The onion service\'s protections end at this host. tor\'s default target is 127.0.0.1; a unix: socket is better still (no other local user can connect by port).',
  sources: [`${MANUAL}: HiddenServicePort VIRTPORT [TARGET] ("By default, this option maps the virtual port to the same port on 127.0.0.1")`],
  fix: 'Run the tor next to the service and target 127.0.0.1 or a unix: socket. If the hop is intended (a private link, a VPN), suppress the finding with that reason.',
  *check(config) {
    for (const service of config.services) {
      const index = serviceIndex(config, service);
      for (const [j, port] of service.ports.entries()) {
        const host = targetHost(port.target);
        if (host === undefined || isLoopback(host)) continue;
        yield { message: `onion service "${service.name}" port ${port.port} goes to ${port.target}, off this host`, at: ['onionServices', index, 'ports', j, 'target'], source: service.source };
      }
    }
  },
};

export const metricsPortOpen: Rule = {
  id: 'TR005',
  name: 'metrics-port-open',
  severity: 'error',
  summary: 'A MetricsPort beyond this host whose MetricsPortPolicy accepts every address',
  rationale:
    'tor\'s manual: "exposing tor metrics publicly is dangerous to the Tor network users. [...] Set a very strict access policy with MetricsPortPolicy". The metrics are served over unencrypted HTTP; onion service metrics in particular tell an observer about the service\'s traffic.',
  sources: [`${MANUAL}: MetricsPort, MetricsPortPolicy`],
  fix: 'Bind MetricsPort to 127.0.0.1, or let MetricsPortPolicy accept only the Prometheus server (`accept 192.0.2.10`), and put a TLS proxy such as stunnel in front.',
  *check(config) {
    const acceptsAll = policyEntries(config.lines('MetricsPortPolicy')).some((e) => e.startsWith('accept') && coversAll(e));
    if (!acceptsAll) return;
    for (const { line, host } of exposed(config, 'MetricsPort')) {
      yield lineHit(line, `MetricsPort ${line.value} listens on ${host} and MetricsPortPolicy accepts every address`);
    }
  },
};

export const extOrPortExposed: Rule = {
  id: 'TR006',
  name: 'ext-orport-exposed',
  severity: 'warning',
  summary: 'An ExtORPort bound beyond this host',
  rationale:
    'The Extended ORPort is how a pluggable transport on the same host hands connections to tor; it is authenticated only by a cookie file on the local disk. Listening beyond this host serves nothing and exposes an internal interface.',
  sources: [`${MANUAL}: ExtORPort, ExtORPortCookieAuthFile`],
  fix: 'Set `ExtORPort: auto` (tor picks a local port) or bind it to 127.0.0.1.',
  *check(config) {
    for (const { line, host } of exposed(config, 'ExtORPort')) {
      yield lineHit(line, `ExtORPort ${line.value} listens on ${host}`);
    }
  },
};

export const controlConnectionRemote: Rule = {
  id: 'TR007',
  name: 'control-connection-remote',
  severity: 'warning',
  summary: 'tor.control is a TCP address on another host',
  rationale:
    'tor-reconcile then speaks the control protocol across the network in clear: the password (or the cookie) it authenticates with, and everything it sends (ADD_ONION with private keys, client authorization keys), can be read on the way. The control protocol has no encryption of its own; tor\'s manual recommends a local port or socket.',
  sources: [`${MANUAL}: ControlPort, ControlSocket`, 'tor 0.4.9\'s warning for a ControlPort on a non-local address ("the controller protocol isn\'t encrypted!")'],
  fix: 'Run tor-reconcile on the tor\'s host (unix:/run/tor/control), or reach the remote control port through an SSH tunnel and give its local end (tcp:127.0.0.1:PORT).',
  *check(config) {
    const control = config.state.tor.control;
    const m = control ? /^tcp:(.*):\d+$/i.exec(control) : null;
    if (m && !isLoopback(m[1]!)) yield { message: `tor.control ${control} is on another host: the control connection is unencrypted`, at: ['tor', 'control'] };
  },
};

export const exposureRules: Rule[] = [clientListenerExposed, controlPortNoAuth, controlPortRemote, onionTargetRemote, metricsPortOpen, extOrPortExposed, controlConnectionRemote];
