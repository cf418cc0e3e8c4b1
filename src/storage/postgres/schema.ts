import type { PoolClient } from 'pg';

/**
 * The PostgreSQL store's schema, as numbered migrations: `postern_schema` holds the version a
 * database is at, and each proxy that starts applies the ones after it, all in one transaction
 * under an advisory lock, so that proxies starting together apply each migration once. A
 * migration is never edited once released; a change is a new one.
 *
 * Every write goes through one function (postern_put, postern_delete, postern_sweep) that first
 * locks the single row of postern_revision: writers are serialised (they were in SQLite too), so
 * revisions are gapless and committed in order, and watchers can read postern_events by id
 * without ever seeing a later id before an earlier one. Each function is one round trip, and
 * its statements run after the lock with fresh snapshots (PL/pgSQL takes one per statement in
 * READ COMMITTED), so a compare-and-swap compares with the latest committed revision.
 * Each event notifies `postern_kv` with "revision key" (the key left out past 7,000 bytes:
 * payloads are capped at 8,000), never the value.
 */
export const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE postern_kv (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL,
  expires BIGINT,
  revision BIGINT NOT NULL
);
CREATE INDEX postern_kv_expires ON postern_kv (expires) WHERE expires IS NOT NULL;
CREATE TABLE postern_events (
  id BIGINT PRIMARY KEY,
  type TEXT NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT,
  expires BIGINT,
  created BIGINT NOT NULL
);
CREATE INDEX postern_events_created ON postern_events (created);
CREATE TABLE postern_revision (revision BIGINT NOT NULL);
INSERT INTO postern_revision VALUES (0);

CREATE FUNCTION postern_event(kind TEXT, k TEXT, v TEXT, exp BIGINT, now BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE rev BIGINT;
BEGIN
  UPDATE postern_revision SET revision = revision + 1 RETURNING revision INTO rev;
  INSERT INTO postern_events (id, type, key, value, expires, created) VALUES (rev, kind, k, v, exp, now);
  PERFORM pg_notify('postern_kv', rev || ' ' || CASE WHEN octet_length(k) <= 7000 THEN k ELSE '' END);
  RETURN rev;
END $$;

-- check: compare with expected (NULL: the key must be absent). Returns the new revision, or NULL
-- and the current one (NULL: absent) when the comparison fails.
CREATE FUNCTION postern_put(k TEXT, v TEXT, exp BIGINT, now BIGINT, check_expected BOOLEAN, expected BIGINT, OUT revision BIGINT, OUT current BIGINT) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM postern_revision FOR UPDATE;
  IF check_expected THEN
    SELECT kv.revision INTO current FROM postern_kv kv WHERE kv.key = k AND (kv.expires IS NULL OR kv.expires > now);
    IF current IS DISTINCT FROM expected THEN RETURN; END IF;
  END IF;
  revision := postern_event('put', k, v, exp, now);
  INSERT INTO postern_kv AS kv (key, value, expires, revision) VALUES (k, v, exp, revision)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires, revision = excluded.revision;
END $$;

CREATE FUNCTION postern_delete(k TEXT, now BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM postern_revision FOR UPDATE;
  IF NOT EXISTS (SELECT 1 FROM postern_kv WHERE key = k AND (expires IS NULL OR expires > now)) THEN RETURN FALSE; END IF;
  PERFORM postern_event('delete', k, NULL, NULL, now);
  DELETE FROM postern_kv WHERE key = k;
  RETURN TRUE;
END $$;

-- Deletes expired items (a delete event each) and, with prune_before, events older than that but
-- the newest. Takes the lock only when there is something to do: every proxy sweeps.
CREATE FUNCTION postern_sweep(now BIGINT, prune_before BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE expired TEXT; n INTEGER := 0;
BEGIN
  IF prune_before IS NULL AND NOT EXISTS (SELECT 1 FROM postern_kv WHERE expires <= now) THEN RETURN 0; END IF;
  PERFORM 1 FROM postern_revision FOR UPDATE;
  FOR expired IN SELECT key FROM postern_kv WHERE expires <= now ORDER BY key LOOP
    PERFORM postern_event('delete', expired, NULL, NULL, now);
    DELETE FROM postern_kv WHERE key = expired;
    n := n + 1;
  END LOOP;
  IF prune_before IS NOT NULL THEN
    DELETE FROM postern_events WHERE created < prune_before AND id < (SELECT max(id) FROM postern_events);
  END IF;
  RETURN n;
END $$;

-- The audit log (src/audit/postgres-audit-log.ts). Indexes by type and user leave out the bulk
-- events (a statement each): see NOT_BULK in src/audit/audit-rows.ts, which must say the same.
CREATE TABLE postern_audit_events (
  "index" BIGINT PRIMARY KEY,
  uid TEXT NOT NULL,
  time BIGINT NOT NULL,
  event TEXT NOT NULL,
  "user" TEXT,
  data TEXT NOT NULL
);
CREATE INDEX postern_audit_events_time ON postern_audit_events (time);
CREATE INDEX postern_audit_events_event_not_bulk ON postern_audit_events (event) WHERE event NOT IN ('db.query');
CREATE INDEX postern_audit_events_user_not_bulk ON postern_audit_events ("user") WHERE event NOT IN ('db.query');
CREATE TABLE postern_audit_last (last BIGINT NOT NULL);
INSERT INTO postern_audit_last VALUES (0);

-- Appends a batch under the lock of postern_audit_last: indexes are consecutive, gapless and
-- committed in order, so followers reading by index never skip one. Returns the first index.
CREATE FUNCTION postern_audit_append(uids TEXT[], times BIGINT[], events TEXT[], users TEXT[], datas TEXT[]) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE n INTEGER := cardinality(uids); last_index BIGINT;
BEGIN
  UPDATE postern_audit_last SET last = last + n RETURNING last INTO last_index;
  INSERT INTO postern_audit_events ("index", uid, time, event, "user", data)
    SELECT last_index - n + r.ord, r.uid, r.time, r.event, r.usr, r.data
    FROM unnest(uids, times, events, users, datas) WITH ORDINALITY AS r (uid, time, event, usr, data, ord);
  RETURN last_index - n + 1;
END $$;
`,
];

/** The condition of migration 1's partial audit indexes (a test keeps NOT_BULK the same). */
export const AUDIT_NOT_BULK_V1 = "event NOT IN ('db.query')";

/** Any 64-bit number of our own: proxies starting together take turns at the migrations. */
const MIGRATION_LOCK = 0x706f7374_65726e01n;

/** Brings the database to the newest schema; returns the version it found. Refuses a database from a newer Postern. */
export async function migrate(client: PoolClient): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query('CREATE TABLE IF NOT EXISTS postern_schema (version INTEGER NOT NULL)');
    const found = Number((await client.query<{ version: number }>('SELECT max(version) AS version FROM postern_schema')).rows[0]?.version ?? 0);
    if (found > MIGRATIONS.length) {
      throw new Error(`the database is at schema version ${found}, newer than this Postern knows (${MIGRATIONS.length}): upgrade Postern on this host`);
    }
    for (let v = found; v < MIGRATIONS.length; v++) await client.query(MIGRATIONS[v]!);
    if (found < MIGRATIONS.length) await client.query('INSERT INTO postern_schema (version) VALUES ($1)', [MIGRATIONS.length]);
    await client.query('COMMIT');
    return found;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
