/**
 * Writing charges, set-based: any number of priced usages, across any accounts whose ledger
 * mutex the caller holds, in ONE statement — usage events, their ledger entries, bucket
 * debits, debt, window counters and settled holds. settle and record write a batch of one;
 * recordBatch writes many. Round trips, not rows, are what a charge costs.
 */
import { allocate, type DrawableBucket, type Allocation } from '../core/allocate.ts';
import { allowanceReference, usableSources } from '../core/bucket.ts';
import { valueFromCost, type Micros } from '../core/money.ts';
import { costOf, type PriceEntry } from '../core/price-book.ts';
import { totalTokens, type TokenUsage } from '../core/usage.ts';
import type { Sql } from '../db/sql.ts';
import { openAllowance } from './grants.ts';
import type { Terms } from './terms.ts';

export interface ChargeRequest {
  terms: Terms;
  idempotencyKey: string;
  holdId: string | null;
  userId: string | null;
  model: string;
  price: PriceEntry;
  usage: TokenUsage;
  metadata: Record<string, unknown>;
}

export interface PreparedCharge extends ChargeRequest {
  costMicros: Micros;
  valueMicros: Micros;
  allocations: Allocation[];
  shortfallMicros: Micros;
}

/** Usable buckets of each account, as a pool that preparing charges draws down in memory. */
export type BucketPool = Map<string, DrawableBucket[]>;

interface BucketRow {
  account_id: string;
  id: number;
  source: string;
  priority: number;
  expires_at: Date | null;
  created_at: Date;
  remaining_micros: number;
}

/**
 * Open any missing allowance of the accounts' current periods, then read their usable
 * buckets. The ledger mutexes of all the accounts must be held.
 */
export async function loadBucketPool(tx: Sql, accounts: Terms[]): Promise<BucketPool> {
  const read = () =>
    tx.query<BucketRow & { allowance_missing: boolean }>(
      `SELECT t.account_id, b.id, b.source, b.priority, b.expires_at, b.created_at, b.remaining_micros,
         NOT EXISTS (SELECT 1 FROM buckets x WHERE x.account_id = t.account_id AND x.reference = t.allowance) AS allowance_missing
       FROM unnest($1::text[], $2::text[]) AS t (account_id, allowance)
       LEFT JOIN buckets b ON b.account_id = t.account_id AND b.remaining_micros > 0 AND b.starts_at <= $3
         AND (b.expires_at IS NULL OR b.expires_at > $3)`,
      [accounts.map((a) => a.account.id), accounts.map((a) => allowanceReference(a.plan.id, a.period.start)), accounts[0]!.now],
    );
  let rows = await read();
  const missing = new Set(rows.filter((r) => r.allowance_missing).map((r) => r.account_id));
  let opened = false;
  for (const terms of accounts.filter((a) => missing.has(a.account.id))) {
    opened = (await openAllowance(tx, terms))?.created === true || opened;
  }
  if (opened) rows = await read();
  const usable = new Map(accounts.map((a) => [a.account.id, new Set<string>(usableSources(a.plan.overage))]));
  const pool: BucketPool = new Map(accounts.map((a) => [a.account.id, []]));
  for (const r of rows) {
    if (r.id === null || !usable.get(r.account_id)!.has(r.source)) continue;
    pool.get(r.account_id)!.push({ id: r.id, priority: r.priority, expiresAt: r.expires_at, createdAt: r.created_at, remainingMicros: r.remaining_micros as Micros });
  }
  return pool;
}

/** Price a usage and draw its value from the account's pool (which it reduces). */
export function prepareCharge(pool: BucketPool, request: ChargeRequest): PreparedCharge {
  const cost = costOf(request.price, request.usage);
  const valueMicros = valueFromCost(cost.costPicos, request.terms.settings.marginBps);
  const buckets = pool.get(request.terms.account.id)!;
  const { allocations, shortfallMicros } = allocate(buckets, valueMicros);
  for (const a of allocations) {
    const bucket = buckets.find((b) => b.id === a.bucketId)!;
    bucket.remainingMicros = (bucket.remainingMicros - a.amountMicros) as Micros;
  }
  return { ...request, costMicros: cost.costMicros, valueMicros, allocations, shortfallMicros };
}

