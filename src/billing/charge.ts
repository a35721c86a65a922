/**
 * Charging real usage: settle (against a hold), record (without one) and release.
 * One transaction with the ledger mutex held: price the usage, draw its value from the
 * usable buckets in burn order, and write the usage event, its ledger entries, the window
 * counters and the hold's end in a single statement. What the buckets cannot cover becomes
 * debt, never a free call. The idempotency key makes a retry return the first result.
 */
import { z } from 'zod';
import { allocate, type DrawableBucket } from '../core/allocate.ts';
import { allowanceReference, usableSources } from '../core/bucket.ts';
import { BillingError } from '../core/errors.ts';
import { valueFromCost, type Micros } from '../core/money.ts';
import { costOf, type PriceEntry } from '../core/price-book.ts';
import { parseInput, tokenUsageSchema, totalTokens, type TokenUsage } from '../core/usage.ts';
import type { Sql } from '../db/sql.ts';
import type { Context } from './context.ts';
import { openAllowance } from './grants.ts';
import { TERMS_SELECT, lockLedger, termsFromRow, type Terms, type TermsRow } from './terms.ts';

export interface Charge {
  usageEventId: number;
  accountId: string;
  holdId: string | null;
  model: string;
  provider: string;
  costMicros: Micros;
  valueMicros: Micros;
  /** The part of the value the buckets could not cover, now owed by the account. */
  debtMicros: Micros;
  /** True when this is the answer to an earlier call with the same idempotency key. */
  replayed: boolean;
}

const idempotencyKey = z.string().min(1, 'must not be empty').max(200);
const metadata = z.record(z.string(), z.unknown()).refine((m) => JSON.stringify(m).length <= 8_000, 'must serialize to at most 8,000 characters');

const chargeOptionsSchema = z.object({ idempotencyKey, metadata: metadata.optional() }).strict();
export type ChargeOptions = z.input<typeof chargeOptionsSchema>;

const recordInputSchema = z
  .object({
    model: z.string().trim().min(1, 'must name a model').max(200),
    provider: z.string().trim().min(1).max(100).optional(),
    usage: tokenUsageSchema,
    userId: z.string().min(1).max(200).optional(),
  })
  .strict();
export type RecordInput = z.input<typeof recordInputSchema>;

interface BucketRow {
  allowance_opened: boolean;
  id: number | null;
  priority: number;
  expires_at: Date | null;
  created_at: Date;
  remaining_micros: number;
}

async function usableBuckets(tx: Sql, terms: Terms): Promise<{ buckets: DrawableBucket[]; allowanceOpened: boolean }> {
  const rows = await tx.query<BucketRow>(
    `SELECT x.allowance_opened, b.id, b.priority, b.expires_at, b.created_at, b.remaining_micros
     FROM (SELECT EXISTS (SELECT 1 FROM buckets WHERE account_id = $1 AND reference = $4) AS allowance_opened) x
     LEFT JOIN buckets b ON b.account_id = $1 AND b.remaining_micros > 0 AND b.starts_at <= $2
       AND (b.expires_at IS NULL OR b.expires_at > $2) AND b.source = ANY ($3::text[])`,
    [terms.account.id, terms.now, usableSources(terms.plan.overage), allowanceReference(terms.plan.id, terms.period.start)],
  );
  const buckets = rows
    .filter((r) => r.id !== null)
    .map((r) => ({ id: r.id!, priority: r.priority, expiresAt: r.expires_at, createdAt: r.created_at, remainingMicros: r.remaining_micros as Micros }));
  return { buckets, allowanceOpened: rows[0]!.allowance_opened };
}

interface ChargeWrite {
  terms: Terms;
  holdId: string | null;
  userId: string | null;
  model: string;
  price: PriceEntry;
  usage: TokenUsage;
  options: z.output<typeof chargeOptionsSchema>;
}

