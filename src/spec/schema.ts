/**
 * The shape of a spec file, in zod: what each key may hold, with the descriptions editors show. It checks
 * structure and plain types only; what depends on tor (option names and value types, onion addresses, keys)
 * is checked by `normalize.ts`, which reports it with better messages than a schema could.
 *
 * The schema holds no transforms or defaults: a section that passes it is used as it was written, so the
 * valid parts of an invalid spec can still be checked further (all errors at once).
 */
// A namespace import, not `{ z }`: the CLI bundle then keeps only the parts of zod the schema uses (not its
// 60-odd locales, which the `z` object refers to).
import * as z from 'zod';
import { OptionTable, type OptionInfo } from '../tor/config/types.js';
import { onionOptions } from './onion-options.js';

/**
 * A part of the schema, built on first use and then kept. Building the whole schema took ~7 ms of every
 * command that reads a spec (issue #16), most of it for parts a given spec does not have (attach policies,
 * health checks, fleets, balanced services…): a spec is checked with a schema in which only its own parts are
 * built (schemaFor).
 */
function once<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/** Service and client names become file names (`<name>.key`, `authorized_clients/<name>.auth`). */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const SAFE_NAME_MESSAGE = 'a name is 1 to 64 letters, digits, "_", "." or "-", not starting with "." or "-" (it becomes a file name)';

// Ids make the JSON Schema refer to one definition instead of repeating it for each of ~370 options.
const scalar = once(() => z.union([z.string(), z.number(), z.boolean()]).meta({ id: 'Scalar' }));
const optionValue = once(() =>
  z
    .union([z.string(), z.number(), z.boolean(), z.null(), z.array(scalar())])
    .meta({ id: 'OptionValue', description: 'Text, a number, true/false, a list of those, or null (reset to tor\'s default).' }),
);

const TYPE_HELP: Record<OptionInfo['type'], string> = {
  Boolean: 'true or false',
  'Boolean+Auto': 'true, false or auto',
  Integer: 'a whole number',
  SignedInteger: 'a whole number (may be negative)',
  Float: 'a number',
  TimeInterval: 'a duration such as `10 minutes`, or seconds',
  TimeMsecInterval: 'a duration such as `500 msec`, or milliseconds',
  DataSize: 'a size such as `1 MB`, or bytes',
  String: 'text',
  Filename: 'a file path',
  LineList: 'one line, or a list of lines',
  CommaList: 'a list, or comma-separated text',
  RouterList: 'a list of relays ({country}, $fingerprint, nickname, address)',
  Dependent: 'one line, or a list of lines',
  Virtual: 'read-only',
};

/** Whether an option is offered to editors under `options` (hidden, read-only and per-service ones are not). */
function offered(o: OptionInfo): boolean {
  return !o.name.startsWith('__') && o.type !== 'Virtual' && !(o.type === 'Dependent' && o.name.startsWith('HiddenService'));
}

function optionDescription(o: OptionInfo): string {
  const dflt = o.defaults.length ? `default ${o.defaults.join(', ')}` : 'unset by default';
  const restart = o.immutable ? ' Needs a tor restart to change.' : '';
  return `tor option ${o.name} (${o.type}): ${TYPE_HELP[o.type]}; ${dflt}. null resets it to tor's default.${restart}`;
}

/**
 * The options mapping as editors see it: every option tor 0.4.9 offers, each with its description. Hundreds
 * of described members cost start-up time, and validating needs none of them (every key is checked by the
 * catchall alike), so only the JSON Schema builds this.
 */
function describedTorOptions() {
  const shape: Record<string, z.ZodOptional<ReturnType<typeof optionValue>>> = {};
  for (const o of OptionTable.bundled().all()) if (offered(o)) shape[o.name] = optionValue().describe(optionDescription(o)).optional();
  // Names are matched case-insensitively against tor's list, so any key is structurally acceptable here.
  return z.object(shape).catchall(optionValue()).meta({ id: 'TorOptions' });
}

