import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort } from './ports.js';
import { tempDir } from './temp.js';

/** Where Debian puts PostgreSQL's server programs (initdb, pg_ctl): the newest version installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && join(root, newest, 'bin');
}

/**
 * A private PostgreSQL cluster for one test file: its own data directory (initdb), a free
 * loopback port, its socket in the data directory. It runs as the `postgres` OS user (PostgreSQL
 * refuses root) and never touches the machine's own cluster. Superuser access is over the socket
 * with trust; TCP access is what `hba` says.
 */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  /** `conf` lines are added to postgresql.conf, `hba` lines replace pg_hba.conf (after local trust for the superuser). */
  static async start(opts: { conf?: string[]; hba?: string[] } = {}): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL server programs are not installed (apt-get install postgresql)');
    const dir = tempDir('postern-pg-');
    const data = join(dir, 'data');
    ownedByPostgres(dir);
    asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const port = await freePort();
    appendFileSync(data + '/postgresql.conf', [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', ...(opts.conf ?? [])].join('\n') + '\n');
    writeFileSync(join(data, 'pg_hba.conf'), ['local all postgres trust', ...(opts.hba ?? [])].join('\n') + '\n');
    const pg = new PrivatePostgres(dir, port, bin);
    asPostgres(join(bin, 'pg_ctl'), ['start', '-w', '-D', data, '-l', join(dir, 'server.log')]);
    return pg;
  }

  /**
   * A cluster set up exactly as `postern ctl auth sign-db --out=DIR` printed (its output in
   * `printed`): the PostgreSQL part's ssl settings and hostssl lines, with DIR made readable by
   * the database's OS user. `hba` lines go first (a bench's plain-TCP baselines).
   */
  static fromSignDb(printed: string, dir: string, opts: { hba?: string[] } = {}): Promise<PrivatePostgres> {
    chmodSync(dirname(dir), 0o755);
    for (const f of ['', 'server.key', 'server.crt', 'ca.crt']) ownedByPostgres(join(dir, f));
    const lines = (printed.split('PostgreSQL:\n')[1] ?? '').split('MySQL / MariaDB:')[0]!.split('\n').map((l) => l.trim());
    return PrivatePostgres.start({ conf: lines.filter((l) => l.startsWith('ssl')), hba: [...(opts.hba ?? []), ...lines.filter((l) => l.startsWith('hostssl'))] });
  }

  /** Runs SQL as the superuser, over the socket. */
  sql(statement: string): string {
    return asPostgres('psql', ['-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-d', 'postgres', '-tAc', statement]);
  }

  stop(): void {
    asPostgres(join(this.bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', join(this.dir, 'data')]);
  }

  /** Stops the server as an administrator would (`-m fast`: sessions are ended); resume() starts it again. */
  pause(): void {
    asPostgres(join(this.bin, 'pg_ctl'), ['stop', '-m', 'fast', '-D', join(this.dir, 'data')]);
  }

  resume(): void {
    asPostgres(join(this.bin, 'pg_ctl'), ['start', '-w', '-D', join(this.dir, 'data'), '-l', join(this.dir, 'server.log')]);
  }

  /** A URL for the superuser over loopback (give start() an `hba` line that lets it in). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
}

/** Makes `path` (a directory or a file, such as a TLS key) the postgres user's, as PostgreSQL needs. */
export function ownedByPostgres(path: string, mode?: number): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(path, uid, gid);
  if (mode !== undefined) chmodSync(path, mode);
}

function asPostgres(program: string, args: string[]): string {
  const [command, all] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
  return execFileSync(command, all as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
