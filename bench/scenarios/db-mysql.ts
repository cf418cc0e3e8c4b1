import { PrivateMariadb } from '../../test/harness/mariadb.js';
import { dbScenario, exec } from '../lib/db-bench.js';
import type { BenchTls } from '../lib/fixture.js';
import type { Row } from '../lib/stats.js';

/** The one statement of the load: a primary-key lookup, as pgbench -S makes. */
const QUERY = 'SELECT v FROM bench.accounts WHERE id = 4242';

/**
 * MariaDB through Postern (see dbScenario): `mariadb-slap` running one primary-key SELECT from
 * `clients` connections, and a whole `mariadb -e 'select 1'`. Postern's agent logs in as
 * `bench`, a user that REQUIRE SUBJECT makes certificate-only; the baselines as `plain`, the same
 * grants, over plain TCP direct and over TLS without a client certificate from the relay in the
 * agent's place (mysql-tls-relay).
 */
export function dbMysqlScenario(tls: BenchTls, opts: { queries: number; clients: number; rounds: number; setups: number }): Promise<Row[]> {
  const user = (viaPostern: boolean) => (viaPostern ? 'bench' : 'plain');
  const client = (port: number, viaPostern: boolean) => ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', user(viaPostern), '--skip-ssl'];
  return dbScenario(
    tls,
    {
      protocol: 'mysql',
      load: `mariadb-slap -c ${opts.clients}, ${opts.queries} queries`,
      client: "mariadb -e 'select 1'",
      dbTlsRelay: 'mysql-tls-relay',
      async start(printed, dir) {
        const db = await PrivateMariadb.fromSignDb(printed, dir);
        const createUser = printed.split('\n').find((l) => l.includes('CREATE USER'))!.trim();
        db.sql(createUser.replace(/alice/g, 'bench'));
        db.sql("CREATE USER 'plain'@'%'");
        db.sql('CREATE DATABASE bench; CREATE TABLE bench.accounts (id INT PRIMARY KEY, v INT)');
        db.sql('USE bench; INSERT INTO accounts SELECT seq, seq FROM seq_1_to_100000');
        db.sql("GRANT ALL ON bench.* TO 'bench'@'%'; GRANT ALL ON bench.* TO 'plain'@'%'");
        return db;
      },
      async tps(port, viaPostern) {
        const out = await exec('mariadb-slap', [...client(port, viaPostern), `--concurrency=${opts.clients}`, '--iterations=1', `--number-of-queries=${opts.queries}`, `--query=${QUERY}`, '--create-schema=bench', '--no-drop']);
        const m = /Average number of seconds to run all queries: ([\d.]+) seconds/.exec(out);
        if (!m) throw new Error(`mariadb-slap printed no time:\n${out}`);
        return opts.queries / Number(m[1]);
      },
      async connectOnce(port, viaPostern) {
        const t0 = performance.now();
        await exec('mariadb', [...client(port, viaPostern), '-e', 'select 1']);
        return performance.now() - t0;
      },
    },
    opts,
  );
}