/** The same check as describedTorOptions, without the descriptions: what a spec is validated with. */
const torOptions = once(() => z.object({}).catchall(optionValue()));
type TorOptionsSchema = ReturnType<typeof torOptions> | ReturnType<typeof describedTorOptions>;

const path = (description: string) => z.string().min(1).describe(description);
const name = (description: string) => z.string().regex(SAFE_NAME, { error: SAFE_NAME_MESSAGE }).describe(description);

const port = once(() =>
  z
    .strictObject({
      port: z.number().int().min(1).max(65535).describe('The port clients connect to on the onion address (1-65535).'),
      target: z
        .union([z.string(), z.number().int()])
        .describe('Where tor forwards connections: `HOST:PORT` (IPv4, [IPv6] or localhost), `PORT` (on 127.0.0.1) or `unix:/absolute/path`. Default: 127.0.0.1:<port>.')
        .optional(),
    })
    .describe('One virtual port of the service.'),
);

const ports = once(() => z.array(port()).min(1).describe('The ports the service offers, in order (at least one).'));

const authorizedClient = once(() =>
  z
    .strictObject({
      name: name('Client name, unique in the service: the file authorized_clients/<name>.auth.'),
      publicKey: z
        .string()
        .describe('The client\'s x25519 public key: 52 base32 characters, or a whole `descriptor:x25519:<key>` line as in .auth files.'),
    })
    .describe('A client allowed to reach the service (v3 client authorization).'),
);

const authorizedClients = once(() =>
  z
    .array(authorizedClient())
    .describe('Only these clients can reach the service; omit for a public service.'),
);

const address = once(() =>
  z
    .string()
    .describe('Optional pin: the service\'s 56-character v3 onion address (`.onion` optional). Plans fail if the key gives another address.'),
);

const serviceTargets = once(() =>
  z
    .array(z.string().min(1))
    .min(1)
    .describe('With `targets:` in the spec: the names of the targets that run this service. Default: every target.'),
);

const onionOptionShape = once(() => {
  const shape: Record<string, z.ZodOptional<ReturnType<typeof scalar>>> = {};
  for (const o of onionOptions()) shape[o.name] = scalar().describe(`${o.description} Default: ${o.default}.`).optional();
  return shape;
});

const filesystemService = once(() =>
  z
    .strictObject({
      name: name('Unique service name, used in plans and logs.'),
      type: z.literal('filesystem').describe('A HiddenServiceDir service: tor keeps its keys in `directory`.'),
      directory: path('The HiddenServiceDir: where tor keeps the keys and hostname. Relative paths are relative to this spec file.'),
      ports: ports(),
      options: z
        .object(onionOptionShape())
        .catchall(scalar())
        .describe('Other per-service HiddenService* options of tor 0.4.9, by their tor names.')
        .optional(),
      authorizedClients: authorizedClients().optional(),
      address: address().optional(),
      adopt: z
        .boolean()
        .describe('true: an existing, non-empty `directory` that tor\'s user does not own is handed to it (chown to tor\'s user and group, chmod 0700, shown in the plan). Without it such a directory stops the plan.')
        .meta({ default: false })
        .optional(),
      targets: serviceTargets().optional(),
    })
    .describe('An onion service in tor\'s configuration (HiddenServiceDir), kept across tor restarts.'),
);

const ephemeralKey = once(() =>
  z
    .strictObject({
      file: path('A key file of tor-reconcile\'s (created with mode 0600 if missing). Relative paths are relative to this spec file.').optional(),
      generate: z.boolean().describe('true: generate the key and keep it in the key store <stateDirectory>/keys/keystore.json, under the name <name>.key (back it up).').optional(),
    })
    .describe('Where the service key lives: `{ file: PATH }` or `{ generate: true }`.'),
);

