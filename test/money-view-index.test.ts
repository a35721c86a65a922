/**
 * Migration 0028 on both engines: the money view's usage read, across every account, gets a BRIN
 * index on usage_events (occurred_at). On events recorded before it, the read answers what it
 * answered without it; on events recorded after it (in ranges not summarized yet, or in one whose
 * summary each insert widens) it still finds every one; and the statement as the view sends it,
 * planned generically as Tollgate's connections plan it, can be taken to the index.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { migrate } from '../src/db/migrate.ts';
import { USAGE_BY_DAY_AND_MODEL } from '../src/engine/reads/money.ts';
import { ENGINES } from './support/harness.ts';

type Row = { day: string; model: string; events: number; charged: number };

/** The read's rows, in a fixed order, with the figures this test checks. */
async function usageRows(sql: Sql, from: string, to: string): Promise<Row[]> {
  const rows = await sql.query<Row>(USAGE_BY_DAY_AND_MODEL, [new Date(from), new Date(to)]);
  return rows
    .map((r) => ({ day: r.day, model: r.model, events: Number(r.events), charged: Number(r.charged) }))
    .sort((a, b) => a.day.localeCompare(b.day) || a.model.localeCompare(b.model));
}

/** `count` events one minute apart from `start`, two models in turn, 3 micro-dollars each, on a few accounts. */
const events = (start: string, count: number, prefix: string) => `
  INSERT INTO usage_events (account_id, idempotency_key, model, provider, input_tokens, output_tokens, cost_micros, value_micros, margin_bps, price, occurred_at)
  SELECT 'a' || (g % 3), '${prefix}' || g, CASE WHEN g % 2 = 0 THEN 'm-even' ELSE 'm-odd' END, 'p', 10, 5, 1, 3, 5000, '{}',
    timestamptz '${start}' + g * interval '1 minute'
  FROM generate_series(0, ${count - 1}) g`;

for (const engine of ENGINES) {
  describe(`the money view's index on ${engine.name}`, () => {
    it('0028 indexes usage events by time; the read answers the same before and after, and finds the events recorded since', async () => {
      const db = await engine.open({ through: '0027_clock_renewals.sql' });
      try {
        // Six and a quarter days of events, a minute apart: about 150 pages, two of the index's ranges.
        await db.sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0);
          INSERT INTO accounts (id, kind, plan_id) VALUES ('a0', 'team', 1), ('a1', 'team', 1), ('a2', 'personal', 1);
          ${events('2026-03-01T00:00:00Z', 9_000, 'before-')};`);
        const before = await usageRows(db.sql, '2026-03-02', '2026-03-05');
        expect(before).toEqual(['2026-03-02', '2026-03-03', '2026-03-04'].flatMap((day) => [
          { day, model: 'm-even', events: 720, charged: 2_160 }, { day, model: 'm-odd', events: 720, charged: 2_160 },
        ]));

        expect((await migrate(db.sql))[0]).toBe('0028_usage_events_time.sql');
        const [index] = await db.sql.query<{ method: string }>(
          `SELECT am.amname AS method FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'usage_events_time'`,
        );
        expect(index).toEqual({ method: 'brin' });
        expect(await usageRows(db.sql, '2026-03-02', '2026-03-05')).toEqual(before);

        // As many again after the index was built, into the last range it summarized (each
        // insert widens it) and into one it never summarized: the read counts every one of them.
        await db.sql.exec(events('2026-03-08T00:00:00Z', 9_000, 'after-'));
        const day = (d: string, events: number) => [
          { day: d, model: 'm-even', events, charged: 3 * events }, { day: d, model: 'm-odd', events, charged: 3 * events },
        ];
        expect(await usageRows(db.sql, '2026-03-08', '2026-03-16')).toEqual([
          ...['2026-03-08', '2026-03-09', '2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13'].flatMap((d) => day(d, 720)), ...day('2026-03-14', 180),
        ]);

        // The statement as sent, planned once for any range (force_generic_plan) on the table's
        // statistics: its range reaches the index. On so few rows a sequential scan, or a walk of
        // all of (account_id, occurred_at), is cheaper: both are ruled out.
        await db.sql.exec('ANALYZE usage_events');
        const plan = await db.sql.transaction(async (tx) => {
          await tx.exec(`SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; PREPARE money_usage AS ${USAGE_BY_DAY_AND_MODEL}`);
          const rows = await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) EXECUTE money_usage('2026-03-08T00:00:00Z', '2026-03-16T00:00:00Z')`);
          await tx.exec('DEALLOCATE money_usage');
          return JSON.stringify(rows);
        });
        expect(plan).toContain('"Index Name":"usage_events_time"');
      } finally {
        await db.drop();
      }
    });
  });
}