async function writeCharge(tx: Sql, c: ChargeWrite): Promise<Charge> {
  const { terms, usage } = c;
  let { buckets, allowanceOpened } = await usableBuckets(tx, terms);
  if (!allowanceOpened && (await openAllowance(tx, terms))?.created) ({ buckets } = await usableBuckets(tx, terms));
  const cost = costOf(c.price, usage);
  const value = valueFromCost(cost.costPicos, terms.settings.marginBps);
  const { allocations, shortfallMicros } = allocate(buckets, value);
  const [event] = await tx.query<{ id: number }>(
    `WITH event AS (
       INSERT INTO usage_events (account_id, idempotency_key, hold_id, user_id, model, provider, input_tokens, output_tokens,
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id
     ), draws AS (
       SELECT * FROM unnest($18::bigint[], $19::bigint[]) AS d (bucket_id, amount)
     ), debit AS (
       UPDATE buckets b SET remaining_micros = b.remaining_micros - d.amount FROM draws d WHERE b.id = d.bucket_id
     ), entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, usage_event_id, created_at)
       SELECT $1, d.bucket_id, -d.amount, 'usage', event.id, $17
       FROM (SELECT bucket_id, amount FROM draws UNION ALL SELECT NULL, $20::bigint WHERE $20::bigint > 0) d, event
     ), debt AS (
       UPDATE account_balances SET debt_micros = debt_micros + $20 WHERE account_id = $1 AND $20::bigint > 0
     ), windows AS (
       INSERT INTO usage_windows (account_id, window_kind, starts_at, value_micros, tokens)
       VALUES ($1, 'day', $21, $13, $23), ($1, 'month', $22, $13, $23)
       ON CONFLICT (account_id, window_kind, starts_at)
       DO UPDATE SET value_micros = usage_windows.value_micros + EXCLUDED.value_micros, tokens = usage_windows.tokens + EXCLUDED.tokens
     ), hold AS (
       UPDATE holds SET status = 'settled', resolved_at = $17, usage_event_id = event.id FROM event WHERE holds.id = $3
     )
     SELECT id FROM event`,
    [
      terms.account.id, c.options.idempotencyKey, c.holdId, c.userId, c.model, c.price.provider, usage.inputTokens, usage.outputTokens,
      usage.cacheReadTokens ?? null, usage.cacheWriteTokens ?? null, usage.reasoningTokens ?? null, cost.costMicros, value,
      terms.settings.marginBps, JSON.stringify(c.price), JSON.stringify(c.options.metadata ?? {}), terms.now,
      allocations.map((a) => a.bucketId), allocations.map((a) => a.amountMicros), shortfallMicros,
      terms.day.start, terms.period.start, totalTokens(usage),
    ],
  );
  return {
    usageEventId: event!.id,
    accountId: terms.account.id,
    holdId: c.holdId,
    model: c.model,
    provider: c.price.provider,
    costMicros: cost.costMicros,
    valueMicros: value,
    debtMicros: shortfallMicros,
    replayed: false,
  };
}

interface EventRow {
  id: number;
  account_id: string;
  hold_id: string | null;
  model: string;
  provider: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  reasoning_tokens: number | null;
  cost_micros: number;
  value_micros: number;
  shortfall_micros: number;
}

const EVENT_SELECT = `SELECT e.id, e.account_id, e.hold_id, e.model, e.provider, e.input_tokens, e.output_tokens, e.cache_read_tokens,
  e.cache_write_tokens, e.reasoning_tokens, e.cost_micros, e.value_micros,
  COALESCE((SELECT -sum(amount_micros) FROM ledger_entries l WHERE l.usage_event_id = e.id AND l.bucket_id IS NULL AND l.kind = 'usage'), 0)::bigint AS shortfall_micros
  FROM usage_events e`;

function sameUsage(row: EventRow, usage: TokenUsage): boolean {
  return (
    row.input_tokens === usage.inputTokens &&
    row.output_tokens === usage.outputTokens &&
    row.cache_read_tokens === (usage.cacheReadTokens ?? null) &&
    row.cache_write_tokens === (usage.cacheWriteTokens ?? null) &&
    row.reasoning_tokens === (usage.reasoningTokens ?? null)
  );
}

function replay(row: EventRow): Charge {
  return {
    usageEventId: row.id, accountId: row.account_id, holdId: row.hold_id, model: row.model, provider: row.provider,
    costMicros: row.cost_micros as Micros, valueMicros: row.value_micros as Micros, debtMicros: row.shortfall_micros as Micros, replayed: true,
  };
}

/** A second call with a used key: the first answer if it asked the same, else a conflict. */
async function replayOrConflict(sql: Sql, accountId: string, key: string, holdId: string | null, model: string, usage: TokenUsage): Promise<Charge> {
  const [row] = await sql.query<EventRow>(`${EVENT_SELECT} WHERE e.account_id = $1 AND e.idempotency_key = $2`, [accountId, key]);
  if (!row) throw new Error(`usage event for idempotency key ${key} vanished`);
  if (row.hold_id === holdId && row.model === model && sameUsage(row, usage)) return replay(row);
  throw new BillingError(
    'idempotency_conflict',
    `Idempotency key "${key}" was already used for a different charge (usage event ${row.id}): use a new key for a new charge`,
    { usageEventId: row.id },
  );
}

function isKeyConflict(error: unknown): boolean {
  return (error as { code?: string; constraint?: string }).code === '23505';
}