const ephemeralService = once(() =>
  z
    .strictObject({
      name: name('Unique service name, used in plans, logs and the generated key file name.'),
      type: z.literal('ephemeral').describe('An ADD_ONION service (detached), recreated from its key by tor-reconcile.'),
      key: ephemeralKey(),
      ports: ports(),
      maxStreams: z.number().int().min(0).max(65535).describe('Most simultaneous streams per rendezvous circuit, 0 (unlimited) to 65535.').optional(),
      maxStreamsCloseCircuit: z.boolean().describe('Close the circuit when maxStreams is exceeded. Default false.').meta({ default: false }).optional(),
      authorizedClients: authorizedClients().optional(),
      address: address().optional(),
      targets: serviceTargets().optional(),
    })
    .describe('An onion service added over the control port (ADD_ONION, detached); its key is held by tor-reconcile.'),
);

const balancedService = once(() =>
  z
    .strictObject({
      name: name('Unique service name, used in plans, logs and the frontend key file name.'),
      type: z.literal('balanced').describe('One onion address served by several backend tors through Onionbalance (needs `targets:`).'),
      frontend: z
        .strictObject({
          key: ephemeralKey(),
          directory: path('Where tor-reconcile writes Onionbalance\'s config.yaml and the frontend key (0600). Relative to this spec file.'),
        })
        .describe('The address clients use: its key, and where Onionbalance\'s files go.'),
      backends: z.array(z.string().min(1)).min(1).describe('The targets that serve the service, each with a backend onion service.'),
      onionbalance: z
        .strictObject({
          manage: z.boolean().describe('true: apply starts Onionbalance (detached, pid file and log in frontend.directory) and reloads it (SIGHUP) after config.yaml or the key changes; `watch` restarts it when it exits. false (default): tor-reconcile only writes its files.').meta({ default: false }),
          control: z
            .string()
            .describe('Control port of the tor Onionbalance uses: a tor of its own that hosts no onion service (Onionbalance sends it NEWNYM every cycle), with cookie or no authentication (Onionbalance 0.2.2 never sends a password). `unix:/run/tor-ob/control` or `tcp:127.0.0.1:9151`; a relative socket path is relative to this spec file. Required with manage: true.')
            .optional(),
          binary: path('The onionbalance program: a name looked up in PATH, or a path relative to this spec file. Default `onionbalance`.').optional(),
          isTestnet: z.boolean().describe('Pass --is-testnet (a test network such as chutney: shorter intervals). Default false.').meta({ default: false }).optional(),
          verbosity: z.enum(['debug', 'info', 'warning', 'error', 'critical']).describe('Onionbalance\'s -v: the least severe level it logs (to frontend.directory/onionbalance.log). Default info.').meta({ default: 'info' }).optional(),
        })
        .describe('Whether and how tor-reconcile runs the onionbalance process itself (docs/fleet.md).')
        .optional(),

      directory: path('Each backend\'s HiddenServiceDir; `{target}` is replaced by the target\'s name. Relative to this spec file.'),
      ports: ports(),
      options: z
        .object(onionOptionShape())
        .catchall(scalar())
        .describe('Other per-service HiddenService* options of each backend, by their tor names.')
        .optional(),
    })
    .describe('A service balanced across backend tors by Onionbalance: each backend gets a filesystem service with HiddenServiceOnionBalanceInstance 1 and an ob_config naming the frontend; tor-reconcile writes config.yaml for Onionbalance.'),
);

const clientAuth = once(() =>
  z
    .strictObject({
      address: z.string().describe('The 56-character v3 onion address of the service (`.onion` optional). May be omitted when privateKey is a whole .auth_private line.').optional(),
      privateKey: z
        .string()
        .describe('The x25519 private key (base32, as in .auth_private files), or a whole `<address>:descriptor:x25519:<key>` line. Use ${file:…} or ${env:…} to keep it out of the spec.'),
      name: name('Optional client name given to tor (ONION_CLIENT_AUTH_ADD ClientName).').optional(),
      permanent: z.boolean().describe('Let tor store the credential in ClientOnionAuthDir. Default false.').meta({ default: false }).optional(),
    })
    .describe('Credentials for an onion service that requires client authorization.'),
);

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

