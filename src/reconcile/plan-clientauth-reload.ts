/**
 * Which client credentials a plan's own configuration commands make tor forget.
 *
 * Tor keeps client credentials in one map that it rebuilds from the files of ClientOnionAuthDir whenever it
 * acts on its options: every SETCONF and RESETCONF (even one that changes no value, which sends no
 * CONF_CHANGED) and every SIGHUP. Credentials added over the control port without Flags=Permanent have no
 * file and are gone after it; permanent ones come back from their files, unless the same command moves
 * ClientOnionAuthDir. Tor's source: hs_config_client_authorization() in src/feature/hs/hs_client.c replaces
 * the map (`client_auths = auths`) with what it read from the directory, called through
 * hs_config_client_auth_all() from options_act() in src/app/config/config.c. Observed on tor 0.4.9.11
 * (test/integration/client-auth-reload.test.ts); docs/client-auth.md.
 */
import type { Builder } from './plan-common.js';

export interface ConfigReload {
  /** The command that reloads, as the plan names it (`SETCONF`, or `RESETCONF`). */
  command: string;
  /** The same commands set or reset ClientOnionAuthDir: permanent credentials are read from elsewhere. */
  movesAuthDir: boolean;
}

/** The reload the steps planned so far cause, if any. Call it once every section that sends SETCONF/RESETCONF has planned. */
export function configReload(b: Builder): ConfigReload | undefined {
  let command: string | undefined;
  let movesAuthDir = false;
  for (const s of b.steps()) {
    if (s.op === 'setconf') {
      command = 'SETCONF';
      movesAuthDir ||= s.entries.some(([k]) => isAuthDir(k));
    } else if (s.op === 'resetconf') {
      command = 'RESETCONF';
      movesAuthDir ||= s.keys.some(isAuthDir);
    }
  }
  return command ? { command, movesAuthDir } : undefined;
}

/** Why a credential tor holds now must be added again after the plan's configuration commands; undefined when it survives them. */
export function lostAtReload(reload: ConfigReload | undefined, permanent: boolean): string | undefined {
  if (!reload) return undefined;
  if (!permanent) return `tor forgets credentials added without Permanent at every SETCONF/RESETCONF (it reloads them from ClientOnionAuthDir): added again after this plan's ${reload.command}`;
  if (reload.movesAuthDir) return `this plan changes ClientOnionAuthDir, from which tor reloads its permanent credentials: added again after its ${reload.command}`;
  return undefined;
}

function isAuthDir(key: string): boolean {
  return key.toLowerCase() === 'clientonionauthdir';
}
