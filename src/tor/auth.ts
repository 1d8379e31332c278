import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ControlConnection, SendOptions } from './connection.js';
import { AuthenticationError, ReplyError, TimeoutError } from './errors.js';
import { commands, revealedSecrets, type Command } from './protocol/encoder.js';
import { isOk } from './protocol/reply.js';
import { parseAuthChallenge, parseProtocolInfo, type ProtocolInfo } from './replies.js';
import { Secret, type MaybeSecret } from './secret.js';

export type AuthMethod = 'SAFECOOKIE' | 'COOKIE' | 'HASHEDPASSWORD' | 'NULL';

export interface AuthOptions {
  /** The control password (HASHEDPASSWORD). */
  password?: MaybeSecret;
  /** Name of an environment variable holding the password. */
  passwordEnv?: string;
  /** File holding the password (trailing newline ignored). */
  passwordFile?: string;
  /** Use this cookie file instead of the one PROTOCOLINFO names (containers, chroots). */
  cookieFile?: string;
  /**
   * Force one method instead of choosing (NULL, SAFECOOKIE, COOKIE, HASHEDPASSWORD in that preference). Plain
   * COOKIE is chosen only when forced or when `cookieFile` is given: it sends the cookie itself to the peer.
   */
  method?: AuthMethod;
  /** How long each handshake reply (PROTOCOLINFO, AUTHCHALLENGE, AUTHENTICATE) may take, in ms (default 10 s). */
  connectTimeout?: number;
}

const SERVER_TO_CONTROLLER = 'Tor safe cookie authentication server-to-controller hash';
const CONTROLLER_TO_SERVER = 'Tor safe cookie authentication controller-to-server hash';

/**
 * PROTOCOLINFO, then the best method both sides can do. Tor closes the connection after a failed attempt,
 * so there is exactly one try; the error says which method and what to change.
 */
export async function authenticate(conn: ControlConnection, options: AuthOptions = {}): Promise<{ info: ProtocolInfo; method: AuthMethod }> {
  // A listener that accepts but never answers (not tor, or a wedged tor) must not hang connect() forever.
  const step: SendOptions = { timeout: options.connectTimeout ?? 10_000 };
  const info = parseProtocolInfo(await conn.request(commands.protocolInfo(), step));
  const offered = new Set(info.authMethods);
  const password = await resolvePassword(options);
  const cookiePath = options.cookieFile ?? info.cookieFile;
  // The path to open: tor's own bytes when its path is not UTF-8 (a string would be re-encoded as UTF-8).
  const cookieOpen = options.cookieFile ?? info.cookieFileBytes ?? info.cookieFile;

  const candidates: AuthMethod[] = options.method ? [options.method] : ['NULL', 'SAFECOOKIE', 'COOKIE', 'HASHEDPASSWORD'];
  let cookieProblem: AuthenticationError | undefined;
  for (const method of candidates) {
    if (!offered.has(method)) {
      if (options.method) throw new AuthenticationError(method, `tor does not offer it (offers ${info.authMethods.join(', ')})`);
      continue;
    }
    if (method === 'NULL') {
      await send(conn, method, commands.authenticate(), step);
      return { info, method };
    }
    if (method === 'COOKIE' && !options.method && options.cookieFile === undefined) {
      // Plain COOKIE sends the cookie itself, read from whatever file the peer names: an impostor offering
      // only COOKIE could harvest any 32-byte file this user can read. Tor offers SAFECOOKIE whenever it
      // offers COOKIE, so a COOKIE-only offer is not a tor to trust with it.
      cookieProblem ??= new AuthenticationError(
        'COOKIE',
        `the peer offers COOKIE without SAFECOOKIE, which tor never does; refusing to send it the contents of ${info.cookieFile ?? 'its cookie file'} (pass method 'COOKIE' or cookieFile to allow plain COOKIE)`,
      );
      continue;
    }
    if (method === 'SAFECOOKIE' || method === 'COOKIE') {
      let cookie: Buffer;
      try {
        cookie = await readCookie(method, cookieOpen, cookiePath);
      } catch (err) {
        cookieProblem ??= err as AuthenticationError;
        if (options.method) throw err;
        continue;
      }
      if (method === 'SAFECOOKIE') await safeCookie(conn, cookie, cookiePath!, step);
      else await send(conn, method, commands.authenticate(new Secret(cookie.toString('hex'))), step);
      return { info, method };
    }
    if (password === undefined) {
      if (options.method || !cookieProblem) {
        throw new AuthenticationError(method, 'tor wants a control password: pass one (option, environment variable or file)');
      }
      continue;
    }
    await send(conn, method, commands.authenticate(password, 'password'), step);
    return { info, method };
  }
  if (cookieProblem) throw cookieProblem;
  if (!info.authMethods.length) throw new AuthenticationError(undefined, 'tor named no authentication methods in its PROTOCOLINFO reply (no AUTH line)');
  throw new AuthenticationError(undefined, `no usable method: tor offers ${info.authMethods.join(', ')}`);
}