const attachMatch = once(() =>
  z
    .strictObject({
      host: oneOrMany(z.string().min(1)).describe('Target host glob(s): `*.example.org`, `api.example.org`, `*.onion`. Case-insensitive.').optional(),
      cidr: oneOrMany(z.string().min(1)).describe('Target IP network(s), `10.0.0.0/8` or `2001:db8::/32`, for targets given as addresses.').optional(),
      port: oneOrMany(z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d+-\d+$/)]))
        .describe('Target port(s): a number, a list, or a range "8000-8099".')
        .optional(),
      onion: z.boolean().describe('true: only .onion targets; false: never .onion targets.').optional(),
      socksUsername: z.string().describe('Glob on the SOCKS username the application sent (its isolation key).').optional(),
      sessionGroup: z.number().int().describe('The SessionGroup of the SocksPort the stream came in on (give that SocksPort `SessionGroup=N`).').optional(),
    })
    .describe('Conditions on the stream; all given conditions must hold. An empty match matches every stream.'),
);

const attachCircuit = once(() =>
  z
    .strictObject({
      exitCountry: oneOrMany(z.string().regex(/^[A-Za-z]{2}$/)).describe('Two-letter country code(s) the exit relay must be in.').optional(),
      path: z
        .array(z.string().min(1))
        .min(1)
        .max(8)
        .describe('The relays of the circuit, first hop first: `$FINGERPRINT`, a nickname, or `*` for a hop tor-reconcile chooses.')
        .optional(),
      isolate: z.enum(['none', 'per-host', 'per-stream']).describe('per-host: a circuit per target host; per-stream: a new circuit per stream; none (default): share.').optional(),
      maxDirtiness: z.union([z.string(), z.number()]).describe('How long a circuit may take new streams, e.g. `10 minutes`.').optional(),
    })
    .describe('Which circuit carries the matched streams.'),
);

const attachPolicy = once(() =>
  z
    .strictObject({
      name: name('Unique policy name, shown in plans and logs.'),
      match: attachMatch().optional(),
      circuit: attachCircuit().optional(),
      action: z.enum(['circuit', 'tor', 'reject']).describe('circuit (the default when `circuit` is given): as `circuit` says; tor: let tor choose; reject: close the stream.').optional(),
      onFailure: z.enum(['tor', 'reject']).describe('When no suitable circuit is ready by the deadline: let tor choose (default) or close the stream.').optional(),
      deadline: z.union([z.string(), z.number()]).describe('How long a stream may wait for its circuit, e.g. `15 seconds` (default).').optional(),
    })
    .describe('One stream-attach policy; the first policy that matches a stream decides.'),
);

const attach = once(() =>
  z
    .strictObject({
      policies: z.array(attachPolicy()).describe('Policies in order: first match wins.').optional(),
      default: z.enum(['tor', 'reject']).describe('For streams no policy matches: tor (default) or reject.').optional(),
    })
    .describe('Stream-attach policies: which streams go over which kind of circuit. Simple ones compile to tor options; the rest need `tor-reconcile watch`.'),
);

const health = once(() =>
  z
    .strictObject({
      check: z
        .strictObject({
          socks: z
            .string()
            .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:9050')
            .describe('`HOST:PORT` of the SOCKS port of a separate client tor to check through (best on another host). Without it, only a test network (TestingTorNetwork 1) is checked through the spec\'s own tor.')
            .optional(),
          intervalSeconds: z.number().int().min(0).describe('Seconds between checks (±20 %); 0 never. Default: 300 with `socks`, else never.').optional(),
          timeoutSeconds: z.number().int().min(1).describe('Per service and check. Default 60.').optional(),
        })
        .describe('`tor-reconcile watch`\'s self-check of every declared onion service: reachable, and the time to connect (docs/health.md). `watch --check-*` flags override these.')
        .optional(),
    })
    .describe('Onion-service health that `tor-reconcile watch` exports (/metrics, /onions).'),
);

/** Stands for a part a spec does not have: its absence passes, and nothing else is ever checked with it. */
const absent = once(() => z.undefined().optional());

const SERVICE_TYPES = { filesystem: filesystemService, ephemeral: ephemeralService, balanced: balancedService };

