import { run, type CliIo } from '../../src/cli/program.js';

/** `tor-reconcile ARGV` run in this process, as a user types it: exit code, stdout and stderr. */
export async function cliInProcess(argv: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}
