/** `clientAuth:`: credentials this tor uses to reach onion services that require client authorization. */
import type { ClientAuthSpec } from '../model.js';
import { ClientAuthError, parseClientAuthPrivate } from '../../tor/onion/clientauth.js';
import { OnionAddressError, type OnionAddressProblem } from '../../tor/onion/address.js';
import { Secret } from '../../tor/secret.js';
import type { Path } from '../diagnostics.js';
import { pathLabel } from '../tree.js';
import { pos, where, type SpecReader } from './reader.js';

export function clientAuth(r: SpecReader): ClientAuthSpec[] {
  const out: ClientAuthSpec[] = [];
  const addresses = r.uniqueBy<string>((address, first, p) => `${pathLabel(p)}: credentials for ${address}.onion are already given (at ${where(first)}); tor keeps one per service`);
  const list = r.node(['clientAuth']);
  if (list?.kind !== 'seq') return [];
  list.items.forEach((item, i) => {
    const p: Path = ['clientAuth', i];
    const keyNode = r.scalar([...p, 'privateKey']);
    if (r.diags.hasErrorAt(p) || !keyNode) return;
    if (!keyNode.secret) r.diags.warn(keyNode.loc, 'a private key is written in the spec; prefer ${file:…} or ${env:…} so it stays out of version control');
    let parsed;
    try {
      parsed = parseClientAuthPrivate(new Secret(String(keyNode.value)));
    } catch (err) {
      if (!(err instanceof ClientAuthError)) throw err;
      r.error(keyNode.loc, `${pathLabel([...p, 'privateKey'])}: ${clientAuthProblem(err)}`, [...p, 'privateKey']);
      return;
    }
    let address = parsed.address;
    const addressNode = r.node([...p, 'address']);
    if (addressNode) {
      const given = r.onionAddress([...p, 'address']);
      if (!given) return;
      if (address !== undefined && address !== given) {
        r.error(addressNode.loc, `${pathLabel([...p, 'address'])} differs from the address in the privateKey line`, [...p, 'address']);
        return;
      }
      address = given;
    } else if (r.diags.hasErrorAt([...p, 'address'])) return;
    if (address === undefined) {
      r.error(item.loc, `${pathLabel(p)}: missing required key "address" (privateKey is a bare key, not a whole .auth_private line)`, p);
      return;
    }
    if (!addresses.add(address, item.loc, p, item.loc)) return;
    const spec: ClientAuthSpec = { address, privateKey: parsed.privateKey, permanent: r.scalar([...p, 'permanent'])?.value === true, source: pos(item.loc) };
    const clientName = r.str([...p, 'name']);
    if (clientName !== undefined) spec.clientName = clientName;
    out.push(spec);
  });
  return out;
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