/**
 * The whole spec, with `torOptions` for the options mappings (described for the JSON Schema, or lean), and
 * only the parts `wanted` names built: top-level keys, and `onionServices:<type>` for each kind of service.
 * An unbuilt section is `absent`; an unbuilt kind of service keeps its `type`, which the union dispatches on
 * and lists when a service has none of them.
 */
function specWith(torOptions: () => TorOptionsSchema, wanted: (part: string) => boolean) {
  const section = (key: string, build: () => z.ZodType) => (wanted(key) ? build() : absent());
  const service = (type: keyof typeof SERVICE_TYPES) => (wanted(`onionServices:${type}`) ? SERVICE_TYPES[type]() : z.strictObject({ type: z.literal(type) }));
  const services = [service('filesystem'), service('ephemeral'), service('balanced')] as const;
  return z
    .strictObject({
      version: z.literal(1).describe('Spec format version: 1.'),
      tor: section('tor', () => torSection(torOptions).optional()),
      targets: section('targets', () =>
        z
          .array(fleetTarget(torOptions))
          .min(1)
          .describe('Several tors from one spec (instead of `tor`): top-level options go to every target, a target\'s own options override them, and each onion service runs on the targets it names (default: all).')
          .optional(),
      ),
      stateDirectory: path('Where tor-reconcile keeps generated keys (0700). Relative to this spec file. Default: .tor-reconcile beside the first spec file.').optional(),
      prune: z.boolean().describe('Remove onion services that tor has but the spec does not. Default false: such services stop the plan.').meta({ default: false }).optional(),
      options: section('options', () => torOptions().describe('tor options by their names (case-insensitive). Only listed options are managed; null resets one to tor\'s default.').optional()),
      onionServices: section('onionServices', () =>
        z
          .array(z.discriminatedUnion('type', [...services]))
          .describe('Onion services, in order. Filesystem services keep this order in tor\'s configuration.')
          .optional(),
      ),
      clientAuth: section('clientAuth', () => z.array(clientAuth()).describe('This tor as a client of onion services that require authorization.').optional()),
      attach: section('attach', () => attach().optional()),
      persist: section('persist', () =>
        z
          .union([
            z.enum(['none', 'saveconf']),
            z.strictObject({
              file: path('The torrc drop-in this spec owns, which tor\'s torrc must `%include`. Relative to this spec file.'),
              include: z.boolean().describe('Add the `%include` line to tor\'s torrc when it lacks one (with a backup), as `apply --persist-include`. Default false.').meta({ default: false }).optional(),
            }),
          ])
          .describe('How what apply sets survives a tor restart: none (default: until tor restarts or reloads), saveconf (tor rewrites its own torrc), or { file: PATH } (a torrc drop-in). Not for tor.launch, which always persists.')
          .optional(),
      ),
      health: section('health', () => health().optional()),
    })
    .meta({
      title: 'tor-reconcile spec',
      description: 'What a tor should be: options, onion services and client authorization. See examples/specs/.',
    });
}

function torSection(torOptions: () => TorOptionsSchema) {
  const launch = z
    .strictObject({
      dataDirectory: path('tor\'s DataDirectory (created 0700). Relative to this spec file. Default: .tor-data beside the first spec file.').optional(),
      binary: z.string().min(1).describe('The tor executable: a name looked up on PATH, or a path relative to this spec file. Default: tor.').optional(),
      options: torOptions().describe('torrc options the embedded tor starts with (e.g. options that need a restart to change).').optional(),
    })
    .describe('Start and own an embedded tor instead of connecting to one.');

  return z
    .strictObject({
      control: z.string().describe('Control port of a running tor: `unix:/run/tor/control` or `tcp:127.0.0.1:9051`. Omit and give `launch` to start one.').optional(),
      password: z.string().describe('Control port password (HashedControlPassword). Use ${env:…} or ${file:…}; cookie authentication needs nothing here.').optional(),
      cookieFile: path('The control auth cookie, when tor does not report where it is. Relative to this spec file.').optional(),
      launch: launch.optional(),
    })
    .describe('Which tor to reconcile. Without `control` or `launch`, give --control on the command line.');
}

