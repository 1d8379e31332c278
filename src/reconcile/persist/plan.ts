/**
 * Plan section: persistence. Runs last, over the changes the other sections found.
 * - `none`: one warning that what apply changes lasts until tor restarts or reloads; when nothing changes, the
 *   managed items tor's next restart or reload would revert (restart.ts), in a warning and in the plan.
 * - `saveconf`: a SAVECONF after the other steps, when there are any.
 * - `file`: the drop-in on disk compared with what the spec makes of it: a difference is drift ("persisted
 *   config differs"), fixed by a verified write; a torrc that does not `%include` it is a change with the
 *   exact line to add (left to the operator), or the step that adds it when the spec says `include: true`.
 */
import type { DesiredOption, DesiredState, SourcePos } from '../../spec/model.js';
import { changeId } from '../desired.js';
import type { Builder, PlanContext } from '../plan-common.js';
import { step } from '../steps.js';
import type { LiveState } from '../types.js';
import { lostOnRestart } from './restart.js';
import { dropInText, includeLine, shownLines } from './torrc.js';

export function planPersist(desired: DesiredState, options: readonly DesiredOption[], live: LiveState, ctx: PlanContext, b: Builder): void {
  const spec = desired.persist ?? { mode: 'none' };
  const tuning = b.changes.some((c) => c.action !== 'noop' && (c.kind === 'option' || c.kind === 'filesystem-service'));
  const source = spec.source ? { source: spec.source } : {};
  if (spec.mode === 'none') {
    if (tuning) b.warnings.push({ item: 'persist', message: 'persist: none — these changes last until tor restarts or reloads (SIGHUP); see "Making it stick" in the README', ...source });
    else planRestart(desired, options, live, ctx, b, source);
    return;
  }
  const p = live.persist;
  if (spec.mode === 'saveconf') {
    const torrc = p?.configFile ?? "tor's torrc";
    if (p?.torrcError) b.warnings.push({ item: changeId('persisted-config', torrc), message: `persist: cannot read ${torrc} to check that it holds tor's configuration: ${p.torrcError}`, ...source });
    const ids: string[] = [];
    if (!tuning && p?.saved === false) {
      ids.push(b.change({ kind: 'persisted-config', id: torrc, action: 'update', before: null, after: null, reason: "tor's torrc does not hold its running configuration (not saved)", ...source }));
    }
    if (tuning || ids.length) b.persistSteps.push(step('saveconf', {}, ids));
    return;
  }
  const item = changeId('persisted-config', spec.file);
  if (!p) {
    b.errors.push({ item, message: `persist: the drop-in ${spec.file} was not read`, ...source });
    return;
  }
  if (p.torrcError) b.warnings.push({ item, message: `persist: cannot read tor's torrc to check that it reads ${spec.file}: ${p.torrcError}`, ...source });
  const want = dropInText(desired, options);
  const differs = p.dropIn !== (typeof want.content === 'string' ? want.content : want.content.reveal());
  const includeMissing = !p.included && !p.torrcError;
  const changes: string[] = [];
  if (differs) {
    changes.push(
      b.change({
        kind: 'persisted-config',
        id: spec.file,
        action: p.dropIn === null ? 'create' : 'update',
        before: p.dropIn === null ? null : shownLines(p.dropIn, want.secretNames),
        after: want.shown,
        reason: p.dropIn === null ? 'not persisted yet' : 'persisted config differs',
        ...source,
      }),
    );
    // Readable by tor's user only (its group) when it holds a secret, by anyone otherwise, like a torrc.
    const secret = typeof want.content !== 'string';
    const owner = secret && p.torGid !== undefined ? { owner: { uid: -1, gid: p.torGid } } : {};
    // Tor checks at start-up that its user owns the service directories: root verifies with `--User` tor's
    // user (as Debian's ExecStartPre does, as root with User in the defaults file); another user cannot, and
    // would see tor refuse every such file.
    const otherUser = ctx.uid !== undefined && live.torUid !== undefined && ctx.uid !== live.torUid;
    const user = otherUser && ctx.uid === 0 && p.torUser !== undefined && p.torGid !== undefined ? { user: { name: p.torUser, uid: live.torUid!, gid: p.torGid } } : {};
    if (otherUser && ctx.uid !== 0 && desired.onionServices.some((s) => s.type === 'filesystem')) {
      b.errors.push({ item, message: `tor runs as uid ${live.torUid} and tor-reconcile as uid ${ctx.uid}: the new ${spec.file} can only be verified as tor's user (tor checks it owns the service directories); run tor-reconcile as that user or as root`, ...source });
    }
    b.persistSteps.push(
      step(
        'persist-file',
        {
          path: spec.file,
          content: want.content,
          mode: secret ? 0o640 : 0o644,
          ...owner,
          ...user,
          ...(p.configFile ? { torrc: p.configFile } : {}),
          ...(p.defaultsFile ? { defaults: p.defaultsFile } : {}),
          binary: desired.tor.launch?.binary ?? 'tor',
        },
        changes,
      ),
    );
  }
  if (!includeMissing) return;
  const line = includeLine(spec.file);
  if (!(spec.include || ctx.persistInclude) || !p.configFile) {
    // A change, not a warning: after its next start tor would not hold what the drop-in says, so the plan is
    // not "in sync" (--detailed-exitcode 2) and apply, which may not edit the torrc unasked, reports it as
    // left to do. No step carries it out.
    b.change({ kind: 'persisted-config', id: p.configFile ?? "tor's torrc", action: 'update', before: null, after: [line], reason: `tor does not read ${spec.file}: add the line \`${line}\` to ${p.configFile ?? "tor's torrc"} (or set persist.include: true / apply --persist-include)`, ...source });
    return;
  }
  const id = b.change({ kind: 'persisted-config', id: p.configFile, action: 'update', before: null, after: [line], reason: `tor's torrc does not read ${spec.file}`, ...source });
  b.persistSteps.push(step('persist-include', { torrc: p.configFile, line }, [id]));
}

/** `persist: none` and nothing to change: is that still so after tor's next restart or reload? */
function planRestart(desired: DesiredState, options: readonly DesiredOption[], live: LiveState, ctx: PlanContext, b: Builder, source: { source?: SourcePos }): void {
  const p = live.persist;
  // Nothing read: the spec sets no option and no filesystem service, or the live state was built in code.
  if (!p) return;
  if (p.torrcError !== undefined || !p.restart) {
    b.restartUnknown = p.torrcError ?? "tor's torrc was not read";
    b.warnings.push({ item: 'persist', message: `persist: none — cannot tell whether tor would still match the spec after it restarts or reloads (SIGHUP): ${b.restartUnknown}`, ...source });
    return;
  }
  const lost = lostOnRestart(desired, options, live, p.restart, ctx);
  if (!lost.length) return;
  b.lostOnRestart.push(...lost);
  const names = lost.map((item) => (item.startsWith('option:') ? item.slice('option:'.length) : `onion service ${item.slice(item.indexOf(':') + 1)}`));
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  b.warnings.push({
    item: 'persist',
    message: `persist: none — tor matches the spec only until it restarts or reloads (SIGHUP), which would revert ${shown}: its torrc ${p.configFile} does not hold the spec's ${lost.length === 1 ? 'value' : 'values'}; see "Making it stick" in the README`,
    ...source,
  });
}
