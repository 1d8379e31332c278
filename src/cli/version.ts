import { readFileSync } from 'node:fs';

/**
 * Defined by the CLI bundle (scripts/build-cli.mjs), where package.json is not at this file's relative
 * path; undeclared in tsc's output, which reads package.json beside dist/.
 */
declare const TOR_RECONCILE_VERSION: string | undefined;

/** tor-reconcile's version, from package.json. */
export function version(): string {
  if (typeof TOR_RECONCILE_VERSION === 'string') return TOR_RECONCILE_VERSION;
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `--version` or `-V` alone: answered without the command line parser (the bin, program.ts). */
export function asksVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
}
