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
import {
  LEDGER_COLUMNS, bucketPool, ledgerFromRow, prepareCharge, readLedger, writeCharges,
  type BucketPool, type ChargeRequest, type LedgerRow, type LedgerState, type PreparedCharge,
} from './charge-write.ts';
import type { PriceBook } from './price-lookup.ts';
import { outcomeOf } from './combiner.ts';
import type { Context } from './context.ts';
import { TERMS_COLUMNS, TERMS_FROM, accountNotFound, termsFromRow, type TermsRow } from './terms.ts';

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

interface HoldRow extends TermsRow, LedgerRow {
  hold_status: 'open' | 'settled' | 'released';
  hold_model: string;
  hold_provider: string;
  hold_user_id: string | null;
  hold_created_at: Date;
}

const HOLD_SELECT = `SELECT h.status AS hold_status, h.model AS hold_model, h.provider AS hold_provider, h.user_id AS hold_user_id,
    h.created_at AS hold_created_at, ${LEDGER_COLUMNS}, ${TERMS_COLUMNS}
  FROM ${TERMS_FROM} JOIN holds h ON h.account_id = a.id JOIN account_balances b ON b.account_id = a.id
  WHERE h.id = $1`;

const HOLDS_SELECT = HOLD_SELECT.replace('WHERE h.id = $1', 'WHERE h.id = ANY ($1::text[])').replace('SELECT h.status', 'SELECT h.id AS hold_id, h.status');

const LEDGER_SELECT = `SELECT ${LEDGER_COLUMNS}, ${TERMS_COLUMNS} FROM ${TERMS_FROM} JOIN account_balances b ON b.account_id = a.id
  WHERE a.id = ANY ($1::text[]) ORDER BY a.id`;

/** Lock the ledger mutexes of accounts, in id order so that two callers cannot deadlock. */
async function lockLedgers(tx: Sql, accountIds: readonly string[], now: Date): Promise<Map<string, LedgerState>> {
  const rows = await tx.query<TermsRow & LedgerRow>(`${LEDGER_SELECT} FOR NO KEY UPDATE OF b`, [[...accountIds].sort(), now]);
  const states = new Map(rows.map((row) => [row.id, ledgerFromRow(termsFromRow(row, now), row)]));
  const missing = accountIds.find((id) => !states.has(id));
  if (missing) throw accountNotFound(missing);
  return states;
}

/**
 * Charge one request in one statement without a lock, if its account's ledger is as `ledger`
 * read it: undefined when another writer came in between (or there is an allowance to open).
 */
async function chargeOptimistically(sql: Sql, ledger: LedgerState, request: ChargeRequest): Promise<Charge | undefined> {
  if (!ledger.allowanceOpen) return undefined;
  const charge = prepareCharge(new Map([[ledger.terms.account.id, ledger.buckets]]), request);
  const [usageEventId] = await writeCharges(sql, [charge], new Map([[ledger.terms.account.id, ledger.version]]));
  return usageEventId === undefined ? undefined : chargeResult(charge, usageEventId, false);
}

