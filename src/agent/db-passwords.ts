import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';

/**
 * A database's files in the agent's config. Passwords (`password_file`): the fallback for
 * databases that cannot take the proxy's client certificates. The file is read at
 * each session, so rotating the password needs no restart of the agent. The password goes to the
 * database only, over TLS to a server certificate the db CA signed; never to a log, the proxy or
 * the client. A CA (`ca_file`): for a database whose server certificate another CA signed.
 */

/** Permission bits for the group and others: a password file should have none (chmod 600), as ~/.pgpass must. */
const SHARED_BITS = 0o077;

/**
 * The password in `path`, without one trailing newline (`echo secret > file` writes one). A
 * missing, unreadable or empty file is an error naming the file, for the session's refusal.
 */
export async function readPasswordFile(path: string, db: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    // A new Error without the errno code: the refusal shows the message, and the message says what to do.
    throw new Error(`the password file ${path} of database ${db} cannot be read (${reason(err)}); write the database user's password to it, readable by the agent's user only`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new Error(`the password file ${path} of database ${db} is empty; write the database user's password to it (or remove password_file to log in with a certificate)`);
  return password;
}

/** The CA in `path` (`ca_file`) that the database's server certificate must chain to. */
export async function readCaFile(path: string, db: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`the CA file ${path} of database ${db} cannot be read (${reason(err)}); it should hold the PEM certificate of the CA that signed the database's server certificate`);
  }
}

/** At agent start: warns when the file is missing, or open to the group or others (the agent still serves the database). */
export function checkPasswordFile(path: string, db: string, log: Logger): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    log.warn(`the password file ${path} of database ${db} cannot be read (${reason(err)}); sessions to ${db} are refused until it can`);
    return;
  }
  if (mode & SHARED_BITS) log.warn(`the password file ${path} of database ${db} is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it, owned by the agent's user`);
}

/** A file error without the path Node repeats: `ENOENT: no such file or directory`. */
function reason(err: unknown): string {
  return String((err as Error).message).split(', ')[0]!;
}