interface HoldLockRow extends TermsRow {
  debt_micros: number;
  hold_status: 'open' | 'settled' | 'released';
  hold_model: string;
  hold_provider: string;
  hold_user_id: string | null;
  hold_created_at: Date;
  hold_event_key: string | null;
}

export async function settle(ctx: Context, holdId: string, usageInput: TokenUsage, optionsInput: ChargeOptions): Promise<Charge> {
  const id = parseInput(z.string().min(1, 'must not be empty').max(200), holdId, 'hold id');
  const usage = parseInput(tokenUsageSchema, usageInput, 'usage');
  const options = parseInput(chargeOptionsSchema, optionsInput, 'settle options');
  const prices = await ctx.prices.fresh();
  let accountId: string | undefined;
  let model = '';
  try {
    return await ctx.sql.transaction(async (tx) => {
      const now = ctx.clock();
      const [row] = await tx.query<HoldLockRow>(
        `SELECT b.debt_micros, h.status AS hold_status, h.model AS hold_model, h.provider AS hold_provider, h.user_id AS hold_user_id,
           h.created_at AS hold_created_at, (SELECT idempotency_key FROM usage_events WHERE id = h.usage_event_id) AS hold_event_key,
           ${TERMS_SELECT}
           JOIN holds h ON h.account_id = a.id JOIN account_balances b ON b.account_id = a.id
         WHERE h.id = $1 FOR UPDATE OF h, b`,
        [id, now],
      );
      if (!row) throw new BillingError('hold_not_found', `No hold "${id}": authorize first and settle the hold id it returns`, { holdId: id });
      accountId = row.id;
      model = row.hold_model;
      if (row.hold_status === 'released') {
        throw new BillingError('hold_released', `Hold "${id}" was released, so it cannot be settled: use record for usage without a hold`, { holdId: id });
      }
      if (row.hold_status === 'settled') {
        if (row.hold_event_key === options.idempotencyKey) return replayOrConflict(tx, row.id, options.idempotencyKey, id, model, usage);
        throw new BillingError('hold_settled', `Hold "${id}" is already settled (with another idempotency key)`, { holdId: id });
      }
      const terms = termsFromRow(row, now);
      // Priced as of authorization: the price the gate weighed is the price charged.
      const price = prices.find(row.hold_model, row.hold_provider, row.hold_created_at, terms.settings);
      if (!price) throw new BillingError('unknown_model', `The model "${row.hold_model}" no longer has a price: restore its price, then settle again`);
      return writeCharge(tx, { terms, holdId: id, userId: row.hold_user_id, model: row.hold_model, price, usage, options });
    });
  } catch (error) {
    if (accountId && isKeyConflict(error)) return replayOrConflict(ctx.sql, accountId, options.idempotencyKey, id, model, usage);
    throw error;
  }
}

/** Charge usage that had no hold (a call the gate did not see). It is not refused: it happened. */
export async function record(ctx: Context, accountId: string, input: RecordInput, optionsInput: ChargeOptions): Promise<Charge> {
  const request = parseInput(recordInputSchema, input, 'record request');
  const options = parseInput(chargeOptionsSchema, optionsInput, 'record options');
  const prices = await ctx.prices.fresh();
  try {
    return await ctx.sql.transaction(async (tx) => {
      const terms = await lockLedger(tx, accountId, ctx.clock());
      const price = prices.find(request.model, request.provider, terms.now, terms.settings);
      if (!price) {
        throw new BillingError('unknown_model', `The model "${request.model}" has no price: add one to the price book or set a fallback price, then record again`, {
          model: request.model,
        });
      }
      return writeCharge(tx, { terms, holdId: null, userId: request.userId ?? null, model: request.model, price, usage: request.usage, options });
    });
  } catch (error) {
    if (isKeyConflict(error)) return replayOrConflict(ctx.sql, accountId, options.idempotencyKey, null, request.model, request.usage);
    throw error;
  }
}

export async function release(ctx: Context, holdId: string): Promise<{ holdId: string; status: 'released' }> {
  const id = parseInput(z.string().min(1, 'must not be empty').max(200), holdId, 'hold id');
  const [released] = await ctx.sql.query<{ id: string }>(
    `UPDATE holds SET status = 'released', resolved_at = $2 WHERE id = $1 AND status = 'open' RETURNING id`,
    [id, ctx.clock()],
  );
  if (released) return { holdId: id, status: 'released' };
  const [row] = await ctx.sql.query<{ status: string }>('SELECT status FROM holds WHERE id = $1', [id]);
  if (!row) throw new BillingError('hold_not_found', `No hold "${id}"`, { holdId: id });
  if (row.status === 'settled') throw new BillingError('hold_settled', `Hold "${id}" is already settled; refund its usage event instead`, { holdId: id });
  return { holdId: id, status: 'released' };
}
