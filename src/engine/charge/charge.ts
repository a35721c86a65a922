/**
 * Charging real usage: what a charge returns, its idempotency (a retry with the same key gets
 * the first answer), the optimistic and the locked way to charge one usage, and record /
 * recordBatch for usage without a hold (settle.ts charges against one). Every way prices the
 * usage, draws its value from the usable buckets in burn order and writes it all in one
 * statement (charge-write.ts); what the buckets cannot cover becomes debt, never a free call.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import type { Micros } from '../../core/money.ts';
import { idSchema, metadataSchema, modelSchema, plain, providerSchema } from '../../core/input.ts';
import { tokenUsageSchema, type TokenUsage } from '../../core/usage.ts';
import type { Sql } from '../../db/sql.ts';
import { ledgerPool, lockedLedgerPool, prepareCharge, readLedger, writeCharges, type ChargeRequest, type LedgerState, type PreparedCharge } from './write.ts';
import type { Context } from '../context.ts';
import { accountNotFound, type Terms } from '../terms.ts';
import type { PriceBook } from '../catalog/price-book.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { ledgerOf, withCharges } from '../gate/account-state.ts';
import { readStates } from '../gate/snapshot.ts';
import { holdKey } from '../../core/hold-id.ts';

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

/** A charge's options: its idempotency key, and what to keep with its usage event. */
export const chargeOptionsShape = {
  idempotencyKey: idSchema.meta({ description: 'Makes the charge once per account and key: a retry with it gets the first charge.', example: 'msg_992' }),
  metadata: metadataSchema.optional(),
};
export const chargeOptionsSchema = plain(z.object(chargeOptionsShape).strict());
export type ChargeOptions = z.input<typeof chargeOptionsSchema>;

/**
 * A settle's options: a charge's, and the model that really answered when it is not the one
 * authorized (a provider that served "gpt-4o" as "gpt-4o-2024-08-06"). The usage is recorded
 * under it and priced at its price as of the hold, if the price book has one of its own; else
 * under the model authorized.
 */
export const settleOptionsShape = {
  ...chargeOptionsShape,
  model: modelSchema.optional().meta({
    description: 'The model that really answered, when it is not the one authorized ("gpt-4o" served as "gpt-4o-2024-08-06"): the usage is recorded under it, at its price as of the hold if the price book has one of its own.',
  }),
};
export const settleOptionsSchema = plain(z.object(settleOptionsShape).strict());
export type SettleOptions = z.input<typeof settleOptionsSchema>;

/** Usage that had no hold: the model that answered, its provider, the usage and the member who made the call. */
export const recordInputShape = {
  model: modelSchema.meta({ example: 'gpt-4o-mini' }),
  provider: providerSchema.optional().meta({ example: 'openai' }),
  usage: tokenUsageSchema,
  userId: idSchema.optional().meta({ description: 'The member of the account who made the call.' }),
};
export const recordInputSchema = plain(z.object(recordInputShape).strict());
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
  COALESCE((SELECT -sum(amount_micros) FROM ledger_entries l WHERE l.account_id = e.account_id AND l.usage_event_id = e.id AND l.bucket_id IS NULL AND l.kind = 'usage'), 0)::bigint AS shortfall_micros
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

/**
 * A second call with a used key: the first answer if it asked the same, else a conflict. The
 * first was charged under one of `models` (a settle's: the model authorized, or the one that answered).
 */
export async function replayOrConflict(
  sql: Sql, accountId: string, key: string, holdId: string | null, models: readonly (string | undefined)[], usage: TokenUsage,
): Promise<Charge> {
  const [row] = await sql.query<EventRow>(`${EVENT_SELECT} WHERE e.account_id = $1 AND e.idempotency_key = $2`, [accountId, key]);
  if (!row) throw new Error(`usage event for idempotency key ${key} vanished`);
  // The database knows a hold by its key; the answer names it as the caller did.
  if (row.hold_id === (holdId && holdKey(holdId)) && models.includes(row.model) && sameUsage(row, usage)) return { ...replay(row), holdId };
  throw new BillingError(
    'idempotency_conflict',
    `Idempotency key "${key}" was already used for a different charge (usage event ${row.id}): use a new key for a new charge`,
    { usageEventId: row.id },
  );
}

