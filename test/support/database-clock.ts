/**
 * A PostgreSQL test database whose clock the test moves on. A server bills at its database's
 * time (src/db/clock.ts reads clock_timestamp(), at start and then every
 * TOLLGATE_CLOCK_RESYNC_SECONDS), so a test moves a running server's clock by moving this one and
 * waiting until the server's processes measured it again. The schema has a clock_timestamp() of
 * its own, ahead of pg_catalog's by what the test set, and the URL puts the schema before
 * pg_catalog on the search path, so that it is the one the server reads. It counts its reads by
 * each process (its connections' application_name names the process's pid): all of them, and
 * those in a row at what it is ahead now. A process reads it only to measure it, five reads a
 * measure one after another, so its count of all reads says where its measures begin.
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
  /** Waits until each of the processes `pids` has measured the clock as it is now (a whole measure, begun after the last move). */
  measuredBy(pids: readonly number[], timeoutMs?: number): Promise<void>;
}

/** Round trips in one measure of the clock (src/db/clock.ts). */
const READS_PER_MEASURE = 5;

export async function movableClock(db: { sql: Sql; url: string }): Promise<DatabaseClock> {
  const schema = /search_path=([a-z0-9_]+)/.exec(new URL(db.url).searchParams.get('options') ?? '')?.[1];
  if (!schema) throw new Error(`${db.url} names no schema of its own`);
  await db.sql.exec(`
    CREATE TABLE ${schema}.test_clock (ahead_ms bigint NOT NULL);
    INSERT INTO ${schema}.test_clock VALUES (0);
    CREATE TABLE ${schema}.test_clock_reads (reader text PRIMARY KEY, ahead_ms bigint NOT NULL, reads int NOT NULL, total int NOT NULL);
    CREATE FUNCTION ${schema}.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
    DECLARE ahead bigint := (SELECT ahead_ms FROM ${schema}.test_clock);
    BEGIN
      INSERT INTO ${schema}.test_clock_reads AS r VALUES (current_setting('application_name'), ahead, 1, 1)
        ON CONFLICT (reader) DO UPDATE SET reads = CASE WHEN r.ahead_ms = EXCLUDED.ahead_ms THEN r.reads + 1 ELSE 1 END, ahead_ms = EXCLUDED.ahead_ms, total = r.total + 1;
      RETURN pg_catalog.clock_timestamp() + ahead * interval '1 millisecond';
    END $$;`);
  const clock: DatabaseClock = {
    url: postgresSchemaUrl(db.url, `${schema},pg_catalog`),
    aheadMs: 0,
    async advance(ms) {
      clock.aheadMs += ms;
      await db.sql.query(`UPDATE ${schema}.test_clock SET ahead_ms = $1`, [clock.aheadMs]);
    },
    async measuredBy(pids, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const readers = pids.map((pid) => `tollgate ${pid}`);
      for (;;) {
        // The reads of the measure under way (total % 5) and, before them, five in a row at what
        // the clock is ahead now: a whole measure of it, which the process kept as its last read
        // came back, before a request sent after this query sees that read can reach it.
        const [{ n }] = (await db.sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${schema}.test_clock_reads WHERE reader = ANY($1) AND ahead_ms = $2 AND reads >= $3 + total % $3`,
          [readers, clock.aheadMs, READS_PER_MEASURE],
        )) as [{ n: number }];
        if (n === readers.length) return;
        if (Date.now() > deadline) {
          const reads = await db.sql.query(`SELECT * FROM ${schema}.test_clock_reads ORDER BY reader`);
          throw new Error(`processes ${pids.join(', ')} did not measure the clock moved ${clock.aheadMs} ms ahead within ${timeoutMs} ms; its reads: ${JSON.stringify(reads)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  return clock;
}