/** Charge one request with its account's ledger mutex held. */
async function chargeLocked(tx: Sql, ledger: LedgerState, request: ChargeRequest): Promise<Charge> {
  const pool = await bucketPool(tx, [ledger]);
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

function holdNotFound(id: string): BillingError {
  return new BillingError('hold_not_found', `No hold "${id}": authorize first and settle the hold id it returns`, { holdId: id });
}

export interface SettleInput {
  id: string;
  usage: TokenUsage;
  options: z.output<typeof chargeOptionsSchema>;
}

/** Settle: validated here, then charged together with the settles that arrive meanwhile. */
export async function settle(ctx: Context, holdId: string, usageInput: TokenUsage, optionsInput: ChargeOptions): Promise<Charge> {
  const id = parseInput(z.string().min(1, 'must not be empty').max(200), holdId, 'hold id');
  const usage = parseInput(tokenUsageSchema, usageInput, 'usage');
  const options = parseInput(chargeOptionsSchema, optionsInput, 'settle options');
  return ctx.settles.submit({ id, usage, options });
}

/** The charge request for a hold row: priced as of authorization, the price the gate weighed. */
function settleRequest(prices: PriceBook, row: HoldRow, input: SettleInput, now: Date): ChargeRequest {
  const terms = termsFromRow(row, now);
  const price = prices.find(row.hold_model, row.hold_provider, row.hold_created_at, terms.settings);
  if (!price) throw new BillingError('unknown_model', `The model "${row.hold_model}" no longer has a price: restore its price, then settle again`);
  return {
    terms, idempotencyKey: input.options.idempotencyKey, holdId: input.id, userId: row.hold_user_id, model: row.hold_model, price,
    usage: input.usage, metadata: input.options.metadata ?? {},
  };
}

/**
 * Settle many holds in one read and one version-guarded write. Returns the charges it made by
 * input index; anything else (a hold not open, a second settle of one hold, an account whose
 * ledger moved, an error) is left for settleAlone, which gives each its precise answer.
 */
export async function settleTogether(ctx: Context, inputs: readonly SettleInput[]): Promise<Map<number, Charge>> {
  const prices = await ctx.prices.fresh();
  const now = ctx.clock();
  const done = new Map<number, Charge>();
  try {
    await ctx.sql.uninterrupted(async (sql) => {
      const rows = await sql.query<HoldRow & { hold_id: string }>(HOLDS_SELECT, [inputs.map((i) => i.id), now]);
      const holds = new Map(rows.map((row) => [row.hold_id, row]));
      const pools: BucketPool = new Map();
      const versions = new Map<string, number>();
      const batch: { index: number; charge: PreparedCharge }[] = [];
      const taken = new Set<string>();
      for (const [index, input] of inputs.entries()) {
        const row = holds.get(input.id);
        if (!row || row.hold_status !== 'open' || taken.has(input.id)) continue;
        const ledger = ledgerFromRow(termsFromRow(row, now), row);
        const price = prices.find(row.hold_model, row.hold_provider, row.hold_created_at, ledger.terms.settings);
        if (!ledger.allowanceOpen || !price) continue;
        taken.add(input.id);
        if (!pools.has(row.id)) {
          pools.set(row.id, ledger.buckets);
          versions.set(row.id, ledger.version);
        }
        batch.push({ index, charge: prepareCharge(pools, settleRequest(prices, row, input, now)) });
      }
      if (batch.length === 0) return;
      const ids = await writeCharges(sql, batch.map((b) => b.charge), versions);
      batch.forEach((b, i) => {
        if (ids[i] !== undefined) done.set(b.index, chargeResult(b.charge, ids[i]!, false));
      });
    });
  } catch (error) {
    if (!isKeyConflict(error)) throw error;
    done.clear(); // one reused key failed the whole statement: each goes alone and gets its own answer
  }
  return done;
}

/** A batch of settles: together where they can be, each alone where they cannot. */
export async function settleBatch(ctx: Context, inputs: SettleInput[]) {
  const together = inputs.length > 1 ? await settleTogether(ctx, inputs) : new Map<number, Charge>();
  return Promise.all(inputs.map((input, i) => (together.has(i) ? { ok: true as const, value: together.get(i)! } : outcomeOf(() => settleAlone(ctx, input)))));
}

/** One settle: optimistic first, then under the ledger mutex. */
export async function settleAlone(ctx: Context, input: SettleInput): Promise<Charge> {
  const { id, usage, options } = input;
  const prices = await ctx.prices.fresh();
  const now = ctx.clock();
  const requestFor = (row: HoldRow): ChargeRequest => settleRequest(prices, row, input, now);
  let accountId: string | undefined;
  let model = '';
  try {
    const charged = await ctx.sql.uninterrupted(async (sql) => {
      const [seen] = await sql.query<HoldRow>(HOLD_SELECT, [id, now]);
      if (!seen) throw holdNotFound(id);
      accountId = seen.id;
      model = seen.hold_model;
      if (seen.hold_status !== 'open') return undefined;
      const request = requestFor(seen);
      return chargeOptimistically(sql, ledgerFromRow(request.terms, seen), request);
    });
    if (charged) return charged;
    return await ctx.sql.transaction(async (tx) => {
      // The ledger mutex first, then the hold: every writer takes them in this order.
      await tx.query('SELECT 1 FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [accountId]);
      const [row] = await tx.query<HoldRow>(`${HOLD_SELECT} FOR NO KEY UPDATE OF h`, [id, now]);
      if (!row) throw holdNotFound(id);
      if (row.hold_status === 'released') {
        throw new BillingError('hold_released', `Hold "${id}" was released, so it cannot be settled: use record for usage without a hold`, { holdId: id });
      }
      if (row.hold_status === 'settled') {
        // Read the key in a statement of its own: when the SELECT above waited for the hold's lock, READ COMMITTED showed
        // it the winner's update of the hold, but its subqueries kept the older snapshot without the winner's usage event.
        const [settledBy] = await tx.query<{ idempotency_key: string }>(
          'SELECT e.idempotency_key FROM holds h JOIN usage_events e ON e.id = h.usage_event_id WHERE h.id = $1',
          [id],
        );
        if (settledBy?.idempotency_key === options.idempotencyKey) return replayOrConflict(tx, row.id, options.idempotencyKey, id, row.hold_model, usage);
        throw new BillingError('hold_settled', `Hold "${id}" is already settled (with another idempotency key)`, { holdId: id });
      }
      const request = requestFor(row);
      return chargeLocked(tx, ledgerFromRow(request.terms, row), request);
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
  const now = ctx.clock();
  const requestFor = (ledger: LedgerState): ChargeRequest => {
    const price = prices.find(request.model, request.provider, now, ledger.terms.settings);
    if (!price) {
      throw new BillingError('unknown_model', `The model "${request.model}" has no price: add one to the price book or set a fallback price, then record again`, {
        model: request.model,
      });
    }
    return {
      terms: ledger.terms, idempotencyKey: options.idempotencyKey, holdId: null, userId: request.userId ?? null, model: request.model, price,
      usage: request.usage, metadata: options.metadata ?? {},
    };
  };
  try {
    const charged = await ctx.sql.uninterrupted(async (sql) => {
      const seen = (await readLedger(sql, [accountId], now)).get(accountId);
      if (!seen) throw accountNotFound(accountId);
      return chargeOptimistically(sql, seen, requestFor(seen));
    });
    if (charged) return charged;
    return await ctx.sql.transaction(async (tx) => {
      const ledger = (await lockLedgers(tx, [accountId], now)).get(accountId)!;
      return chargeLocked(tx, ledger, requestFor(ledger));
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
    const ledgers = await lockLedgers(tx, [...new Set(items.map((i) => i.accountId))], now);
    const earlier = await tx.query<EventRow & { idempotency_key: string }>(
      `${EVENT_SELECT.replace('SELECT e.id,', 'SELECT e.idempotency_key, e.id,')}
       WHERE (e.account_id, e.idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [items.map((i) => i.accountId), items.map((i) => i.idempotencyKey)],
    );
    const seen = new Map(earlier.map((e) => [`${e.account_id}\u0000${e.idempotency_key}`, e]));
    const pool = await bucketPool(tx, [...ledgers.values()]);
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
      const accountTerms = ledgers.get(item.accountId)!.terms;
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
  const [hold] = await ctx.sql.query<{ account_id: string; status: string }>('SELECT account_id, status FROM holds WHERE id = $1', [id]);
  if (!hold) throw new BillingError('hold_not_found', `No hold "${id}"`, { holdId: id });
  const status = hold.status !== 'open' ? hold.status : await ctx.sql.transaction(async (tx) => {
    // The ledger mutex first, as settle takes it; closing the hold moves the ledger version so
    // that an optimistic settle of it cannot go through.
    await tx.query('UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1', [hold.account_id]);
    const [closed] = await tx.query<{ status: string }>(
      `UPDATE holds SET status = CASE WHEN status = 'open' THEN 'released' ELSE status END, resolved_at = COALESCE(resolved_at, $2)
       WHERE id = $1 RETURNING status`,
      [id, ctx.clock()],
    );
    return closed!.status;
  });
  if (status === 'settled') throw new BillingError('hold_settled', `Hold "${id}" is already settled; refund its usage event instead`, { holdId: id });
  return { holdId: id, status: 'released' };
}
