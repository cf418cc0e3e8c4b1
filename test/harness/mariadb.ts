import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { freePort } from './ports.js';
import { tempDir } from './temp.js';

const MARIADBD = '/usr/sbin/mariadbd';

/** Whether MariaDB's server programs (mariadb-install-db, mariadbd) are installed. */
export function mariadbInstalled(): boolean {
  return existsSync(MARIADBD) && existsSync('/usr/bin/mariadb-install-db');
}

/**
 * A private MariaDB server for one test file: its own data directory (mariadb-install-db), a free
 * loopback port, its socket and a my.cnf of its own in a temp directory, so the machine's server
 * (port 3306) and its /etc/mysql configuration are never touched. It runs as the `mysql` OS user
 * when the tests run as root (mariadbd refuses root). The database's root user has no password and
 * is reached over the socket; TCP access is whatever users the test creates.
 */
export class PrivateMariadb {
  readonly socket: string;
  private pid: number | undefined;
  private readonly stopOnExit = () => this.stop();

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.socket = join(dir, 'mysqld.sock');
  }

  /** `conf` lines (`key = value`) are added to the server's [mysqld] options. */
  static async start(opts: { conf?: string[] } = {}): Promise<PrivateMariadb> {
    if (!mariadbInstalled()) throw new Error('MariaDB server programs are not installed (apt-get install mariadb-server)');
    const dir = tempDir('postern-mariadb-');
    ownedByMysql(dir);
    const db = new PrivateMariadb(dir, await freePort());
    const cnf = join(dir, 'my.cnf');
    const options = [
      `datadir = ${dir}/data`,
      `socket = ${db.socket}`,
      `port = ${db.port}`,
      'bind-address = 127.0.0.1',
      `pid-file = ${dir}/mysqld.pid`,
      `log-error = ${dir}/server.log`,
      'skip-name-resolve',
      'performance_schema = off',
      'innodb_buffer_pool_size = 32M',
      'innodb_log_file_size = 8M',
      'innodb_flush_log_at_trx_commit = 0',
      'innodb_doublewrite = 0',
      ...(process.getuid?.() === 0 ? ['user = mysql'] : []),
      ...(opts.conf ?? []),
    ];
    writeFileSync(cnf, ['[mysqld]', ...options].join('\n') + '\n', { mode: 0o644 });
    const logTail = () => (existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8').trim().split('\n').slice(-20).join('\n') : '');
    try {
      // --defaults-file must come first; root gets an empty password (the socket is private).
      execFileSync('mariadb-install-db', [`--defaults-file=${cnf}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const log = logTail();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mariadb-install-db failed: ${(err as Error).message}\n${log}`);
    }
    const server = spawn(MARIADBD, [`--defaults-file=${cnf}`], { detached: true, stdio: 'ignore' });
    server.unref();
    db.pid = server.pid;
    process.once('exit', db.stopOnExit); // a test that forgets stop() (or dies before it) leaves no server behind
    const deadline = Date.now() + 30_000;
    while (!(await accepts(db.socket))) {
      if (server.exitCode !== null || Date.now() > deadline) {
        const log = logTail();
        db.stop();
        throw new Error(`mariadbd did not start (${server.exitCode !== null ? `exit ${server.exitCode}` : 'timeout'}):\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return db;
  }

  /**
   * A server set up exactly as `postern ctl auth sign-db --out=DIR` printed (its output in
   * `printed`): the MySQL / MariaDB part's ssl_* options, with DIR made readable by the database's
   * OS user. Plain TCP stays allowed (a bench's baselines).
   */
  static fromSignDb(printed: string, dir: string): Promise<PrivateMariadb> {
    chmodSync(dirname(dir), 0o755);
    for (const f of ['', 'server.key', 'server.crt', 'ca.crt']) ownedByMysql(join(dir, f));
    const lines = (printed.split('MySQL / MariaDB:\n')[1] ?? '').split('\n').map((l) => l.trim());
    return PrivateMariadb.start({ conf: lines.filter((l) => l.startsWith('ssl_')) });
  }

  /** Runs SQL as the database's root user, over the socket; returns the rows tab-separated, without headers. */
  sql(statement: string): string {
    return execFileSync('mariadb', ['--no-defaults', '-S', this.socket, '-u', 'root', '-N', '-B', '-e', statement], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Kills the server (its data is thrown away), waits until it has exited, and removes its directory. */
  stop(): void {
    if (this.pid === undefined) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // gone already
    }
    const deadline = Date.now() + 10_000;
    while (running(this.pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    this.pid = undefined;
    process.off('exit', this.stopOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether process `pid` is running: a killed child of ours stays a zombie until Node reaps it. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Makes `path` (a directory or a file, such as a TLS key) the mysql user's, as mariadbd running as mysql needs. */
export function ownedByMysql(path: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString());
  chownSync(path, uid, gid);
}

/** Whether a server accepts connections on the unix socket at `path` (it sends its greeting). */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('data', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}
