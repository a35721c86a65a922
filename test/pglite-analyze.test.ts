/**
 * PGlite has no autovacuum: Tollgate analyzes its tables once they changed by more than 50 + 10%
 * of their rows, so a statement planned once on a table barely filled is planned again as the table
 * grows, without a restart. Seen here in recordBatch's lookup of earlier usage events by key:
 * planned on a usage_events of a few rows it walks the account's events by time; once the table grew,
 * it takes the (account, key) unique index.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it, inject, vi } from 'vitest';
import { openPglite, type PgliteSql } from '../src/db/pglite.ts';
import { NAPTIME_MS } from '../src/db/pglite-analyze.ts';
import { createBilling, type Billing } from '../src/index.ts';
import { fundedAccounts } from './support/spend.ts';

let sql: PgliteSql;
let billing: Billing;
beforeAll(async () => {
  sql = await openPglite(undefined, { loadDataDir: new Blob([readFileSync(inject('pgliteImage'))]) });
  billing = await createBilling({ database: sql });
  await fundedAccounts(billing, ['a'], 1_000_000_000);
});
afterAll(async () => {
  await billing?.close();
  await sql?.close();
});

/** The plan the connection holds for the lookup, as its next execution would use it. */
async function lookupPlan(): Promise<string> {
  const [lookup] = await sql.query<{ name: string }>(
    `SELECT name FROM pg_prepared_statements WHERE statement LIKE '%unnest($1::text[], $2::text[])%' AND statement NOT LIKE '%pg_prepared_statements%'`,
  );
  const rows = await sql.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${lookup!.name}('{a}', '{k0}')`);
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

const analyses = async () =>
  (await sql.query<{ analyze_count: number }>(`SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'usage_events'`))[0]!.analyze_count;

const batch = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ accountId: 'a', model: 'test-model', usage: { inputTokens: 100, outputTokens: 0 }, idempotencyKey: `k${from + i}` }));

it('analyzes a table that grew, and the lookup planned on it barely filled is planned again, on its unique index', async () => {
  await billing.recordBatch(batch(0, 10));
  await billing.recordBatch(batch(0, 10)); // a replay: the lookup is planned here, on ten events never analyzed
  await new Promise((resolve) => setTimeout(resolve, NAPTIME_MS * 1.5));
  // Ten events are fewer than 50 changes: not analyzed, and the plan is the one made empty.
  expect(await analyses()).toBe(0);
  const planned = await lookupPlan();
  expect(planned).toContain('usage_events_account_time');
  expect(planned).not.toContain('usage_events_account_id_idempotency_key_key');

  const charges = await billing.recordBatch(batch(10, 2_000));
  await vi.waitFor(async () => expect(await analyses()).toBeGreaterThan(0), { timeout: NAPTIME_MS * 5, interval: 100 });
  expect(await lookupPlan()).toContain('usage_events_account_id_idempotency_key_key');
  // The same lookup, on its new plan, finds every earlier usage: a replay charges nothing.
  const again = await billing.recordBatch(batch(10, 2_000));
  expect(again.every((c, i) => c.replayed && c.usageEventId === charges[i]!.usageEventId)).toBe(true);
}, 60_000);

it('summarizes the new block ranges of a BRIN index with its table, as autovacuum does on a server', async () => {
  const summarizeLeft = async () =>
    (await sql.query<{ n: number }>(`SELECT brin_summarize_new_values('usage_events_time'::regclass)::int AS n`))[0]!.n;
  const before = await analyses();
  // About 1 MB of events: a block range of 128 pages filled, and the next begun.
  await billing.recordBatch(batch(100_000, 4_000));
  await vi.waitFor(async () => expect(await analyses()).toBeGreaterThan(before), { timeout: NAPTIME_MS * 5, interval: 100 });
  expect(await summarizeLeft()).toBe(0); // the analyze's look summarized them: nothing left to do
  // A control that the check can fail: ranges filled after the look are left for the next one.
  await sql.query(`INSERT INTO usage_events (account_id, idempotency_key, model, provider, input_tokens, output_tokens, cost_micros, value_micros, margin_bps, price, occurred_at)
    SELECT 'a', 'filler' || n, 'test-model', 'test', 1, 0, 0, 0, 0, '{}', now() FROM generate_series(1, 20000) n`);
  expect(await summarizeLeft()).toBeGreaterThan(0);
}, 60_000);
