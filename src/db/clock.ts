/**
 * The database's time, kept by each process: every process on one PostgreSQL server bills at
 * the server's clock, so that days, months, bucket starts and hold expiry are the same moments
 * in all of them, whatever their own clocks say. Reading it is local (no round trip): the
 * process measures how far the server's `clock_timestamp()` is from its own monotonic clock,
 * over a few round trips at start keeping the one with the lowest round-trip time (its error
 * is at most half of that), and measures again in the background every minute.
 *
 * PGlite runs inside the process, on the process's clock: there the local clock is the source.
 */
import type { Sql } from './sql.ts';

export interface DatabaseClock {
  /** The database's time now, as this process knows it. Never goes backwards. */
  now(): Date;
  /** How far the database's clock is ahead of the local one, in milliseconds (last measure). */
  readonly offsetMs: number;
  /** Half the round trip of the last measure: how far `now()` may be from the database's clock. */
  readonly uncertaintyMs: number;
  /** Measure again. */
  sync(): Promise<void>;
  /** Stop measuring in the background (waits for a measure in flight). */
  stop(): Promise<void>;
}

export interface DatabaseClockOptions {
  /** The local clock, in epoch milliseconds: monotonic by default, so a step of the system clock is not followed. */
  local?: () => number;
  /** Round trips per measure. */
  samples?: number;
  /** How often to measure again, in milliseconds. */
  resyncMs?: number;
}

const monotonic = () => performance.timeOrigin + performance.now();

export async function databaseClock(sql: Sql, options: DatabaseClockOptions = {}): Promise<DatabaseClock> {
  const local = options.local ?? monotonic;
  const samples = options.samples ?? 5;
  let offsetMs = 0;
  let uncertaintyMs = Infinity;
  let last = -Infinity;

  const sync = async () => {
    let best = { rtt: Infinity, offset: 0 };
    for (let i = 0; i < samples; i++) {
      const sent = local();
      const [row] = await sql.query<{ ms: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms');
      const received = local();
      const rtt = received - sent;
      if (rtt < best.rtt) best = { rtt, offset: row!.ms - (sent + received) / 2 };
    }
    offsetMs = best.offset;
    uncertaintyMs = best.rtt / 2;
  };

  await sync();
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    // A failed measure keeps the last one; the next minute tries again.
    inFlight ??= sync().catch(() => {}).finally(() => (inFlight = undefined));
  }, options.resyncMs ?? 60_000);
  timer.unref();

  return {
    now() {
      last = Math.max(last, local() + offsetMs);
      return new Date(Math.floor(last));
    },
    get offsetMs() {
      return offsetMs;
    },
    get uncertaintyMs() {
      return uncertaintyMs;
    },
    sync,
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