export function isKeyConflict(error: unknown): boolean {
  return (error as { code?: string; constraint?: string }).code === '23505';
}

/**
 * Charge one request in one statement without a lock, if its account's ledger is as `ledger`
 * read it: the charge written, or undefined when another writer came in between (or there is
 * an allowance to open).
 */
export async function chargeOptimistically(sql: Sql, ledger: LedgerState, request: ChargeRequest): Promise<Written | undefined> {
  if (!ledger.allowanceOpen) return undefined;
  const pool = ledgerPool([ledger]);
  const prepared = prepareCharge(pool, request);
  const [usageEventId] = await writeCharges(sql, [prepared], pool, new Map([[ledger.terms.account.id, { ledger: ledger.version }]]));
  return usageEventId === undefined ? undefined : { prepared, charge: chargeResult(prepared, usageEventId, false) };
}

/** A charge written: its answer, and what was drawn (to bring remembered state forward). */
export interface Written {
  prepared: PreparedCharge;
  charge: Charge;
}

/** Charge one request with its account's ledger mutex held. */
export async function chargeLocked(tx: Sql, ledger: LedgerState, request: ChargeRequest): Promise<Charge> {
  const pool = await lockedLedgerPool(tx, [ledger]);
  const charge = prepareCharge(pool, request);
  const [usageEventId] = await writeCharges(tx, [charge], pool);
  return chargeResult(charge, usageEventId!, false);
}

export function chargeResult(c: PreparedCharge, usageEventId: number, replayed: boolean): Charge {
  return {
    usageEventId, accountId: c.terms.account.id, holdId: c.holdId, model: c.model, provider: c.price.provider,
    costMicros: c.costMicros, valueMicros: c.valueMicros, debtMicros: c.shortfallMicros, replayed,
  };
}

/** A record on its way to the charge batch (settle.ts): validated, with its account. */
export interface RecordCall {
  kind: 'record';
  accountId: string;
  call: { model: string; provider: string | undefined; userId?: string };
  usage: TokenUsage;
  options: z.output<typeof chargeOptionsSchema>;
}

/**
 * What a charge needs of its call: who asked for which model, and when it is priced — for a
 * settle, when its hold was placed (the price the gate weighed); for a record, now.
 */
export interface ChargedCall {
  model: string;
  provider: string | undefined;
  userId: string | null;
  createdAt: Date;
}

export function recordedCall(record: RecordCall, now: Date): ChargedCall {
  return { model: record.call.model, provider: record.call.provider, userId: record.call.userId ?? null, createdAt: now };
}

export function callPrice(prices: PriceBook, call: ChargedCall, terms: Terms): PriceEntry | undefined {
  return prices.find(call.model, call.provider, call.createdAt, terms.settings);
}

/**
 * The call a settle charges: the hold's, under the model that answered when the caller names
 * another that the price book prices (an override or the bundled data: a fallback price would
 * pass a model it does not know for one it does).
 */
export function answeredCall(prices: PriceBook, held: ChargedCall, answered: string | undefined, terms: Terms): ChargedCall {
  if (answered === undefined || answered === held.model) return held;
  const call = { ...held, model: answered };
  const price = callPrice(prices, call, terms);
  return price && price.source !== 'fallback' ? call : held;
}

/** The charge request for a call; without a price, an error that says what to do (never a free call). */
export function chargeRequest(
  call: ChargedCall, holdId: string | null, input: Pick<RecordCall, 'usage' | 'options'>, terms: Terms, price: PriceEntry | undefined,
): ChargeRequest {
  if (!price) {
    throw holdId === null
      ? new BillingError('unknown_model', `The model "${call.model}" has no price: add one to the price book or set a fallback price, then record again`, { model: call.model })
      : new BillingError('unknown_model', `The model "${call.model}" no longer has a price: restore its price, then settle again`);
  }
  return {
    terms, idempotencyKey: input.options.idempotencyKey, holdId, userId: call.userId, model: call.model, price, pricedAt: call.createdAt,
    usage: input.usage, metadata: input.options.metadata ?? {},
  };
}

