import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportLive, type ExportedSpec, type ExportFlags } from '../../reconcile/export.js';
import { adoptRecords } from '../../reconcile/export-ephemeral.js';
import { exportTorrc } from '../../reconcile/export-torrc.js';
import { openTarget } from '../../reconcile/target.js';
import { loadSpec } from '../../spec/index.js';
import { formatControlAddress, parseControlAddress } from '../../tor/address.js';
import { connect } from '../../tor/client.js';
import { optionMeaning } from '../../tor/config/docs.js';
import { CliUsageError } from '../report.js';
import { Secret } from '../../tor/secret.js';
import { renderExport } from '../views/export.js';
import type { CliCommand, CliIo } from '../program.js';

interface Flags {
  control?: string;
  passwordEnv?: string;
  output?: string;
  torrc?: string;
  defaultsTorrc?: string;
  torBinary?: string;
  all?: boolean;
  comments?: boolean;
  includeInstance?: boolean;
  stateDir?: string;
  secretsDir?: string;
}

export const exportCommand: CliCommand = {
  register(program, { io }) {
    program
      .command('export')
      .description("write a tor's configuration (a live tor, or torrc files read by tor) as a spec")
      .argument('[spec...]', "use this spec's tor (tor.control or its embedded tor) instead of --control")
      .option('--control <address>', 'tor control address (unix:PATH or tcp:HOST:PORT)')
      .option('--password-env <name>', 'environment variable holding the control password')
      .option('--torrc <file>', 'read this torrc instead of a live tor (tor parses it, offline; %include works)')
      .option('--defaults-torrc <file>', "with --torrc: tor's defaults file, as given to tor")
      .option('--tor-binary <path>', 'with --torrc: the tor executable (default: tor on PATH)')
      .option('--all', "also options equal to tor's default")
      .option('--comments', "tor's one-line meaning above each option")
      .option('--include-instance', 'put instance options (control port, DataDirectory, Log, User …) into options:')
      .option('--state-dir <dir>', "where the keys and records of tor's ephemeral services are (default: the spec's stateDirectory)")
      .option('--secrets-dir <dir>', 'write client-auth credentials here as 0600 files (default: secrets/ beside --output)')
      .option('-o, --output <file>', 'write the spec here, mode 0600 (default: stdout)')
      .addHelpText(
        'after',
        '\nApplying the exported spec back to the same tor plans no change: the way to adopt an existing tor.\nInstance options are listed in a closing comment (docs/export.md says which and why).\n\nExamples:\n  $ tor-reconcile export --control unix:/run/tor/control -o tor.yaml\n  $ tor-reconcile export --torrc /etc/tor/torrc --defaults-torrc /usr/share/tor/tor-service-defaults-torrc --comments\n',
      )
      .action(async (specs: string[], flags: Flags) => {
        const exportFlags: ExportFlags = { all: flags.all ?? false, includeInstance: flags.includeInstance ?? false };
        let spec: ExportedSpec;
        let adopt: (() => Promise<void>) | undefined;
        if (flags.torrc) {
          if (flags.control || specs.length || flags.stateDir || flags.secretsDir) throw new CliUsageError('export --torrc reads files only: give it without --control, a spec, --state-dir or --secrets-dir');
          spec = await exportTorrc({ torrc: flags.torrc, ...(flags.defaultsTorrc ? { defaultsTorrc: flags.defaultsTorrc } : {}), ...(flags.torBinary ? { binary: flags.torBinary } : {}) }, exportFlags);
        } else {
          if (flags.defaultsTorrc || flags.torBinary) throw new CliUsageError('--defaults-torrc and --tor-binary go with --torrc');
          ({ spec, adopt } = await exportFromTor(specs, flags, exportFlags, io));
        }
        const text = renderExport(spec, flags.comments ? { meaning: optionMeaning } : {});
        if (flags.output) {
          await writeFile(flags.output, text, { mode: 0o600 });
          await adopt?.();
          io.stderr(`wrote ${flags.output}\n`);
        } else io.stdout(text);
      });
  },
};

async function exportFromTor(specs: string[], flags: Flags, exportFlags: ExportFlags, io: CliIo): Promise<{ spec: ExportedSpec; adopt?: () => Promise<void> }> {
  let client;
  let stateDir = flags.stateDir;
  if (flags.control) {
    let password: Secret<string> | undefined;
    if (flags.passwordEnv) {
      const value = io.env[flags.passwordEnv];
      if (value === undefined) throw new CliUsageError(`--password-env: environment variable ${flags.passwordEnv} is not set`);
      password = new Secret(value);
    }
    client = await connect({ control: parseControlAddress(flags.control), ...(password ? { password } : {}) });
  } else if (specs.length) {
    const { state } = await loadSpec(specs, { env: io.env });
    stateDir ??= state.stateDirectory;
    client = (await openTarget(state, { start: false })).client;
  } else throw new CliUsageError('export needs --control ADDRESS, a spec whose tor to export, or --torrc FILE');
  // Paths in a spec written to a file are relative to it, so the spec and its secrets move together.
  const output = flags.output ? path.resolve(flags.output) : undefined;
  const rel = (file: string) => {
    if (!output) return path.resolve(file);
    const r = path.relative(path.dirname(output), path.resolve(file));
    return r.startsWith('..') ? path.resolve(file) : `./${r}`;
  };
  const secretsDir = flags.secretsDir ?? (output ? path.join(path.dirname(output), 'secrets') : undefined);
  try {
    const { spec, records } = await exportLive(client, {
      ...exportFlags,
      control: formatControlAddress(client.connection.address),
      env: io.env,
      rel,
      ...(stateDir ? { stateDir } : {}),
      ...(secretsDir ? { secretsDir } : {}),
    });
    if (output && stateDir && records.length) return { spec, adopt: () => adoptRecords(stateDir, output, records) };
    // Without a file, the spec has no identity to own the services under: its first apply re-adds them.
    if (records.length) spec.notes.push('Export with -o FILE to adopt the ephemeral services above: without it, the first apply of this spec re-adds them (same addresses).');
    return { spec };
  } finally {
    await client.close();
  }
}
