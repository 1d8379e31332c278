/**
 * What a person must know about the embedded tor after a command used it: it keeps running detached after
 * tor-reconcile exits, so the command says what runs, where, whether it is on the Tor network, and how to end it.
 */
import type { DesiredState } from '../spec/model.js';
import type { Target } from './target.js';

export interface EmbeddedTor {
  /** Started by this command (else reused from an earlier one). */
  started: boolean;
  pid: number;
  dataDirectory: string;
  /** Printable control address (`unix:…/control.sock`). */
  control: string;
  /** False while tor runs with DisableNetwork 1: it makes no connection beyond its own listeners. */
  network: boolean;
}

/** Undefined when the target is not the spec's embedded tor (`tor.control` or `--control`). */
export async function embeddedTor(desired: DesiredState, target: Target, control: string | undefined): Promise<EmbeddedTor | undefined> {
  const launch = desired.tor.launch;
  // A tor that died during apply is not running: the failure apply reported says enough.
  if (!launch || control || desired.tor.control || target.client.connection.isClosed) return undefined;
  // One pipelined round trip, after apply: the answer is the tor as it is left running.
  const [pid, conf] = await Promise.all([target.client.getInfo('process/pid'), target.client.getConf(['DisableNetwork'])]);
  return {
    started: target.launched !== undefined,
    pid: Number(pid),
    dataDirectory: launch.dataDirectory,
    control: target.address,
    network: conf.get('DisableNetwork')?.[0] !== '1',
  };
}
