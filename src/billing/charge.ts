/**
 * Charging real usage: settle (against a hold), record (without one) and release.
 * One transaction with the ledger mutex held: price the usage, draw its value from the
 * usable buckets in burn order, and write it all in one statement (charge-write.ts). What
 * the buckets cannot cover becomes debt, never a free call. The idempotency key makes a
 * retry return the first result.
 */
import { z } from 'zod';
import { BillingError } from '../core/errors.ts';
import type { Micros } from '../core/money.ts';
import { parseInput, tokenUsageSchema, type TokenUsage } from '../core/usage.ts';
import type { Sql } from '../db/sql.ts';
import { loadBucketPool, prepareCharge, writeCharges, type ChargeRequest, type PreparedCharge } from './charge-write.ts';
import type { Context } from './context.ts';
import { TERMS_SELECT, lockLedger, termsFromRow, type TermsRow } from './terms.ts';

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
}

/** Charge one request; the ledger mutex of its account is held. */
async function chargeOne(tx: Sql, request: ChargeRequest): Promise<Charge> {
  const pool = await loadBucketPool(tx, [request.terms]);
  const charge = prepareCharge(pool, request);
  const [usageEventId] = await writeCharges(tx, [charge]);
  return chargeResult(charge, usageEventId!, false);
}

function chargeResult(c: PreparedCharge, usageEventId: number, replayed: boolean): Charge {
  return {
    usageEventId, accountId: c.terms.account.id, holdId: c.holdId, model: c.model, provider: c.price.provider,
    costMicros: c.costMicros, valueMicros: c.valueMicros, debtMicros: c.shortfallMicros, replayed,
  };
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
           h.created_at AS hold_created_at,
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
        // Read the key in a statement of its own: when the SELECT above waited for the hold's lock, READ COMMITTED showed
        // it the winner's update of the hold, but its subquery kept the older snapshot without the winner's usage event.
        const [settledBy] = await tx.query<{ idempotency_key: string }>(
          'SELECT e.idempotency_key FROM holds h JOIN usage_events e ON e.id = h.usage_event_id WHERE h.id = $1',
          [id],
        );
        if (settledBy?.idempotency_key === options.idempotencyKey) return replayOrConflict(tx, row.id, options.idempotencyKey, id, model, usage);
        throw new BillingError('hold_settled', `Hold "${id}" is already settled (with another idempotency key)`, { holdId: id });
      }
      const terms = termsFromRow(row, now);
      // Priced as of authorization: the price the gate weighed is the price charged.
      const price = prices.find(row.hold_model, row.hold_provider, row.hold_created_at, terms.settings);
      if (!price) throw new BillingError('unknown_model', `The model "${row.hold_model}" no longer has a price: restore its price, then settle again`);
      return chargeOne(tx, {
        terms, idempotencyKey: options.idempotencyKey, holdId: id, userId: row.hold_user_id, model: row.hold_model, price, usage, metadata: options.metadata ?? {},
      });
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
      return chargeOne(tx, {
        terms, idempotencyKey: options.idempotencyKey, holdId: null, userId: request.userId ?? null, model: request.model, price, usage: request.usage,
        metadata: options.metadata ?? {},
      });
    });
  } catch (error) {
    if (isKeyConflict(error)) return replayOrConflict(ctx.sql, accountId, options.idempotencyKey, null, request.model, request.usage);
    throw error;
  }
}

const batchItemSchema = recordInputSchema.extend({ accountId: z.string().min(1).max(200), idempotencyKey, metadata: metadata.optional() }).strict();
export type RecordBatchItem = z.input<typeof batchItemSchema>;

/**
 * Record many usages, across accounts, in one transaction and one write. All or nothing: a
 * bad item, an unknown account or model, or a reused key with other usage fails the whole
 * batch with the item's index, and nothing is written. Items whose key was already charged
 * with the same usage come back as replays.
 */
export async function recordBatch(ctx: Context, input: readonly RecordBatchItem[]): Promise<Charge[]> {
  const items = parseInput(z.array(batchItemSchema).max(10_000, 'at most 10,000 items per batch'), input, 'record batch');
  if (items.length === 0) return [];
  const prices = await ctx.prices.fresh();
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const accountIds = [...new Set(items.map((i) => i.accountId))].sort();
    // Locked in id order, so two batches over the same accounts cannot deadlock.
    const rows = await tx.query<TermsRow & { debt_micros: number }>(
      `SELECT b.debt_micros, ${TERMS_SELECT} JOIN account_balances b ON b.account_id = a.id WHERE a.id = ANY ($1::text[]) ORDER BY a.id FOR UPDATE OF b`,
      [accountIds, now],
    );
    const terms = new Map(rows.map((r) => [r.id, termsFromRow(r, now)]));
    const missing = accountIds.find((id) => !terms.has(id));
    if (missing) throw new BillingError('account_not_found', `No account "${missing}": create it with upsertAccount first`, { accountId: missing });
    const earlier = await tx.query<EventRow & { idempotency_key: string }>(
      `${EVENT_SELECT.replace('SELECT e.id,', 'SELECT e.idempotency_key, e.id,')}
       WHERE (e.account_id, e.idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [items.map((i) => i.accountId), items.map((i) => i.idempotencyKey)],
    );
    const seen = new Map(earlier.map((e) => [`${e.account_id}\u0000${e.idempotency_key}`, e]));
    const pool = await loadBucketPool(tx, [...terms.values()]);
    // Each item is answered by an earlier event (a replay) or by one of the charges written now.
    const answers: (Charge | { written: number; replayed: boolean })[] = [];
    const fresh = new Map<string, { written: number; item: (typeof items)[number] }>();
    const prepared: PreparedCharge[] = [];
    for (const [index, item] of items.entries()) {
      const key = `${item.accountId}\u0000${item.idempotencyKey}`;
      const conflict = () =>
        new BillingError('idempotency_conflict', `Item ${index}: idempotency key "${item.idempotencyKey}" was already used for a different charge`, { index });
      const old = seen.get(key);
      if (old) {
        if (old.hold_id !== null || old.model !== item.model || !sameUsage(old, item.usage)) throw conflict();
        answers.push(replay(old));
        continue;
      }
      const twin = fresh.get(key);
      if (twin) {
        if (twin.item.model !== item.model || JSON.stringify(twin.item.usage) !== JSON.stringify(item.usage)) throw conflict();
        answers.push({ written: twin.written, replayed: true });
        continue;
      }
      const accountTerms = terms.get(item.accountId)!;
      const price = prices.find(item.model, item.provider, now, accountTerms.settings);
      if (!price) throw new BillingError('unknown_model', `Item ${index}: the model "${item.model}" has no price`, { index, model: item.model });
      fresh.set(key, { written: prepared.length, item });
      answers.push({ written: prepared.length, replayed: false });
      prepared.push(
        prepareCharge(pool, {
          terms: accountTerms, idempotencyKey: item.idempotencyKey, holdId: null, userId: item.userId ?? null, model: item.model, price,
          usage: item.usage, metadata: item.metadata ?? {},
        }),
      );
    }
    const ids = await writeCharges(tx, prepared);
    return answers.map((answer) => {
      if (!('written' in answer)) return answer;
      return chargeResult(prepared[answer.written]!, ids[answer.written]!, answer.replayed);
    });
  });
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
