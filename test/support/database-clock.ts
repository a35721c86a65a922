/**
 * A PostgreSQL test database whose clock the test moves on. A server bills at its database's
 * time (src/db/clock.ts reads clock_timestamp(), at start and then every minute), so a test
 * moves the server's clock by moving this one and starting the server again. The schema has a
 * clock_timestamp() of its own, ahead of pg_catalog's by what the test set, and the URL puts the
 * schema before pg_catalog on the search path, so that it is the one the server reads.
 */
import type { Sql } from '../../src/db/sql.ts';
import { postgresSchemaUrl } from './harness.ts';

export interface DatabaseClock {
  /** The database's URL with its clock ahead: the one to give the server. */
  url: string;
  /** How far ahead it runs now, in milliseconds. */
  aheadMs: number;
  /** Moves it on by `ms`. */
  advance(ms: number): Promise<void>;
}

export async function movableClock(db: { sql: Sql; url: string }): Promise<DatabaseClock> {
  const schema = /search_path=([a-z0-9_]+)/.exec(new URL(db.url).searchParams.get('options') ?? '')?.[1];
  if (!schema) throw new Error(`${db.url} names no schema of its own`);
  await db.sql.exec(`
    CREATE TABLE ${schema}.test_clock (ahead_ms bigint NOT NULL);
    INSERT INTO ${schema}.test_clock VALUES (0);
    CREATE FUNCTION ${schema}.clock_timestamp() RETURNS timestamptz LANGUAGE sql VOLATILE
      AS $$ SELECT pg_catalog.clock_timestamp() + (SELECT ahead_ms FROM ${schema}.test_clock) * interval '1 millisecond' $$;`);
  const clock: DatabaseClock = {
    url: postgresSchemaUrl(db.url, `${schema},pg_catalog`),
    aheadMs: 0,
    async advance(ms) {
      clock.aheadMs += ms;
      await db.sql.query(`UPDATE ${schema}.test_clock SET ahead_ms = $1`, [clock.aheadMs]);
    },
  };
  return clock;
}
