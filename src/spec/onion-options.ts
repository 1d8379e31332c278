/**
 * The per-service `HiddenService*` options of a v3 onion service on tor 0.4.9: what a filesystem service's
 * `options:` may hold, with tor's own ranges.
 *
 * Source: tor's src/feature/hs/hs_options.inc (types and defaults) and src/feature/hs/hs_config.c
 * (config_generic_service, config_service_v3, config_validate_service), each checked on tor 0.4.9.11 with
 * `tor --verify-config`. Notably HiddenServiceNumIntroductionPoints takes 3..20 (tor's lower bound is its
 * default, NUM_INTRO_POINTS_DEFAULT), and every option is parsed as tor's config types are: booleans only
 * `0`/`1`, integers in decimal.
 */

export type OnionOptionRule =
  | { kind: 'boolean' }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'choice'; values: readonly string[] };

export interface OnionOptionInfo {
  name: string;
  rule: OnionOptionRule;
  /** tor's default, in tor's form. */
  default: string;
  description: string;
}

const INT32_MAX = 2147483647;

const OPTIONS: readonly OnionOptionInfo[] = [
  {
    name: 'HiddenServiceVersion',
    rule: { kind: 'choice', values: ['3'] },
    default: '3',
    description: 'Onion service protocol version; only 3 exists (v2 is obsolete and refused by tor 0.4.9).',
  },
  {
    name: 'HiddenServiceAllowUnknownPorts',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'Keep a circuit open when a client connects to a port not listed in `ports` (default: close it).',
  },
  {
    name: 'HiddenServiceDirGroupReadable',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'Make the service directory readable by its group (mode 0750 instead of 0700).',
  },
  {
    name: 'HiddenServiceMaxStreams',
    rule: { kind: 'integer', min: 0, max: 65535 },
    default: '0',
    description: 'Most simultaneous streams per rendezvous circuit, 0 (unlimited) to 65535.',
  },
  {
    name: 'HiddenServiceMaxStreamsCloseCircuit',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'Close the whole circuit, rather than refuse the stream, when HiddenServiceMaxStreams is exceeded.',
  },
  {
    name: 'HiddenServiceNumIntroductionPoints',
    rule: { kind: 'integer', min: 3, max: 20 },
    default: '3',
    description: 'Introduction points to publish, 3 to 20.',
  },
  {
    name: 'HiddenServiceExportCircuitID',
    rule: { kind: 'choice', values: ['haproxy', 'none'] },
    default: 'none',
    description: 'Send each connection a HAProxy PROXY header identifying its circuit: `haproxy` or `none`.',
  },
  {
    name: 'HiddenServiceEnableIntroDoSDefense',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'Ask introduction points to rate-limit INTRODUCE2 cells for this service.',
  },
  {
    name: 'HiddenServiceEnableIntroDoSRatePerSec',
    rule: { kind: 'integer', min: 0, max: INT32_MAX },
    default: '25',
    description: 'Introduction rate per second allowed by the DoS defense.',
  },
  {
    name: 'HiddenServiceEnableIntroDoSBurstPerSec',
    rule: { kind: 'integer', min: 0, max: INT32_MAX },
    default: '200',
    description: 'Introduction burst allowed by the DoS defense; not below the rate when the defense is on.',
  },
  {
    name: 'HiddenServiceOnionBalanceInstance',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'This service is an Onionbalance backend; tor then needs an `ob_config` file in the service directory.',
  },
  {
    name: 'HiddenServicePoWDefensesEnabled',
    rule: { kind: 'boolean' },
    default: '0',
    description: 'Require clients to solve proof-of-work puzzles under load (needs a tor built with the pow module).',
  },
  {
    name: 'HiddenServicePoWQueueRate',
    rule: { kind: 'integer', min: 0, max: INT32_MAX },
    default: '250',
    description: 'Rendezvous requests per second taken from the proof-of-work queue.',
  },
  {
    name: 'HiddenServicePoWQueueBurst',
    rule: { kind: 'integer', min: 0, max: INT32_MAX },
    default: '2500',
    description: 'Burst of rendezvous requests taken from the proof-of-work queue; not below the rate when PoW is on.',
  },
];

const BY_LOWER = new Map(OPTIONS.map((o) => [o.name.toLowerCase(), o]));

/** Every per-service option, in tor's order. */
export function onionOptions(): readonly OnionOptionInfo[] {
  return OPTIONS;
}

/** The per-service option called `name` (case-insensitive, exact). */
export function onionOption(name: string): OnionOptionInfo | undefined {
  return BY_LOWER.get(name.toLowerCase());
}

/** HiddenService* names that are spelled elsewhere in a spec, or gone: why each cannot be an option here. */
const REFUSED = new Map<string, string>([
  ['hiddenservicedir', 'give the service `directory` instead'],
  ['hiddenserviceport', 'list the service `ports` instead'],
  [
    'hiddenserviceauthorizeclient',
    'it configured v2 client authorization, which is gone (tor 0.4.9 skips the option); list v3 clients under `authorizedClients`',
  ],
  ['hiddenserviceoptions', 'it is a read-only view of all HiddenService* lines, not an option'],
]);

export function refusedOnionOption(name: string): string | undefined {
  return REFUSED.get(name.toLowerCase());
}

/** Two rate/burst pairs that tor checks together when their defense is on (config_validate_service). */
export const BURST_RULES = [
  { enabled: 'HiddenServiceEnableIntroDoSDefense', rate: 'HiddenServiceEnableIntroDoSRatePerSec', burst: 'HiddenServiceEnableIntroDoSBurstPerSec' },
  { enabled: 'HiddenServicePoWDefensesEnabled', rate: 'HiddenServicePoWQueueRate', burst: 'HiddenServicePoWQueueBurst' },
] as const;

/**
 * The value to give tor for `input`, or why it is refused. Booleans are also accepted as YAML true/false;
 * integers as numbers or decimal text.
 */
export function onionOptionValue(info: OnionOptionInfo, input: string | number | boolean): string | { error: string } {
  const rule = info.rule;
  const text = typeof input === 'string' ? input.trim() : String(input);
  switch (rule.kind) {
    case 'boolean': {
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === '1') return '1';
      if (lower === 'false' || lower === '0') return '0';
      return { error: `${info.name} takes true or false (or 1/0)` };
    }
    case 'integer': {
      if (typeof input === 'boolean' || !/^\d+$/.test(text)) return { error: `${info.name} takes a whole number from ${rule.min} to ${rule.max}` };
      const n = Number(text);
      if (n < rule.min || n > rule.max) return { error: `${info.name} takes ${rule.min} to ${rule.max}, got ${text}` };
      return String(n);
    }
    case 'choice': {
      const lower = text.toLowerCase();
      if (rule.values.includes(lower) && typeof input !== 'boolean') return lower;
      if (info.name === 'HiddenServiceVersion') {
        return {
          error:
            text === '2'
              ? 'HiddenServiceVersion 2: v2 onion services are obsolete and tor 0.4.9 refuses them; only version 3 exists'
              : `HiddenServiceVersion takes only 3 (the one onion service version tor supports), got ${text}`,
        };
      }
      return { error: `${info.name} takes ${rule.values.join(' or ')}` };
    }
  }
}
