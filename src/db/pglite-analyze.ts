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
 * PGlite hands its table counters over to the shared statistics (pg_stat_user_tables) only now
 * and then: until it does, its changes pile up in pg_stat_xact_user_tables, across transactions
 * and analyzes. The changes since an analyze are the shared count, which the analyze resets,
 * plus the held one less its value at the analyze.
 *
 * With its analyze, a table's BRIN indexes get their new block ranges summarized, which
 * autovacuum does on a server (autosummarize): without it, a range filled after the index was
 * built would be read whole by every look through the index.
 *
 * A look costs a catalog read of a few milliseconds on the one connection, so it happens once
 * every NAPTIME_MS (autovacuum's naptime), and only if statements ran since the last: never per
 * statement, never while idle. Nothing of this runs on a server, which has autovacuum.
 */
import type { Sql } from './sql.ts';

export const NAPTIME_MS = 2_000;
const THRESHOLD = 50;
const SCALE_FACTOR = 0.1;
/** The statistics an analyze here gathers (PostgreSQL's default is 100): its sample is 300 rows for each. */
const STATISTICS_TARGET = 10;

/**
 * Tables with changes, their rows as of their last analyze, and two counts of changes: those
 * PGlite handed to the shared statistics since the last analyze, and those it still holds.
 */
const CHANGED_TABLES = `
  SELECT format('%I.%I', s.schemaname, s.relname) AS name, c.reltuples AS rows,
         s.n_mod_since_analyze AS shared, x.n_tup_ins + x.n_tup_upd + x.n_tup_del AS held
  FROM pg_stat_user_tables s JOIN pg_stat_xact_user_tables x USING (relid) JOIN pg_class c ON c.oid = s.relid
  WHERE s.n_mod_since_analyze + x.n_tup_ins + x.n_tup_upd + x.n_tup_del > 0`;

/** Summarize the block ranges a table's BRIN indexes have not yet: what autosummarize asks of autovacuum. */
const BRIN_SUMMARIZE = `
  SELECT brin_summarize_new_values(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
  WHERE i.indrelid = $1::regclass AND a.amname = 'brin'`;

export interface AutoAnalyze {
  /** A statement ran: worth a look at the next interval. Costs a flag. */
  noteStatement(): void;
  /** No more looks; waits for one under way. */
  stop(): Promise<void>;
}

export function autoAnalyze(sql: Sql): AutoAnalyze {
  const heldAtAnalyze = new Map<string, number>();
  let statementsRan = false;
  let looking: Promise<void> | undefined;
  let stopped = false;

  /** One look and its ANALYZEs with nothing in between: a statement waiting for the connection meanwhile gets the new plans. */
  const look = () =>
    sql.uninterrupted(async (held) => {
      const tables = await held.query<{ name: string; rows: number; shared: number; held: number }>(CHANGED_TABLES);
      const due = tables.filter((table) => {
        // Held counts outlive an analyze; once handed over they start again from zero (and may count a few twice).
        const before = heldAtAnalyze.get(table.name) ?? 0;
        const since = table.shared + (table.held >= before ? table.held - before : table.held);
        return since > THRESHOLD + SCALE_FACTOR * Math.max(table.rows, 0); // rows: -1 until a first analyze
      });
      if (due.length === 0 || stopped) return void (statementsRan = false); // this look's own read included
      // A sample of 3,000 rows instead of 30,000: enough to choose an index, and the one connection
      // waits a tenth as long (a growing table's analyze held a batch of records up 200 ms).
      await held.query(`SET default_statistics_target = ${STATISTICS_TARGET}`);
      try {
        for (const table of due) {
          await held.query(`ANALYZE ${table.name}`);
          await held.query(BRIN_SUMMARIZE, [table.name]);
          heldAtAnalyze.set(table.name, table.held);
        }
      } finally {
        await held.query('RESET default_statistics_target');
        statementsRan = false; // the look's own statements, the ANALYZEs too: none asks for another look
      }
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