function fleetTarget(torOptions: () => TorOptionsSchema) {
  return z
    .strictObject({
      name: name('Unique target name, used in plans, `--target` and the state directory (targets/<name>/).'),
      control: z.string().describe('Control port of this tor: `unix:/run/tor/control` or `tcp:10.0.0.5:9051`.'),
      password: z.string().describe('Control port password (HashedControlPassword). Use ${env:…} or ${file:…}; cookie authentication needs nothing here.').optional(),
      cookieFile: path('The control auth cookie, when tor does not report where it is. Relative to this spec file.').optional(),
      labels: z.record(z.string(), z.string()).describe('Free-form labels shown with the target (and given to metrics).').optional(),
      options: torOptions().describe('tor options for this target only: they override the top-level options of the same name.').optional(),
    })
    .describe('One tor of the fleet.');
}

const everything = () => true;

/** The whole schema, every part built (what did-you-mean looks keys up in); a spec is checked with schemaFor. */
export const specSchema = once(() => specWith(torOptions, everything));

/** The parts of a spec that schemaFor builds: its known top-level keys, and `onionServices:<type>` per kind of service. */
function partsOf(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const spec = value as Record<string, unknown>;
  const parts = Object.keys(spec).filter((key) => TOP_LEVEL_KEYS.has(key));
  if (Array.isArray(spec.onionServices)) {
    for (const service of spec.onionServices as unknown[]) {
      const type = typeof service === 'object' && service !== null ? (service as { type?: unknown }).type : undefined;
      if (typeof type === 'string' && Object.hasOwn(SERVICE_TYPES, type)) parts.push(`onionServices:${type}`);
    }
  }
  return [...new Set(parts)].sort();
}

const TOP_LEVEL_KEYS = new Set(['tor', 'targets', 'options', 'onionServices', 'clientAuth', 'attach', 'persist', 'health']);

/** One schema per combination of parts, each built once: a process checks one spec, or a few in watch. */
const schemasByParts = new Map<string, z.ZodType>();

/**
 * The schema to check `value` (a spec as plain data) with: the whole spec's schema, with only the parts
 * `value` has built. It reports the same issues as the whole schema would, since a part a spec does not have
 * can report none.
 */
export function schemaFor(value: unknown): z.ZodType {
  const parts = partsOf(value);
  const key = parts.join('\0');
  let schema = schemasByParts.get(key);
  if (!schema) schemasByParts.set(key, (schema = specWith(torOptions, (part) => parts.includes(part))));
  return schema;
}

/** The spec's JSON Schema (draft-07), as committed in schema/tor-reconcile.schema.json. */
export function specJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(specWith(once(describedTorOptions), everything), { target: 'draft-07' }) as Record<string, unknown>;
}

/**
 * The keys a mapping at `path` may hold, for did-you-mean; `valueAt(depth)` gives the value written at
 * `path.slice(0, depth)`, which picks the member of a union (a service's `type`). Undefined where unknown.
 */
export function knownKeys(path: ReadonlyArray<PropertyKey>, valueAt: (depth: number) => unknown): string[] | undefined {
  let schema: z.ZodType = specSchema();
  for (let depth = 0; ; depth++) {
    while (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
    if (schema instanceof z.ZodDiscriminatedUnion) {
      const written = valueAt(depth) as { type?: unknown } | undefined;
      const member = (schema.options as z.ZodType[]).find((o) => o instanceof z.ZodObject && (o.shape.type as z.ZodLiteral).values.has(written?.type as never));
      if (!member) return undefined;
      schema = member;
    }
    const step = path[depth];
    if (step === undefined) return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
    if (schema instanceof z.ZodObject && typeof step === 'string' && step in schema.shape) schema = schema.shape[step] as z.ZodType;
    else if (schema instanceof z.ZodArray && typeof step === 'number') schema = schema.element as z.ZodType;
    else return undefined;
  }
}
