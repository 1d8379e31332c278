/**
 * `tor-reconcile keys …`: onion keys by hand. Private keys only ever go to files (0600, written atomically);
 * what is printed is public: addresses and client-auth public keys.
 */
import { stat } from 'node:fs/promises';
import { loadKeyFile, persistKeys } from '../../reconcile/local.js';
import { CliError, CliUsageError } from '../report.js';
import { clientAuthPrivateLine, generateClientAuthKeyPair, generateServiceKey, parseOnionAddress, readTorKeyFiles, serviceAuthLine, writeSecretFileAtomic, writeTorKeyFiles, type OnionServiceKey } from '../../tor/onion/index.js';
import type { CliCommand } from '../program.js';

async function loadAny(source: string): Promise<OnionServiceKey> {
  if ((await stat(source).catch(() => undefined))?.isDirectory()) return readTorKeyFiles(source);
  // A generated key has no file of its own: loadKeyFile finds it in its directory's key store.
  return loadKeyFile(source).catch((err: NodeJS.ErrnoException) => Promise.reject(err.code === 'ENOENT' ? new CliError(`${source}: no such file or directory`) : err));
}

async function refuseOverwrite(file: string, key: OnionServiceKey): Promise<void> {
  const existing = await loadKeyFile(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  if (existing && existing.address !== key.address) throw new CliError(`${file} already holds the key of ${existing.address}.onion; refusing to replace it`);
}

export const keysCommand: CliCommand = {
  register(program, { io }) {
    const keys = program.command('keys').description('generate, convert and inspect onion service and client-auth keys');
    keys
      .command('generate')
      .description('generate a v3 onion service key into FILE (0600) and print its address')
      .argument('<file>')
      .addHelpText('after', '\nExample:\n  $ tor-reconcile keys generate keys/api.key\n')
      .action(async (file: string) => {
        const key = generateServiceKey();
        await refuseOverwrite(file, key);
        await persistKeys([{ file, key }]);
        io.stdout(`${key.address}.onion\n`);
      });
    keys
      .command('address')
      .description('print the onion address of a key file or of a HiddenServiceDir')
      .argument('<file-or-dir>')
      .action(async (source: string) => io.stdout(`${(await loadAny(source)).address}.onion\n`));
    keys
      .command('import')
      .description("copy a filesystem service's key (its HiddenServiceDir) into a key file for an ephemeral service")
      .argument('<dir>', "the service's HiddenServiceDir (hs_ed25519_secret_key)")
      .argument('<file>', 'key file to write (0600)')
      .addHelpText('after', '\nExample:\n  $ tor-reconcile keys import /var/lib/tor/web keys/web.key\n')
      .action(async (dir: string, file: string) => {
        const key = await readTorKeyFiles(dir);
        await refuseOverwrite(file, key);
        await persistKeys([{ file, key }]);
        io.stdout(`${key.address}.onion\n`);
      });
    keys
      .command('export')
      .description("write an ephemeral service's key file as tor's key files into DIR, to serve it as a filesystem service")
      .argument('<file>', 'key file')
      .argument('<dir>', 'HiddenServiceDir to write (0700; files 0600)')
      .action(async (file: string, dir: string) => {
        const key = await loadKeyFile(file);
        await writeTorKeyFiles(dir, key);
        io.stdout(`${key.address}.onion\n`);
      });
    keys
      .command('client-auth')
      .description('generate an x25519 client-authorization key pair for client NAME')
      .argument('<name>', 'client name (the service side file is authorized_clients/NAME.auth)')
      .requiredOption('--address <onion>', 'the onion service the client is for')
      .option('--private-out <file>', "where to write the client's line (0600; default NAME.auth_private)")
      .addHelpText(
        'after',
        "\nPrints the service's public line (for authorizedClients in the spec, or authorized_clients/NAME.auth);\nthe client's private line goes to a 0600 file (default NAME.auth_private), never to the terminal.\n\nExample:\n  $ tor-reconcile keys client-auth alice --address 2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion\n",
      )
      .action(async (name: string, flags: { address: string; privateOut?: string }) => {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new CliUsageError('client name: 1 to 64 letters, digits, "_" or "-"');
        const address = parseOnionAddress(flags.address).address;
        const pair = generateClientAuthKeyPair();
        const out = flags.privateOut ?? `${name}.auth_private`;
        await writeSecretFileAtomic(out, clientAuthPrivateLine(address, pair.privateKey).reveal() + '\n');
        io.stdout(`${serviceAuthLine(pair.publicKey)}\n`);
        io.stderr(`client ${name}: public key ${pair.publicKey}\nprivate line written to ${out} (0600); give it to the client (ClientOnionAuthDir, or clientAuth in its spec)\n`);
      });
  },
};
