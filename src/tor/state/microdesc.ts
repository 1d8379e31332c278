/**
 * The parts of a microdescriptor (dir-spec §3.3, `GETINFO md/id/<fp>`) a controller uses to pick paths:
 *
 * ```
 * onion-key
 * -----BEGIN RSA PUBLIC KEY-----              (omitted by newer relays)
 * …
 * -----END RSA PUBLIC KEY-----
 * ntor-onion-key WQcdWCPmPIKisIfvgHStdV41u74lNWHcR7nmTe+hHhE
 * family $AAAA… $BBBB…                        (optional)
 * p accept 1-65535                            (optional: absent means "reject 1-65535")
 * p6 accept 80,443                            (optional)
 * id ed25519 DYupfbDs6O6vau9VONxnu2+6HWf98AQWGxIr7gkh6iw
 * ```
 *
 * Microdescriptors carry no RSA identity, so `md/all` cannot be matched to routers: ask per fingerprint.
 */
import { parsePolicySummary, type ExitPolicySummary } from './ns.js';

export interface Microdescriptor {
  /** IPv4 exit policy summary; a relay without a `p` line exits nowhere. */
  exitPolicy: ExitPolicySummary;
  exitPolicyV6?: ExitPolicySummary;
  /** Base64 ed25519 identity. */
  ed25519?: string;
  family: string[];
}

/** The policy a microdescriptor without a `p` line has (dir-spec: the default is "reject 1-65535"). */
export const REJECT_ALL: ExitPolicySummary = Object.freeze({ action: 'reject', ports: Object.freeze([{ min: 1, max: 65535 }]) as ExitPolicySummary['ports'] });

export function parseMicrodescriptor(text: string): Microdescriptor {
  const md: Microdescriptor = { exitPolicy: REJECT_ALL, family: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith('p ')) md.exitPolicy = parsePolicySummary(line.slice(2));
    else if (line.startsWith('p6 ')) md.exitPolicyV6 = parsePolicySummary(line.slice(3));
    else if (line.startsWith('id ed25519 ')) md.ed25519 = line.slice(11);
    else if (line.startsWith('family ')) md.family = line.slice(7).split(' ').filter(Boolean);
  }
  return md;
}