async function resolvePassword(o: AuthOptions): Promise<Secret<string> | undefined> {
  if (o.password !== undefined) return typeof o.password === 'string' ? new Secret(o.password) : o.password;
  if (o.passwordEnv) {
    const v = process.env[o.passwordEnv];
    if (v === undefined) throw new AuthenticationError('HASHEDPASSWORD', `environment variable ${o.passwordEnv} is not set`);
    return new Secret(v);
  }
  if (o.passwordFile) {
    try {
      return new Secret((await readFile(o.passwordFile, 'utf8')).replace(/\r?\n$/, ''));
    } catch (err) {
      throw new AuthenticationError('HASHEDPASSWORD', `cannot read password file ${o.passwordFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}

/** `open` is what is read, `path` what messages show (they differ only for a path that is not UTF-8). */
async function readCookie(method: AuthMethod, open: string | Buffer | undefined, path: string | undefined): Promise<Buffer> {
  if (!open || !path) throw new AuthenticationError(method, 'tor did not name a cookie file; pass cookieFile');
  let cookie: Buffer;
  try {
    cookie = await readFile(open);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES'
        ? `cookie file ${path} is not readable by this user: add yourself to the group that owns it (e.g. debian-tor), or set CookieAuthFileGroupReadable 1`
        : code === 'ENOENT'
          ? `cookie file ${path} does not exist (is tor's DataDirectory visible from here? pass cookieFile if it lives elsewhere)`
          : `cannot read cookie file ${path}: ${(err as Error).message}`;
    throw new AuthenticationError(method, why, { cause: err });
  }
  if (cookie.length !== 32) throw new AuthenticationError(method, `cookie file ${path} holds ${cookie.length} bytes, expected 32`);
  return cookie;
}

async function safeCookie(conn: ControlConnection, cookie: Buffer, path: string, step: SendOptions): Promise<void> {
  const clientNonce = randomBytes(32);
  let challenge;
  try {
    challenge = parseAuthChallenge(await conn.request(commands.authChallenge(clientNonce.toString('hex')), step));
  } catch (err) {
    if (err instanceof TimeoutError) throw err;
    throw new AuthenticationError('SAFECOOKIE', `AUTHCHALLENGE refused: ${(err as Error).message}`, { cause: err });
  }
  const message = Buffer.concat([cookie, clientNonce, challenge.serverNonce]);
  const expected = createHmac('sha256', SERVER_TO_CONTROLLER).update(message).digest();
  if (!timingSafeEqual(expected, challenge.serverHash)) {
    // Either the cookie we read is not this tor's (stale file, wrong path) or the peer is not tor: never
    // answer a server that cannot prove it knows the cookie.
    conn.destroy();
    throw new AuthenticationError('SAFECOOKIE', `tor's server hash does not match cookie file ${path}: the cookie is stale or belongs to another tor, or this is not tor; refusing to authenticate`);
  }
  const clientHash = createHmac('sha256', CONTROLLER_TO_SERVER).update(message).digest('hex');
  await send(conn, 'SAFECOOKIE', commands.authenticate(new Secret(clientHash)), step);
}

async function send(conn: ControlConnection, method: AuthMethod, cmd: Command, step: SendOptions): Promise<void> {
  let reply;
  try {
    reply = await conn.send(cmd, step);
  } catch (err) {
    if (err instanceof TimeoutError) throw err;
    throw new AuthenticationError(method, (err as Error).message, { cause: err });
  }
  if (!isOk(reply)) {
    const why = new ReplyError(cmd.display, reply, { secrets: revealedSecrets(cmd) }).torMessage;
    const hint = method === 'HASHEDPASSWORD' ? ' (wrong password?)' : method === 'NULL' ? '' : ' (cookie file out of date?)';
    throw new AuthenticationError(method, `tor refused: ${reply.code} ${why}${hint}`);
  }
}
