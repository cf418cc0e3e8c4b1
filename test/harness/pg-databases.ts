import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The machine's PostgreSQL server, for throwaway databases: POSTERN_TEST_PG_URL (.ci/run sets
 * it to a database it made for the run), or the superuser over loopback. Tests create databases
 * of their own on it and drop them; they never touch any other database there.
 */
export const TEST_PG_URL = process.env.POSTERN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Whether the server answers. Under CI=true a server that does not fails the suite (.ci/run
 * must start it); on a developer machine the suite is skipped with a message that says so.
 */
export async function havePostgresServer(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch (err) {
    const why = `no PostgreSQL server answers at ${TEST_PG_URL} (${(err as Error).message}); start it, or set POSTERN_TEST_PG_URL`;
    if (process.env.CI === 'true') throw new Error(`${why}; .ci/run must start it before the tests run`);
    process.stderr.write(`skipping tests that need ${why}\n`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Throwaway databases on the machine's server: create() makes one and answers its URL; dropAll() drops them. */
export class ThrowawayDatabases {
  private readonly made: string[] = [];

  async create(): Promise<string> {
    const name = `postern_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    await this.admin(`CREATE DATABASE ${name}`);
    this.made.push(name);
    const url = new URL(TEST_PG_URL);
    url.pathname = `/${name}`;
    return url.toString();
  }

  async dropAll(): Promise<void> {
    for (const name of this.made.splice(0)) await this.admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }

  private async admin(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}