/** Write prepared charges; returns their usage event ids in order. */
export async function writeCharges(tx: Sql, charges: readonly PreparedCharge[]): Promise<number[]> {
  const events = charges.map((c, ord) => ({
    ord,
    account_id: c.terms.account.id,
    idempotency_key: c.idempotencyKey,
    hold_id: c.holdId,
    user_id: c.userId,
    model: c.model,
    provider: c.price.provider,
    input_tokens: c.usage.inputTokens,
    output_tokens: c.usage.outputTokens,
    cache_read_tokens: c.usage.cacheReadTokens ?? null,
    cache_write_tokens: c.usage.cacheWriteTokens ?? null,
    reasoning_tokens: c.usage.reasoningTokens ?? null,
    tokens: totalTokens(c.usage),
    cost_micros: c.costMicros,
    value_micros: c.valueMicros,
    shortfall_micros: c.shortfallMicros,
    margin_bps: c.terms.settings.marginBps,
    price: c.price,
    metadata: c.metadata,
    occurred_at: c.terms.now.toISOString(),
    day_start: c.terms.day.start.toISOString(),
    period_start: c.terms.period.start.toISOString(),
  }));
  const draws = charges.flatMap((c, ord) => c.allocations.map((a) => ({ ord, bucket_id: a.bucketId, amount: a.amountMicros })));
  const rows = await tx.query<{ ord: number; id: number }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS i (
         ord int, account_id text, idempotency_key text, hold_id text, user_id text, model text, provider text,
         input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
         tokens bigint, cost_micros bigint, value_micros bigint, shortfall_micros bigint, margin_bps int, price jsonb, metadata jsonb,
         occurred_at timestamptz, day_start timestamptz, period_start timestamptz)
     ), draws AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS d (ord int, bucket_id bigint, amount bigint)
     ), event AS (
       INSERT INTO usage_events (account_id, idempotency_key, hold_id, user_id, model, provider, input_tokens, output_tokens,
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at)
       SELECT account_id, idempotency_key, hold_id, user_id, model, provider, input_tokens, output_tokens,
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at
       FROM input ORDER BY ord
       RETURNING id, account_id, idempotency_key
     ), ev AS (
       SELECT input.*, event.id AS event_id FROM input JOIN event USING (account_id, idempotency_key)
     ), debit AS (
       UPDATE buckets b SET remaining_micros = b.remaining_micros - d.total
       FROM (SELECT bucket_id, sum(amount) AS total FROM draws GROUP BY bucket_id) d WHERE b.id = d.bucket_id
     ), entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, usage_event_id, created_at)
       SELECT ev.account_id, d.bucket_id, -d.amount, 'usage', ev.event_id, ev.occurred_at FROM draws d JOIN ev USING (ord)
       UNION ALL
       SELECT account_id, NULL, -shortfall_micros, 'usage', event_id, occurred_at FROM ev WHERE shortfall_micros > 0
     ), debt AS (
       UPDATE account_balances b SET debt_micros = b.debt_micros + s.total
       FROM (SELECT account_id, sum(shortfall_micros) AS total FROM input WHERE shortfall_micros > 0 GROUP BY account_id) s
       WHERE b.account_id = s.account_id
     ), windows AS (
       INSERT INTO usage_windows (account_id, window_kind, starts_at, value_micros, tokens)
       SELECT account_id, kind, starts_at, sum(value_micros), sum(tokens) FROM (
         SELECT account_id, 'day' AS kind, day_start AS starts_at, value_micros, tokens FROM input
         UNION ALL SELECT account_id, 'month', period_start, value_micros, tokens FROM input
       ) w GROUP BY account_id, kind, starts_at
       ON CONFLICT (account_id, window_kind, starts_at)
       DO UPDATE SET value_micros = usage_windows.value_micros + EXCLUDED.value_micros, tokens = usage_windows.tokens + EXCLUDED.tokens
     ), settled AS (
       UPDATE holds h SET status = 'settled', resolved_at = ev.occurred_at, usage_event_id = ev.event_id FROM ev WHERE h.id = ev.hold_id
     )
     SELECT ord, event_id AS id FROM ev ORDER BY ord`,
    [JSON.stringify(events), JSON.stringify(draws)],
  );
  return rows.map((r) => r.id);
}
