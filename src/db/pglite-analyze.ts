/**
 * What autovacuum's ANALYZE does on a PostgreSQL server, for PGlite, which has no autovacuum.
 *
 * Tollgate's statements are planned once (force_generic_plan, sql.ts) on the statistics of the
 * moment, often those of an empty database. Never analyzed, a grown table keeps the plans made
 * for it empty: a usage event looked up by its key scanned all of its account's events. An
 * ANALYZE brings the statistics up to date and drops the cached plans that depend on the table,
 * so they are made again. A table is analyzed, as autovacuum would, once its rows changed since
 * its last analyze by more than 50 + 10% of its rows.
 *
 * PGlite never hands its table counters over to the shared statistics (pg_stat_user_tables stays
 * at zero), so its changes pile up, for as long as it is open, in pg_stat_xact_user_tables: the
 * changes since an analyze are that count less its value then.
 *
 * A look costs a catalog read of a few milliseconds on the one connection, so it happens once
 * every NAPTIME_MS (autovacuum's naptime), and only if statements ran since the last: never per
 * statement, never while idle. Nothing of this runs on a server, which has autovacuum.
 */
import type { Sql } from './sql.ts';

export const NAPTIME_MS = 2_000;
const THRESHOLD = 50;
const SCALE_FACTOR = 0.1;

/** Tables with changes this process made, their count of changes and their rows as of their last analyze. */
const CHANGED_TABLES = `
  SELECT format('%I.%I', x.schemaname, x.relname) AS name, x.n_tup_ins + x.n_tup_upd + x.n_tup_del AS changes, c.reltuples AS rows
  FROM pg_stat_xact_user_tables x JOIN pg_class c ON c.oid = x.relid
  WHERE x.n_tup_ins + x.n_tup_upd + x.n_tup_del > 0`;

export interface AutoAnalyze {
  /** A statement ran: worth a look at the next interval. Costs a flag. */
  noteStatement(): void;
  /** No more looks; waits for one under way. */
  stop(): Promise<void>;
}

export function autoAnalyze(sql: Sql): AutoAnalyze {
  const changesAtAnalyze = new Map<string, number>();
  let statementsRan = false;
  let looking: Promise<void> | undefined;
  let stopped = false;

  /** One look and its ANALYZEs with nothing in between: a statement waiting for the connection meanwhile gets the new plans. */
  const look = () =>
    sql.uninterrupted(async (held) => {
      const tables = await held.query<{ name: string; changes: number; rows: number }>(CHANGED_TABLES);
      for (const table of tables) {
        const before = changesAtAnalyze.get(table.name) ?? 0;
        const since = table.changes >= before ? table.changes - before : table.changes; // counters reset: all are new
        if (stopped || since <= THRESHOLD + SCALE_FACTOR * Math.max(table.rows, 0)) continue; // rows: -1 until a first analyze
        await held.query(`ANALYZE ${table.name}`);
        changesAtAnalyze.set(table.name, table.changes);
      }
      statementsRan = false; // those of this look included
    });

  const timer = setInterval(() => {
    if (!statementsRan || looking || stopped) return;
    // Fresher statistics only make plans better: a failed look waits for the next interval.
    looking = look()
      .catch(() => {})
      .finally(() => {
        looking = undefined;
      });
  }, NAPTIME_MS);
  timer.unref(); // an open database alone keeps no process alive

  return {
    noteStatement: () => {
      statementsRan = true;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await looking;
    },
  };
}
