import { PrivatePostgres } from '../../test/harness/postgres.js';
import { dbScenario, exec } from '../lib/db-bench.js';
import type { BenchTls } from '../lib/fixture.js';
import type { Row } from '../lib/stats.js';

/**
 * PostgreSQL through Postern (see dbScenario): `pgbench -S` (read-only, one SELECT per
 * transaction) and a whole `psql -c 'select 1'`. The baselines reach the same database over
 * plain TCP (trust); Postern's agent over TLS with the user's certificate.
 */
export function dbPgScenario(tls: BenchTls, opts: { seconds: number; clients: number; rounds: number; setups: number }): Promise<Row[]> {
  const bench = ['-n', '-S', '-c', String(opts.clients), '-j', String(Math.min(2, opts.clients)), '-T', String(opts.seconds)];
  return dbScenario(
    tls,
    {
      protocol: 'postgres',
      load: `pgbench -S -c ${opts.clients} -T ${opts.seconds}`,
      client: "psql -c 'select 1'",
      setupTarget: 60,
      dbTlsRelay: 'pg-tls-relay',
      async start(printed, dir) {
        // The baselines first: plain TCP, and the relay's TLS from 127.0.0.2 (no client certificate);
        // then Postern's agent, over TLS, authenticated by certificate.
        const pg = await PrivatePostgres.fromSignDb(printed, dir, { hba: ['hostnossl all all 127.0.0.1/32 trust', 'hostssl all all 127.0.0.2/32 trust'] });
        pg.sql('CREATE ROLE bench LOGIN');
        pg.sql('CREATE DATABASE bench OWNER bench');
        await exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'bench', '-i', '-s', '10', '-q', 'bench']);
        return pg;
      },
      async tps(port) {
        const out = await exec('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'bench', ...bench, 'bench']);
        const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
        if (!m) throw new Error(`pgbench printed no tps:\n${out}`);
        return Number(m[1]);
      },
      async connectOnce(port) {
        const t0 = performance.now();
        await exec('psql', [`host=127.0.0.1 port=${port} user=bench dbname=bench sslmode=disable`, '-tAc', 'select 1']);
        return performance.now() - t0;
      },
    },
    opts,
  );
}
