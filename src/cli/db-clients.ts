import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PosternError } from '../errors/postern-error.js';
import type { DbClientFiles } from '../client/db-listener-identity.js';
import type { HostPort } from '../net/addr.js';

/** A database client program and the arguments that point it at a local listener. */
export interface DbClientCommand {
  program: string;
  args: string[];
}

export interface DbLogin {
  at: HostPort;
  dbUser: string;
  dbName?: string;
}

/**
 * The command line of the usual client for a database protocol, connected to `login.at` with no
 * TLS (Postern's TLS carries the session) and no password (the agent proves the database user).
 */
export function dbClientCommand(protocol: string, login: DbLogin): DbClientCommand {
  if (protocol === 'postgres') return { program: need('psql', ['psql']), args: [postgresConnInfo(login)] };
  if (protocol === 'mysql') {
    const program = need('mysql', ['mariadb', 'mysql']);
    return { program, args: mysqlArgs(program, login) };
  }
  throw new PosternError('NOT_IMPLEMENTED', `this version of Postern connects to PostgreSQL and MySQL/MariaDB databases, not ${protocol}`);
}

/** The libpq connection string (psql, and every libpq program and driver); `plain`: no TLS to the listener. */
export function postgresConnInfo({ at, dbUser, dbName }: DbLogin, plain = true): string {
  return `host=${plain ? at.host : 'localhost'} port=${at.port} user=${dbUser}${dbName ? ` dbname=${dbName}` : ''}${plain ? ' sslmode=disable' : ''}`;
}

/**
 * mysql/mariadb options: with no TLS to the listener (Oracle's client says so with --ssl-mode,
 * MariaDB's with --skip-ssl), or with `files`, TLS with the listener's client certificate.
 */
export function mysqlArgs(program: string, { at, dbUser, dbName }: DbLogin, files?: DbClientFiles): string[] {
  const mariadb = isMariadbClient(program);
  const tls = files ? [`--ssl-ca=${files.ca}`, `--ssl-cert=${files.cert}`, `--ssl-key=${files.key}`, mariadb ? '--ssl-verify-server-cert' : '--ssl-mode=VERIFY_IDENTITY'] : [mariadb ? '--skip-ssl' : '--ssl-mode=DISABLED'];
  return ['-h', files ? 'localhost' : at.host, '-P', String(at.port), ...(files ? ['--protocol=TCP'] : []), '-u', dbUser, ...tls, ...(dbName ? [dbName] : [])];
}

function isMariadbClient(program: string): boolean {
  if (program.endsWith('mariadb')) return true;
  try {
    return execFileSync(program, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('MariaDB');
  } catch {
    return false;
  }
}

const INSTALL: Record<string, string> = {
  psql: 'the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)',
  mysql: 'a MySQL or MariaDB client (Debian/Ubuntu: apt-get install mariadb-client; macOS: brew install mysql-client)',
};

/** The first of `names` on PATH, or an error that says what to install. */
function need(what: string, names: string[]): string {
  for (const name of names) {
    for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not in this directory
      }
    }
  }
  throw new PosternError('NOT_FOUND', `${names.join(' or ')} is not installed; install ${INSTALL[what]}`);
}
