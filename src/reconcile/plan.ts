/**
 * Desired state + live state → Plan. Pure: no I/O, no clock, no randomness (the secrets digest's salt comes
 * from the caller); the same inputs give the same plan.
 *
 * Ordering rules (why the steps come in this order):
 * 1. Keys are generated and persisted before any command could use them: a key tor holds and we don't is
 *    an address lost at the next restart.
 * 2. All option changes are one RESETCONF and one SETCONF: tor applies each all-or-nothing.
 * 3. Filesystem services are one SETCONF of the complete ordered HiddenService block, preceded by the
 *    directories and files it names (plan-filesystem.ts).
 * 4. Ephemeral services: DEL_ONION before ADD_ONION of the same key; every DEL_ONION before any record is
 *    forgotten; each ADD_ONION followed by its record (plan-ephemeral.ts).
 * 5. Client credentials: remove before add, and after every SETCONF/RESETCONF: those make tor forget the
 *    credentials added without Permanent, which the plan adds again (plan-clientauth-reload.ts).
 * 6. Persistence once tor has accepted everything: the drop-in (verified by tor first), then the
 *    `%include` line that makes tor read it; or SAVECONF (persist/plan.ts).
 * 7. Restart-only options on the embedded tor: a restart, last, so that the restarted tor also reads the
 *    drop-in just written (reconcileOnce applies the spec again to the restarted tor).
 */
import { createHash } from 'node:crypto';
import type { DesiredState } from '../spec/model.js';
import { isSecret } from '../tor/secret.js';
import { changeId } from './desired.js';
import { normalizeDirectory } from './hsblock.js';
import { Builder, type PlanContext } from './plan-common.js';
import { planClientAuth } from './plan-clientauth.js';
import { planEphemeralServices } from './plan-ephemeral.js';
import { planFilesystemServices } from './plan-filesystem.js';
import { planLocalFiles } from './plan-directories.js';
import { planOptions, withAttachOptions } from './plan-options.js';
import { planPersist } from './persist/plan.js';
import { startupOptions } from './startup.js';
import { kindOf, step } from './steps.js';
import type { Change, LiveState, Plan, ServiceAddress, Step } from './types.js';

export type { PlanContext } from './plan-common.js';

export function computePlan(desired: DesiredState, live: LiveState, ctx: PlanContext): Plan {
  const b = new Builder();
  planLocalFiles(live, ctx, b);
  const options = withAttachOptions(desired, b);
  planOptions(options, live, ctx, b);
  planFilesystemServices(desired, live, ctx, b);
  planEphemeralServices(desired, live, ctx, b);
  planClientAuth(desired, live, ctx, b);
  planPersist(desired, options, live, ctx, b);
  const restartOnly = b.changes.filter((c) => c.needsRestart);
  const restarts = Boolean(restartOnly.length && ctx.embedded && desired.tor.launch);
  if (restarts) {
    const ids = restartOnly.map((c) => changeId(c.kind, c.id));
    b.restartSteps.push(step('restart-tor', { dataDirectory: desired.tor.launch!.dataDirectory, options: startupOptions(desired), names: restartOnly.map((c) => c.id) }, ids));
  }
  const steps = b.steps();
  const count = (a: Change['action']) => b.changes.filter((c) => c.action === a && !c.needsRestart).length;
  return {
    format_version: 1,
    target: ctx.target,
    stateDirectory: desired.stateDirectory,
    torVersion: live.torVersion,
    liveFingerprint: live.fingerprint,
    specFiles: desired.files,
    ...(ctx.salt !== undefined ? { secretsDigest: `${ctx.salt}:${secretsDigest(ctx.salt, steps)}` } : {}),
    changes: b.changes,
    steps,
    errors: b.errors,
    warnings: b.warnings,
    summary: {
      create: count('create'),
      update: count('update'),
      delete: count('delete'),
      replace: count('replace'),
      needsRestart: b.changes.filter((c) => c.needsRestart).length,
      commands: steps.filter((s) => kindOf(s).control).length,
    },
    ...(restartOnly.length ? { restart: restarts ? ('apply' as const) : ('pending' as const) } : {}),
    addresses: serviceAddresses(desired, live),
    ...(b.lostOnRestart.length ? { lostOnRestart: b.lostOnRestart } : {}),
    ...(b.restartUnknown !== undefined ? { restartUnknown: b.restartUnknown } : {}),
  };
}

/**
 * Each declared service's address before applying: its key's, when the key exists (a filesystem service's
 * verified key when its address is pinned, else the hostname file tor writes beside the key).
 */
export function serviceAddresses(desired: DesiredState, live: LiveState): ServiceAddress[] {
  return desired.onionServices.map((s) => {
    let address: string | undefined;
    if (s.type === 'ephemeral') address = live.ephemeralKeys.get(s.name)?.address;
    else {
      const files = live.serviceFiles.get(normalizeDirectory(s.directory));
      address = files?.keyAddress ?? files?.hostname;
    }
    return { name: s.name, type: s.type, address: address ?? null };
  });
}

/** Binds a saved plan to the secret values it was made with, without revealing them (salted hash). */
export function secretsDigest(salt: string, steps: Step[]): string {
  const h = createHash('sha256').update(salt);
  for (const v of secretValues(steps)) h.update('\0' + v);
  return h.digest('hex');
}

/** Every Secret's value anywhere in `root` (arrays and plain objects, depth first, in order). */
export function secretValues(root: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (isSecret(v)) out.push(String(v.reveal()));
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(root);
  return out;
}

/** A plan with nothing to do: no step, no blocking error, and no restart-only option that differs. */
export function isEmptyPlan(plan: Plan): boolean {
  // A change no step carries out (a restart, an %include line only the operator may add) is still a difference.
  return plan.steps.length === 0 && plan.errors.length === 0 && !plan.restart && !plan.launch && !plan.changes.some((c) => c.action !== 'noop');
}
