/**
 * Changes rendered as torrc-like lines, the form operators read tor configuration in. Shared by every view
 * and by `tor-reconcile diff`. Values arrive already redacted: views never see a secret.
 */
import { diffArrays } from 'diff';
import type { Change } from '../../reconcile/types.js';

type Obj = Record<string, unknown>;

export function changeLines(change: Change, side: 'before' | 'after'): string[] {
  const v = change[side];
  if (v === null || v === undefined) return [];
  switch (change.kind) {
    case 'option': {
      const values = Array.isArray(v) ? v : [v];
      return values.length ? values.map((x) => `${change.id} ${String(x)}`) : [`${change.id}`];
    }
    case 'filesystem-service': {
      const o = v as Obj;
      return [
        `HiddenServiceDir ${String(o.directory)}`,
        ...((o.ports as string[] | undefined) ?? []).map((p) => `HiddenServicePort ${p}`),
        ...Object.entries((o.options as Obj | undefined) ?? {}).map(([k, x]) => `${k} ${String(x)}`),
        ...((o.authorizedClients as string[] | undefined) ?? []).map((c) => `# authorized client ${c}`),
      ];
    }
    case 'ephemeral-service': {
      const o = v as Obj;
      const out = [`# ephemeral ${change.id}: ${String(o.address)}`];
      for (const p of (o.ports as string[] | undefined) ?? []) out.push(`Port ${p}`);
      if (Array.isArray(o.flags)) out.push(`Flags ${o.flags.join(',')}`);
      if (o.maxStreams !== undefined) out.push(`MaxStreams ${String(o.maxStreams)}`);
      for (const k of (o.clientAuthV3 as string[] | undefined) ?? []) out.push(`ClientAuthV3 ${k}`);
      return out;
    }
    case 'client-auth': {
      const o = v as Obj;
      return [`# client credentials for ${String(o.address)}${o.clientName ? ` (${String(o.clientName)})` : ''}${o.permanent ? ', permanent' : ''}`];
    }
  }
}

/** Lines of both sides with a diff marker each: ' ' same, '-' only before, '+' only after. */
export function diffLines(before: string[], after: string[]): Array<['-' | '+' | ' ', string]> {
  const out: Array<['-' | '+' | ' ', string]> = [];
  for (const part of diffArrays(before, after)) {
    const mark = part.added ? '+' : part.removed ? '-' : ' ';
    for (const line of part.value) out.push([mark, line]);
  }
  return out;
}
