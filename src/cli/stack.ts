/**
 * A bug's stack trace as positions in src/ (issue #16). The bin runs bundles written without whitespace
 * (scripts/build-cli.mjs), where `cli.cjs:3:48211` says nothing to whoever reads the report; the source map
 * the build writes beside each bundle says which file and line of src/ that is. A frame that cannot be
 * mapped (no map, a position the map does not cover, node's own code) stays as V8 wrote it.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

/** A position in a bundle of ours: an absolute path ending in .cjs, then line and column (1-based). */
const BUNDLE_POSITION = /(\/[^\s()]+\.cjs):(\d+):(\d+)/g;

export function sourceMappedStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(BUNDLE_POSITION, (position: string, file: string, line: string, column: string) => {
    if (!maps.has(file)) maps.set(file, readMap(file));
    const entry = maps.get(file)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry)) return position;
    // Sources are named relative to dist/cli/ (`../../src/…`): the part from src/ on is what a reader needs.
    const source = entry.originalSource.replace(/^(\.\.\/)+/, '');
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

function readMap(file: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
  } catch {
    // No map beside it (not one of our bundles, or one copied without it): the trace stays as it is.
    return undefined;
  }
}