/**
 * Charge usage that had no hold (a call the gate did not see). It is not refused: it happened.
 * Its input and options come parsed from the facade; it is charged together with the settles
 * and records that arrive meanwhile.
 */
export async function record(
  ctx: Context, accountId: string, { model, provider, userId, usage }: z.output<typeof recordInputSchema>, options: z.output<typeof chargeOptionsSchema>,
): Promise<Charge> {
  return ctx.charges.submit({ kind: 'record', accountId, call: { model, provider, userId }, usage, options });
}

/**
 * One record: an optimistic charge on a fresh read of the whole account, then under the
 * ledger mutex. The account's state, read and charged, is remembered, so that its next calls
 * skip the read.
 */
export async function recordAlone(ctx: Context, input: RecordCall): Promise<Charge> {
  const { accountId, call, usage, options } = input;
  const now = ctx.clock();
  const requestFor = async (sql: Sql, terms: Terms) => {
    const prices = await ctx.prices.atLeast(terms.catalogVersion, sql);
    return chargeRequest(recordedCall(input, now), null, input, terms, callPrice(prices, recordedCall(input, now), terms));
  };
  ctx.known.forget(accountId);
  try {
    const charged = await ctx.sql.uninterrupted(async (sql) => {
      const state = (await readStates(sql, [accountId], now)).get(accountId);
      if (!state) throw accountNotFound(accountId);
      const ledger = ledgerOf(state, now);
      const written = await chargeOptimistically(sql, ledger, await requestFor(sql, ledger.terms));
      if (written) ctx.known.remember(withCharges(state, [written.prepared]));
      return written?.charge;
    });
    if (charged) return charged;
    return await ctx.sql.transaction(async (tx) => {
      const ledger = (await readLedger(tx, [accountId], now, true)).get(accountId)!;
      return chargeLocked(tx, ledger, await requestFor(tx, ledger.terms));
    });
  } catch (error) {
    if (isKeyConflict(error)) return replayOrConflict(ctx.sql, accountId, options.idempotencyKey, null, [call.model], usage);
    throw error;
  }
}

export const batchItemSchema = plain(z.object({ ...recordInputShape, ...chargeOptionsShape, accountId: idSchema.meta({ example: 'team_42' }) }).strict()).meta({ id: 'RecordBatchItem' });
export type RecordBatchItem = z.input<typeof batchItemSchema>;
export const batchSchema = z.array(batchItemSchema, { error: 'must be an array of usages' }).max(10_000, 'at most 10,000 items per batch');

/**
 * Record many usages, across accounts, in one transaction and one write. All or nothing: a
 * bad item, an unknown account or model, or a reused key with other usage fails the whole
 * batch with the item's index, and nothing is written. Items whose key was already charged
 * with the same usage come back as replays.
 */
export async function recordBatch(ctx: Context, items: z.output<typeof batchSchema>): Promise<Charge[]> {
  if (items.length === 0) return [];
  for (const item of items) ctx.known.forget(item.accountId);
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const ledgers = await readLedger(tx, items.map((i) => i.accountId), now, true);
    const earlier = await tx.query<EventRow & { idempotency_key: string }>(
      `${EVENT_SELECT.replace('SELECT e.id,', 'SELECT e.idempotency_key, e.id,')}
       WHERE (e.account_id, e.idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [items.map((i) => i.accountId), items.map((i) => i.idempotencyKey)],
    );
    const seen = new Map(earlier.map((e) => [`${e.account_id}\u0000${e.idempotency_key}`, e]));
    const pool = await lockedLedgerPool(tx, [...ledgers.values()]);
    const prices = await ctx.prices.atLeast(Math.max(...[...ledgers.values()].map((l) => l.terms.catalogVersion)), tx);
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
          pricedAt: now, usage: item.usage, metadata: item.metadata ?? {},
        }),
      );
    }
    const ids = await writeCharges(tx, prepared, pool);
    return answers.map((answer) => {
      if (!('written' in answer)) return answer;
      return chargeResult(prepared[answer.written]!, ids[answer.written]!, answer.replayed);
    });
  });
}
