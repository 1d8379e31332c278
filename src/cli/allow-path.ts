/**
 * `--allow-path DIR` (repeatable): where, besides the spec files' own directory trees, the spec's file
 * references may lead (src/spec/confine.ts). Every command that reads a spec confines it the same way, so
 * that what `plan` may not read on an untrusted pull request, `apply` may not read (or write) either.
 */
import type { LoadOptions } from '../spec/index.js';

export const ALLOW_PATH_OPTION = [
  '--allow-path <dir>',
  "let the spec's file references (${file:}, key files, directories, persist.file) lead into DIR too; repeatable (by default only the spec files' own directory trees, symlinks resolved)",
  (dir: string, dirs: string[]) => [...dirs, dir],
  [] as string[],
] as const;

/** The LoadOptions.confine of a command's `--allow-path` flags. */
export function confineFlag(allowPath: readonly string[] | undefined): NonNullable<LoadOptions['confine']> {
  return { allow: allowPath ?? [] };
}
