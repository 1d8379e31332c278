/** Path selection: node restrictions that do less (or break more) than they seem to, and guards. */
import { lineHit, type ConfigView } from '../config.js';
import type { Rule } from '../types.js';

const MANUAL = "tor's manual (tor(1))";

function strict(config: ConfigView): boolean {
  return config.flag('StrictNodes') === true;
}

export const excludeNotStrict: Rule = {
  id: 'TR020',
  name: 'exclude-nodes-not-strict',
  severity: 'warning',
  summary: 'ExcludeNodes without StrictNodes 1: the excluded nodes are still used when tor needs them',
  rationale:
    'Without StrictNodes, ExcludeNodes is a preference: "StrictNodes 0 tells Tor that it is okay to use an excluded node when it is necessary to perform relay reachability self-tests, connect to a hidden service, provide a hidden service to a client, fulfill a .exit request, upload directory information, or download directory information". tor then only logs that it used an excluded node "because no better options were available". Someone who excludes nodes to keep them out of their circuits usually means all circuits.',
  sources: [`${MANUAL}: StrictNodes, ExcludeNodes`],
  fix: 'Add `StrictNodes: true` if the nodes must never be used (accepting that some connections may fail), or suppress this finding stating that a preference is enough.',
  *check(config) {
    if (strict(config)) return;
    for (const line of config.lines('ExcludeNodes')) yield lineHit(line, `ExcludeNodes ${line.value} without StrictNodes 1: tor may still use these nodes`);
  },
};

export const entryExitNotAll: Rule = {
  id: 'TR021',
  name: 'entry-exit-nodes-partial',
  severity: 'warning',
  summary: 'ExitNodes or EntryNodes set: they do not restrict every circuit, and StrictNodes does not change that',
  rationale:
    'ExitNodes chooses the exit of circuits that leave the Tor network; "not every circuit is used to deliver traffic outside of the Tor network" (onion service and directory circuits end elsewhere). EntryNodes covers "normal circuits", not direct directory connections, and bridges override it. StrictNodes applies "solely" to ExcludeNodes ("StrictNodes does not apply to ExcludeExitNodes, ExitNodes, MiddleNodes, or MapAddress"), so adding it does not make these options strict. Relying on them to keep traffic away from a country or operator leaves the other circuits unrestricted, and a short list degrades or breaks browsing.',
  sources: [`${MANUAL}: ExitNodes, EntryNodes, StrictNodes`],
  fix: 'To keep nodes out of every circuit, list them in ExcludeNodes with `StrictNodes: true` (and ExcludeExitNodes for exits). Keep ExitNodes/EntryNodes only for a purpose they serve, and suppress this finding with it.',
  *check(config) {
    for (const option of ['ExitNodes', 'EntryNodes']) {
      for (const line of config.lines(option)) yield lineHit(line, `${option} ${line.value} restricts only some circuits (StrictNodes applies solely to ExcludeNodes)`);
    }
  },
};

export const strictExcludeOnions: Rule = {
  id: 'TR022',
  name: 'strict-exclude-breaks-onions',
  severity: 'warning',
  summary: 'StrictNodes 1 with ExcludeNodes on a tor that hosts onion services',
  rationale:
    'An onion service does not choose all the relays it must reach: each client picks the rendezvous point, and the HSDirs that store its descriptor follow from its address and the time period. StrictNodes 0 lets tor use an excluded node when it must "connect to a hidden service, provide a hidden service to a client, [...] upload directory information"; StrictNodes 1 removes exactly that leeway. Clients whose rendezvous point is excluded cannot connect, and descriptor uploads to excluded HSDirs are skipped, at random and with nothing wrong in the spec.',
  sources: [`${MANUAL}: StrictNodes ("even if doing so will break functionality for you"; the list of what StrictNodes 0 allows)`, `${MANUAL}: ExcludeNodes`],
  fix: 'Keep the exclusions on a separate client tor, or drop StrictNodes on the onion service\'s tor, or accept the breakage and suppress with that reason.',
  *check(config) {
    if (!strict(config) || !config.hostsOnionServices) return;
    for (const line of config.lines('ExcludeNodes')) yield lineHit(line, `StrictNodes 1 with ExcludeNodes ${line.value} on a tor hosting onion services: some clients may fail to reach them`);
  },
};

export const entryGuardsOff: Rule = {
  id: 'TR023',
  name: 'entry-guards-off',
  severity: 'warning',
  summary: 'UseEntryGuards 0',
  rationale:
    'Entry guards exist because "constantly changing servers increases the odds that an adversary who owns some servers will observe a fraction of your paths": without them, a client (or an onion service) soon picks a hostile first hop, the position from which it can be deanonymized.',
  sources: [`${MANUAL}: UseEntryGuards`],
  fix: 'Remove UseEntryGuards (its default is 1).',
  *check(config) {
    if (config.flag('UseEntryGuards') !== false) return;
    for (const line of config.lines('UseEntryGuards')) yield lineHit(line, 'UseEntryGuards 0: a new first hop for every circuit makes a hostile one likely');
  },
};

export const bridgesWithoutBridge: Rule = {
  id: 'TR024',
  name: 'use-bridges-without-bridge',
  severity: 'warning',
  summary: 'UseBridges 1 with no Bridge line in the spec',
  rationale:
    'With UseBridges, tor uses "the relays in the Bridge config lines" as its only entry points. Without a Bridge line it cannot connect to the Tor network at all (unless the tor\'s own torrc, which lint cannot see, has them).',
  sources: [`${MANUAL}: UseBridges, Bridge`],
  fix: 'Add the Bridge lines (and ClientTransportPlugin for pluggable transports) to the spec, or remove UseBridges.',
  *check(config) {
    if (config.flag('UseBridges') !== true || config.lines('Bridge').length > 0) return;
    for (const line of config.lines('UseBridges')) yield lineHit(line, 'UseBridges 1 but the spec gives no Bridge: tor cannot connect');
  },
};

export const pathRules: Rule[] = [excludeNotStrict, entryExitNotAll, strictExcludeOnions, entryGuardsOff, bridgesWithoutBridge];
