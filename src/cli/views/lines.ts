/**
 * Changes rendered as torrc-like lines, the form operators read tor configuration in. Shared by every view
 * and by `tor-reconcile diff`. Values arrive already redacted: views never see a secret.
 */
import { createRequire } from 'node:module';
import type { Change } from '../../reconcile/types.js';

let diffArrays: (typeof import('diff'))['diffArrays'] | undefined;

export function changeLines(change: Change, side: 'before' | 'after'): string[] {
  switch (change.kind) {
    case 'option': {
      const v = change[side];
      const values = Array.isArray(v) ? v : [v];
      return values.length ? values.map((x) => `${change.id} ${x}`) : [`${change.id}`];
    }
    case 'filesystem-service': {
      const o = change[side];
      if (!o) return [];
      return [
        `HiddenServiceDir ${o.directory}`,
        ...o.ports.map((p) => `HiddenServicePort ${p}`),
        ...Object.entries(o.options).map(([k, x]) => `${k} ${x}`),
        ...(o.authorizedClients ?? []).map((c) => `# authorized client ${c}`),
      ];
    }
    case 'ephemeral-service': {
      const o = change[side];
      if (!o) return [];
      const out = [`# ephemeral ${change.id}: ${o.address}`];
      for (const p of o.ports ?? []) out.push(`Port ${p}`);
      if (o.flags) out.push(`Flags ${o.flags.join(',')}`);
      if (o.maxStreams !== undefined) out.push(`MaxStreams ${o.maxStreams}`);
      for (const k of o.clientAuthV3 ?? []) out.push(`ClientAuthV3 ${k}`);
      return out;
    }
    case 'client-auth': {
      const o = change[side];
      if (!o) return [];
      return [`# client credentials for ${o.address}${o.clientName ? ` (${o.clientName})` : ''}${o.permanent ? ', permanent' : ''}`];
    }
    case 'persisted-config':
      return change[side] ?? [];
  }
}

/** Lines of both sides with a diff marker each: ' ' same, '-' only before, '+' only after. */
export function diffLines(before: string[], after: string[]): Array<['-' | '+' | ' ', string]> {
  // All added or all removed, as for every new or deleted service: nothing to align, and no `diff` to load.
  if (!before.length || !after.length) return [...before.map((l): ['-', string] => ['-', l]), ...after.map((l): ['+', string] => ['+', l])];
  const out: Array<['-' | '+' | ' ', string]> = [];
  // `diff` on first use: a plan without changes, the common case, renders none.
  diffArrays ??= (createRequire(import.meta.url)('diff') as typeof import('diff')).diffArrays;
  for (const part of diffArrays(before, after)) {
    const mark = part.added ? '+' : part.removed ? '-' : ' ';
    for (const line of part.value) out.push([mark, line]);
  }
  return out;
}
