import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PosternError } from '../errors/postern-error.js';
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

/** The libpq connection string (psql, and every libpq program and driver). */
export function postgresConnInfo({ at, dbUser, dbName }: DbLogin): string {
  return `host=${at.host} port=${at.port} user=${dbUser}${dbName ? ` dbname=${dbName}` : ''} sslmode=disable`;
}

/** mysql/mariadb options; Oracle's client says "no TLS" with --ssl-mode, MariaDB's with --skip-ssl. */
export function mysqlArgs(program: string, { at, dbUser, dbName }: DbLogin): string[] {
  const noTls = isMariadbClient(program) ? '--skip-ssl' : '--ssl-mode=DISABLED';
  return ['-h', at.host, '-P', String(at.port), '-u', dbUser, noTls, ...(dbName ? [dbName] : [])];
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
