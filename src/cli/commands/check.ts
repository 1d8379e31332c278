import { checkReachability, noSocksListenerReason } from '../../reconcile/check.js';
import { openTarget } from '../../reconcile/target.js';
import { loadSpec } from '../../spec/index.js';
import { parseControlAddress } from '../../tor/address.js';
import { connect, type TorClient } from '../../tor/client.js';
import { CliUsageError } from '../report.js';
import { tcpSocksListener } from '../../tor/socks/index.js';
import { EXIT_INVALID, type CliCommand } from '../program.js';
import { parseDuration } from '../duration.js';

interface CheckFlags {
  control?: string;
  socks?: string;
  clientControl?: string;
  timeout: string;
  json?: boolean;
}

export const checkCommand: CliCommand = {
  register(program, { io, setExitCode }) {
    program
      .command('check')
      .description("connect, through a tor client, to every onion service the spec declares, and report each one's reachability")
      .argument('<spec...>', 'spec files, merged in order')
      .option('--control <address>', "the spec's tor (overrides tor.control); its SOCKS port is used unless --socks")
      .option('--socks <host:port>', 'go through this SOCKS port instead (a tor whose SocksPort has ExtendedErrors gives precise reasons)')
      .option('--client-control <address>', "the control port of the tor behind --socks, to lend it the spec's client-auth keys")
      .option('--timeout <duration>', 'per service', '120s')
      .option('--json', 'print the results as JSON')
      .addHelpText('after', '\nExit status: 0 when every service is reachable, 1 otherwise.\n\nExample:\n  $ tor-reconcile check spec.yaml --socks 127.0.0.1:9050\n')
      .action(async (specs: string[], flags: CheckFlags) => {
        const { state } = await loadSpec(specs, { env: io.env });
        const clients: TorClient[] = [];
        try {
          let socks = flags.socks;
          let client: TorClient | undefined;
          if (flags.clientControl) clients.push((client = await connect({ control: parseControlAddress(flags.clientControl) })));
          if (!socks || !flags.clientControl) {
            const own = (await openTarget(state, { ...(flags.control ? { control: flags.control } : {}), start: false })).client;
            clients.push(own);
            if (!socks) {
              socks = await tcpSocksListener(own);
              client = own;
            }
          }
          if (!socks) throw new CliUsageError(await noSocksListenerReason(clients.at(-1)!));
          const results = await checkReachability(state, { socks, ...(client ? { client } : {}), timeoutMs: parseDuration(flags.timeout, '--timeout') });
          if (flags.json) io.stdout(JSON.stringify({ format_version: 1, socks, results }, null, 2) + '\n');
          else {
            for (const r of results) {
              const where = r.address ? `${r.address}.onion:${r.port}` : '(address unknown)';
              io.stdout(r.ok ? `ok    ${r.name}  ${where}  connected in ${r.latencyMs} ms\n` : `FAIL  ${r.name}  ${where}  ${r.error}\n`);
            }
            io.stdout(`${results.filter((r) => r.ok).length} of ${results.length} onion services reachable through ${socks}\n`);
          }
          if (results.some((r) => !r.ok)) setExitCode(EXIT_INVALID);
        } finally {
          for (const c of clients) await c.close();
        }
      });
  },
};
