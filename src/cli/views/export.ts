/**
 * An exported spec (src/reconcile/export.ts) as the YAML file a person commits: a header saying where it
 * came from, `options:` with tor's one-line meaning above each option when asked, and the instance options
 * and notes as a closing comment.
 */
import { Document, isMap, isScalar, isSeq, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import type { ExportedOption, ExportedSpec } from '../../reconcile/export.js';
import { onionOption } from '../../spec/onion-options.js';

export interface ExportViewOptions {
  /** tor's one-line meaning of an option (`--comments`); undefined leaves options uncommented. */
  meaning?: (option: string) => string | undefined;
}

export function renderExport(spec: ExportedSpec, view: ExportViewOptions = {}): string {
  const body: Record<string, unknown> = { version: 1 };
  if (spec.control) body.tor = { control: spec.control };
  if (spec.stateDirectory) body.stateDirectory = spec.stateDirectory;
  body.options = optionMap(spec.options);
  if (spec.services.length) body.onionServices = spec.services;
  if (spec.clientAuth?.length) body.clientAuth = spec.clientAuth;
  const doc = new Document(body);
  const options = doc.get('options', true) as YAMLMap;
  for (const pair of options.items) {
    const key = pair.key as Scalar;
    const why = spec.options.find((o) => o.name === key.value)?.instance;
    const meaning = view.meaning?.(String(key.value));
    const lines = [meaning, why && `instance option: ${why}`].filter((l): l is string => Boolean(l));
    if (lines.length) key.commentBefore = lines.map((l) => ` ${l}`).join('\n');
    if (isSeq(pair.value) && shortWords(pair.value)) pair.value.flow = true;
  }
  const back = spec.fromFiles ? 'Applied to a tor running these files, this spec plans no change.' : 'Applying this spec back to the same tor plans no change.';
  // Per-service options carry their meaning too (the spec's own table of them).
  const services = doc.get('onionServices', true);
  if (view.meaning && isSeq(services)) {
    for (const service of services.items) {
      const options = isMap(service) ? service.get('options', true) : undefined;
      if (!isMap(options)) continue;
      for (const pair of options.items) {
        const meaning = onionOption(String((pair.key as Scalar).value))?.description;
        if (meaning) (pair.key as Scalar).commentBefore = ` ${meaning}`;
      }
    }
  }
  doc.commentBefore = [` Exported by tor-reconcile from ${spec.origin}.`, ` ${back}`].join('\n');
  const closing: string[] = [];
  if (spec.instance.length) {
    closing.push(' Instance options of the exported tor: they belong to that tor process, not to the configuration', ' (docs/export.md); `export --include-instance` puts them into options:.', ...commentedYaml({ options: optionMap(spec.instance) }));
  }
  if (spec.notes.length) closing.push(...(closing.length ? [''] : []), ...spec.notes.map((n) => ` ${n}`));
  if (closing.length) doc.comment = closing.join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** A list of single words (`["{cn}", "{ru}"]`) reads best on one line; lines of a line list (SocksPort) one per line. */
function shortWords(seq: YAMLSeq): boolean {
  return seq.items.every((i) => isScalar(i) && !/\s/.test(String(i.value))) && JSON.stringify(seq.toJSON()).length < 70;
}

function optionMap(options: readonly ExportedOption[]): Record<string, unknown> {
  return Object.fromEntries(options.map((o) => [o.name, o.value]));
}

/** `value` as YAML, each line behind `#   ` so that uncommenting it gives valid YAML. */
function commentedYaml(value: unknown): string[] {
  const doc = new Document(value);
  const map = doc.contents;
  if (isMap(map)) for (const pair of map.items) if (isMap(pair.value)) for (const p of pair.value.items) if (isSeq(p.value) && shortWords(p.value)) p.value.flow = true;
  return doc
    .toString({ lineWidth: 0 })
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`);
}
