/**
 * The command line: one commander program, commands registered from src/cli/commands/. Everything goes
 * through a CliIo so tests run commands in-process. Exit codes: 0 done, 1 the spec (or what it asks for)
 * is wrong or tor refused, 2 the command line is wrong (1 with --detailed-exitcode, where 2 means
 * "changes"), 70 a bug in tor-reconcile (the only case with a stack trace). `diff` follows GNU diff.
 */
import type { Command } from 'commander';
import { commands } from './commands/index.js';
import { describeError } from './report.js';
import { asksVersionOnly, version } from './version.js';

export { formatReport, plural } from './report.js';

export interface CliIo {
  /** Data: what the command produces. */
  stdout(text: string): void;
  /** Diagnostics: errors, warnings, progress. */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

export interface CliContext {
  io: CliIo;
  /** The process exit code once the command returns (0 unless set). */
  setExitCode(code: number): void;
}

/** One `tor-reconcile <name>` command, in its own file under src/cli/commands/. */
export interface CliCommand {
  register(program: Command, context: CliContext): void;
}

const EXIT_OK = 0;
export const EXIT_INVALID = 1;
const EXIT_USAGE = 2;
const EXIT_BUG = 70;

/**
 * The commands `argv` needs: the one it runs (and nothing else, so that its start-up pays only for its own
 * modules), or every command when it asks for the overall help, names no command, or an unknown one (whose
 * error suggests the closest name).
 */
function needed(argv: readonly string[]): string[] {
  const first = argv[0] === 'help' ? argv[1] : argv[0];
  if (first !== undefined && Object.hasOwn(commands, first)) return [first];
  return Object.keys(commands);
}

async function buildProgram(argv: readonly string[], context: CliContext): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command()
    .name('tor-reconcile')
    .description('Config-as-code for the Tor daemon: declare in YAML what a tor should be, and make a live tor match.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .configureOutput({ writeOut: (s) => context.io.stdout(s), writeErr: (s) => context.io.stderr(s) })
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      '\nExamples:\n  $ tor-reconcile validate examples/specs/quickstart.yaml\n  $ tor-reconcile plan examples/specs/quickstart.yaml\n  $ tor-reconcile apply examples/specs/quickstart.yaml\n  $ tor-reconcile schema > schema/tor-reconcile.schema.json\n\nSet TOR_RECONCILE_TRACE=1 to see every control command on stderr (secrets redacted).\n',
    );
  const loaded = await Promise.all(needed(argv).map((name) => commands[name]!()));
  for (const command of loaded) command.register(program, context);
  return program;
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_OK;
  // The version alone needs no command line parser: the cheapest answer, as scripts ask it often.
  if (asksVersionOnly(argv)) {
    io.stdout(`${version()}\n`);
    return EXIT_OK;
  }
  const { CommanderError } = await import('commander');
  const program = await buildProgram(argv, { io, setExitCode: (code) => (exitCode = code) });
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT_USAGE;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    // Commander has already printed its message (or the help, or the version).
    // With --detailed-exitcode, 2 means "changes": a bad command line must not look like one.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : argv.includes('--detailed-exitcode') ? EXIT_INVALID : EXIT_USAGE;
    const failure = describeError(err);
    io.stderr(failure.text);
    if (failure.kind === 'usage') return argv.includes('--detailed-exitcode') ? EXIT_INVALID : EXIT_USAGE;
    return failure.kind === 'failed' ? EXIT_INVALID : EXIT_BUG;
  }
}

export function processIo(): CliIo {
  return { stdout: pipeWriter(process.stdout), stderr: pipeWriter(process.stderr), env: process.env };
}

/**
 * Writes to one of the process's streams. A reader that goes away (`tor-reconcile plan spec.yaml | head`) is
 * not a bug: what it would have read is dropped, and the command goes on to its end, so an apply is never cut
 * short by the pipe it reports into. Without a listener, node throws the pipe's EPIPE as an unhandled
 * 'error' event, a stack trace wherever the command was. Any other error still is one.
 */
function pipeWriter(stream: NodeJS.WriteStream): (text: string) => void {
  let listening = false;
  let gone = false;
  return (text) => {
    if (gone) return;
    // On first use: the stream is made when first touched, and a command that never writes to it should not.
    if (!listening) {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        gone = true;
      });
      listening = true;
    }
    stream.write(text);
  };
}
