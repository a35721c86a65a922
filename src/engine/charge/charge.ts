/**
 * Charging real usage: what a charge returns, its idempotency (a retry with the same key gets
 * the first answer), the optimistic and the locked way to charge one usage, and record /
 * recordBatch for usage without a hold (settle.ts charges against one). Every way prices the
 * usage, draws its value from the usable buckets in burn order and writes it all in one
 * statement (write.ts); what the buckets cannot cover becomes debt, never a free call.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import type { Micros } from '../../core/money.ts';
import { accountIdSchema, idSchema, metadataSchema, modelSchema, plain, providerSchema } from '../../core/input.ts';
import { tokenUsageSchema, type TokenUsage } from '../../core/usage.ts';
import type { Sql } from '../../db/sql.ts';
import {
  batchAccount, ledgerPool, lockedLedgerPool, prepareCharge, readLedger, readLedgerStates, writeBatchCharges, writeCharges,
  type BatchAccount, type BatchWrite, type ChargeRequest, type LedgerPool, type LedgerState, type PreparedCharge,
} from './write.ts';
import { setImmediate } from 'node:timers';
import { outcomeOf, type BatchAnswer } from '../combiner.ts';
import type { Context } from '../context.ts';
import { accountNotFound, termsFromRow, termsHoldAt, type Terms, type TermsRow } from '../terms.ts';
import type { PriceBook } from '../catalog/price-book.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { ledgerFrom, ledgerOf, withCharges, type AccountState } from '../gate/account-state.ts';
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

/**
 * The price of a call as of when it was made. A held call was admitted when it was priced: if its
 * model is priced by no book now (the unknown-model policy switched to refuse since, or its price
 * removed), it is charged the fallback price while one is set, rather than left unpriced: never free usage.
 */
export function callPrice(prices: PriceBook, call: ChargedCall, terms: Terms, { held = false } = {}): PriceEntry | undefined {
  const price = prices.find(call.model, call.provider, call.createdAt, terms.settings);
  if (price || !held || !terms.settings.fallbackPrice) return price;
  return prices.find(call.model, call.provider, call.createdAt, { ...terms.settings, unknownModelPolicy: 'fallback' });
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

export const batchItemSchema = plain(z.object({ ...recordInputShape, ...chargeOptionsShape, accountId: accountIdSchema.meta({ example: 'team_42' }) }).strict()).meta({ id: 'RecordBatchItem' });
export type RecordBatchItem = z.input<typeof batchItemSchema>;
export const batchSchema = z.array(batchItemSchema, { error: 'must be an array of usages' }).max(10_000, 'at most 10,000 items per batch');
type BatchItem = z.output<typeof batchItemSchema>;

/** Times a call is tried in one statement before it is charged alone under the ledger mutexes. */
const BATCH_ATTEMPTS = 3;
/** The most usages one statement takes from calls combined (one call alone may bring more: up to 10,000). */
const COMBINED_ITEMS = 5_000;

/**
 * Record many usages, across accounts, all or nothing: a bad item, an unknown account or model,
 * or a reused key with other usage fails the whole batch with the item's index, and nothing is
 * written. Items whose key was already charged with the same usage come back as replays.
 *
 * A batch is priced on its accounts' ledgers as this process last read them (batch bases,
 * below), then written in ONE statement that locks those ledgers in account order, checks that
 * only charges have moved them since, and draws on their buckets as they are then
 * (writeBatchCharges): no transaction, each lock held only while that statement runs and
 * commits. Batches that arrive while one is being written go together in the next statement
 * (combiner.ts), so that one process's batches never queue on each other's locks. If an account
 * moved otherwise (a grant, a plan change) or a key was taken meanwhile, nothing is written and
 * the statement is tried again on what it reads afresh. What one statement cannot write (an
 * allowance to open, a capped member's counters, counters behind the clock) is charged in a
 * transaction under the ledger mutexes, the call alone.
 */
export async function recordBatch(ctx: Context, items: z.output<typeof batchSchema>): Promise<Charge[]> {
  if (items.length === 0) return [];
  return batchesOf(ctx).submit(items);
}

const pipelines = new WeakMap<Context, BatchPipeline>();
function batchesOf(ctx: Context): BatchPipeline {
  let pipeline = pipelines.get(ctx);
  if (!pipeline) pipelines.set(ctx, (pipeline = new BatchPipeline(ctx)));
  return pipeline;
}

/** A call waiting for its statement: how many it has had, and whether to look for its keys' events first. */
interface BatchCall {
  items: readonly BatchItem[];
  resolve: (charges: Charge[]) => void;
  reject: (error: unknown) => void;
  attempts: number;
  checkKeys: boolean;
}

/**
 * One process's batches, as natural batching (combiner.ts) with one statement in flight at a
 * time, so that they never wait on each other's locks; but the next statement is planned while
 * the one before runs, so that this process's work and the database's overlap. When none is in
 * flight, half the calls waiting go first and the rest are planned meanwhile (on a server):
 * callers in a loop settle into two groups that take turns. A statement is planned on the bases as they are
 * before the one ahead of it is written, which is sound as any base is (writeBatchCharges
 * checks it); a call with a key of the statement ahead waits for it to be written.
 */
class BatchPipeline {
  #waiting: BatchCall[] = [];
  #running = false;
  /** The statement being written, and its calls' keys. */
  #ahead: { keys: ReadonlySet<string>; written: Promise<void> } | undefined;

  constructor(private readonly ctx: Context) {}

  submit(items: readonly BatchItem[]): Promise<Charge[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ items, resolve, reject, attempts: 0, checkKeys: false });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0 || this.#ahead) {
        // One turn of the event loop first, as the combiner takes: callers just answered go in.
        await new Promise((resolve) => setImmediate(resolve));
        const calls = this.#take();
        if (calls.length === 0) {
          await this.#ahead?.written;
          continue;
        }
        const keys = new Set(calls.flatMap((call) => call.items.map((item) => itemKey(item.accountId, item.idempotencyKey))));
        const planned = await this.#plan(calls);
        const before = this.#ahead;
        const written = (async () => {
          await before?.written;
          if (planned) await this.#write(calls, planned);
        })();
        this.#ahead = { keys, written };
        void written.finally(() => {
          if (this.#ahead?.written === written) this.#ahead = undefined;
        });
        // Planned one statement ahead, no further: the next is planned while this one runs.
        await before?.written;
      }
    } finally {
      this.#running = false;
    }
  }

  /** The calls of the next statement: up to its size, none sharing a key with another or with the statement ahead. */
  #take(): BatchCall[] {
    // Halves only where the database runs beside this process: PGlite runs on its thread, and
    // gains nothing from the overlap but smaller statements.
    const share = this.#ahead || this.ctx.sql.engine !== 'postgres' ? this.#waiting.length : Math.ceil(this.#waiting.length / 2);
    const taken: BatchCall[] = [];
    const keys = new Set<string>();
    let size = 0;
    this.#waiting = this.#waiting.filter((call) => {
      if (taken.length >= share || (taken.length > 0 && size + call.items.length > COMBINED_ITEMS)) return true;
      const mine = call.items.map((item) => itemKey(item.accountId, item.idempotencyKey));
      if (mine.some((key) => keys.has(key) || this.#ahead?.keys.has(key))) return true;
      for (const key of mine) keys.add(key);
      size += call.items.length;
      taken.push(call);
      return false;
    });
    return taken;
  }

  /** Plan the calls: those that fail, or need the mutexes, are answered or sent alone here; undefined when none is left. */
  async #plan(calls: BatchCall[]): Promise<PlannedBatch | undefined> {
    const { ctx } = this;
    for (const call of calls) for (const item of call.items) ctx.known.forget(item.accountId);
    let planned: PlannedBatch;
    try {
      planned = await ctx.sql.uninterrupted((sql) => planCalls(ctx, sql, calls.map((c) => c.items), batchBases(ctx), calls.some((c) => c.checkKeys)));
    } catch {
      // A read failed as a whole: each call goes alone, and gets its own answer.
      for (const call of calls) this.#alone(call);
      return undefined;
    }
    calls.forEach((call, j) => {
      const outcome = planned.outcomes[j];
      if (outcome === 'locked') this.#alone(call);
      else if (outcome) settleOutcome(call, outcome);
    });
    return planned.together.length > 0 ? planned : undefined;
  }

  async #write(calls: BatchCall[], planned: PlannedBatch): Promise<void> {
    let round: Awaited<ReturnType<typeof writePlanned>>;
    try {
      round = await this.ctx.sql.uninterrupted((sql) => writePlanned(sql, planned, batchBases(this.ctx)));
    } catch {
      round = { outcomes: planned.together.map(() => 'locked') };
    }
    planned.together.forEach(({ j }, k) => {
      const call = calls[j]!;
      const outcome = round.outcomes[k];
      if (outcome === 'locked') this.#alone(call);
      else if (outcome) settleOutcome(call, outcome);
      else if (++call.attempts >= BATCH_ATTEMPTS) this.#alone(call);
      else {
        // Nothing was written: back to the front, to be planned again on what is read afresh.
        call.checkKeys ||= round.again === 'keys';
        this.#waiting.unshift(call);
      }
    });
    if (this.#waiting.length > 0 && !this.#running) void this.#run();
  }

  /** A call charged alone, in a transaction under its accounts' ledger mutexes. */
  #alone(call: BatchCall): void {
    const bases = batchBases(this.ctx);
    for (const item of call.items) bases.delete(item.accountId);
    void outcomeOf(() => recordBatchLocked(this.ctx, call.items)).then((outcome) => settleOutcome(call, outcome));
  }
}

function settleOutcome(call: BatchCall, outcome: Outcome<Charge[]>): void {
  if (outcome.ok) call.resolve(outcome.value);
  else call.reject(outcome.error);
}

/**
 * What this process remembers of the accounts it charged batches on: each one's state as read
 * at some ledger version, its counters brought forward by its own batches. It is never trusted
 * for value: the batch statement checks that only charges moved the ledger since that version,
 * and draws on the buckets as they are (writeBatchCharges); an account that fails is read
 * again. It saves the read of every account of every batch.
 */
class BatchBases {
  /** Most recently used last: the first is the one to evict. */
  #states = new Map<string, AccountState>();

  constructor(private readonly capacity = 10_000) {}

  /** The account's base, if it can still be used at `now` (terms the clock changed since, a plan past its end among them: read it again). */
  get(accountId: string, now: Date): AccountState | undefined {
    const state = this.#states.get(accountId);
    if (!state) return undefined;
    this.#states.delete(accountId);
    if (!termsHoldAt(state.termsRow, now)) return undefined;
    this.#states.set(accountId, state);
    return state;
  }

  set(accountId: string, state: AccountState): void {
    this.#states.delete(accountId);
    this.#states.set(accountId, state);
    if (this.#states.size > this.capacity) this.#states.delete(this.#states.keys().next().value!);
  }

  delete(accountId: string): void {
    this.#states.delete(accountId);
  }
}

const basesByContext = new WeakMap<Context, BatchBases>();
function batchBases(ctx: Context): BatchBases {
  let bases = basesByContext.get(ctx);
  if (!bases) basesByContext.set(ctx, (bases = new BatchBases()));
  return bases;
}

/** An account's terms as read, at the moments they were last derived for: the same for any moment in that day and period. */
const termsDerived = new WeakMap<TermsRow, Terms>();
const within = (at: Date, period: { start: Date; end: Date }) => at >= period.start && at < period.end;

/** A base's ledger at `now` (ledgerOf), its terms derived once a day and period. */
function ledgerAt(state: AccountState, now: Date): LedgerState {
  let terms = termsDerived.get(state.termsRow);
  if (terms && within(now, terms.day) && within(now, terms.period)) terms = { ...terms, now };
  else termsDerived.set(state.termsRow, (terms = termsFromRow(state.termsRow, now)));
  const { versions, debtMicros, allowances, buckets, windows, members } = state;
  return ledgerFrom(terms, { version: versions.ledger, debtMicros, allowances, buckets, windows, members });
}

/** Calls priced together for one statement: each one's own outcome where it has one already, and the others' plans. */
interface PlannedBatch {
  /** By call: its error, or 'locked' (for the mutexes), or nothing (it goes in the statement). */
  outcomes: (Outcome<Charge[]> | 'locked' | undefined)[];
  /** The calls that go in the statement, by their index in `outcomes`, with their plans. */
  together: { j: number; plan: BatchPlan }[];
  accounts: Map<string, BatchAccount>;
  states: Map<string, AccountState>;
}

/**
 * Price calls on their accounts' bases, reading those this process has none of (and, with
 * `checkKeys`, the events already under the calls' keys), each call on its own: a bad one fails
 * alone, and one touching what a statement cannot write goes to the mutexes.
 */
async function planCalls(ctx: Context, sql: Sql, calls: (readonly BatchItem[])[], bases: BatchBases, checkKeys: boolean): Promise<PlannedBatch> {
  const now = ctx.clock();
  const items = calls.flat();
  const accountIds = [...new Set(items.map((i) => i.accountId))];
  const states = new Map(accountIds.flatMap((id) => {
    const base = bases.get(id, now);
    return base ? [[id, base] as const] : [];
  }));
  const unread = accountIds.filter((id) => !states.has(id));
  const read = async () => (unread.length > 0 ? readLedgerStates(sql, unread, now) : new Map<string, AccountState>());
  const keys = async () => (checkKeys ? earlierEvents(sql, items) : new Map<string, EventRow>());
  // Side by side on a server's pool; PGlite's one connection takes one statement at a time.
  const [fresh, earlier] = sql.engine === 'postgres' ? await Promise.all([read(), keys()]) : [await read(), await keys()];
  for (const [id, state] of fresh) {
    states.set(id, state);
    bases.set(id, state);
  }
  const ledgers = new Map([...states].map(([id, state]) => [id, ledgerAt(state, now)]));
  const prices = await pricesFor(ctx, sql, ledgers);
  const outcomes: (Outcome<Charge[]> | 'locked' | undefined)[] = [];
  const plans = calls.map((call, j) => {
    const missing = call.findIndex((item) => !ledgers.has(item.accountId));
    const planned = outcomeOfNow(() => {
      if (missing !== -1) {
        // Named by its place in the batch, as its other refusals are.
        const unknown = accountNotFound(call[missing]!.accountId);
        throw new BillingError(unknown.code, `Item ${missing}: ${unknown.message}`, { ...unknown.details, index: missing });
      }
      return planBatch(call, ledgers, earlier, prices, now);
    });
    if (!planned.ok) outcomes[j] = planned;
    return planned.ok ? planned.value : undefined;
  });
  // An account one statement cannot write sends the calls that touch it to the mutexes.
  for (;;) {
    const byAccount = new Map<string, PreparedCharge[]>();
    plans.forEach((plan, j) => {
      if (!plan || outcomes[j]) return;
      for (const c of plan.prepared) {
        const mine = byAccount.get(c.terms.account.id);
        if (mine) mine.push(c);
        else byAccount.set(c.terms.account.id, [c]);
      }
    });
    const accounts = new Map<string, BatchAccount>();
    const locked = [...byAccount].find(([accountId, charges]) => {
      const account = batchAccount(ledgers.get(accountId)!, states.get(accountId)!.versions.terms, charges);
      if (account) accounts.set(accountId, account);
      return !account;
    });
    if (!locked) return { outcomes, together: plans.flatMap((plan, j) => (plan && !outcomes[j] ? [{ j, plan }] : [])), accounts, states };
    plans.forEach((plan, j) => {
      if (plan && !outcomes[j] && plan.prepared.some((c) => c.terms.account.id === locked[0])) outcomes[j] = 'locked';
    });
  }
}

/**
 * A planned batch in one statement: by call in `together`, its charges, or 'locked' (the
 * statement failed as a whole, for no reason of the accounts': each goes alone), or nothing
 * when nothing was written, and `again` says why ('moved': accounts moved otherwise, forgotten
 * here; 'keys': a key was taken meanwhile).
 */
async function writePlanned(
  sql: Sql, planned: PlannedBatch, bases: BatchBases,
): Promise<{ outcomes: (Outcome<Charge[]> | 'locked' | undefined)[]; again?: 'moved' | 'keys' }> {
  const { together, accounts, states } = planned;
  const charges = together.flatMap(({ plan }) => plan.prepared);
  if (charges.length === 0) return { outcomes: together.map(({ plan }) => ({ ok: true, value: answersOf(plan, []) })) };
  let written: BatchWrite;
  try {
    written = await writeBatchCharges(sql, charges, accounts);
  } catch {
    return { outcomes: together.map(() => 'locked') };
  }
  if ('keyTaken' in written) return { outcomes: [], again: 'keys' };
  if ('readAgain' in written) {
    for (const id of written.readAgain === 'all' ? accounts.keys() : written.readAgain) bases.delete(id);
    return { outcomes: [], again: 'moved' };
  }
  written.written.forEach(({ debtMicros }, i) => (charges[i]!.shortfallMicros = debtMicros as Micros));
  // A base's counters go forward by the charges, and the buckets they emptied leave it (the
  // others need not be brought forward: the statement draws on them as they are).
  for (const [accountId, account] of accounts) {
    const state = states.get(accountId)!;
    const buckets = state.buckets.some((b) => written.emptied.has(b.id))
      ? state.buckets.map((b) => (written.emptied.has(b.id) ? { ...b, remainingMicros: 0 as Micros } : b))
      : state.buckets;
    bases.set(accountId, { ...state, buckets, windows: account.counted });
  }
  let offset = 0;
  return { outcomes: together.map(({ plan }) => ({ ok: true, value: answersOf(plan, written.written.slice(offset, (offset += plan.prepared.length)).map((w) => w.id)) })) };
}

type Outcome<T> = Exclude<BatchAnswer<T>, Promise<unknown>>;

function outcomeOfNow<T>(work: () => T): Outcome<T> {
  try {
    return { ok: true, value: work() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The batch in a transaction, its accounts' ledger mutexes taken in account order. */
async function recordBatchLocked(ctx: Context, items: readonly BatchItem[]): Promise<Charge[]> {
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const ledgers = await readLedger(tx, items.map((i) => i.accountId), now, true);
    const earlier = await earlierEvents(tx, items);
    const pool = await lockedLedgerPool(tx, [...ledgers.values()]);
    const plan = planBatch(items, ledgers, earlier, await pricesFor(ctx, tx, ledgers), now, pool);
    return answersOf(plan, await writeCharges(tx, plan.prepared, pool));
  });
}

const itemKey = (accountId: string, key: string) => `${accountId}\u0000${key}`;

/** The usage events already written under the batch's keys, by account and key. */
async function earlierEvents(sql: Sql, items: readonly BatchItem[]): Promise<Map<string, EventRow>> {
  const rows = await sql.query<EventRow & { idempotency_key: string }>(
    `${EVENT_SELECT.replace('SELECT e.id,', 'SELECT e.idempotency_key, e.id,')}
     WHERE (e.account_id, e.idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [items.map((i) => i.accountId), items.map((i) => i.idempotencyKey)],
  );
  return new Map(rows.map((e) => [itemKey(e.account_id, e.idempotency_key), e]));
}

function pricesFor(ctx: Context, sql: Sql, ledgers: ReadonlyMap<string, LedgerState>): Promise<PriceBook> {
  return ctx.prices.atLeast(Math.max(...[...ledgers.values()].map((l) => l.terms.catalogVersion)), sql);
}

/** Each item answered by an earlier event (a replay), or by one of the charges to write (`prepared`, by index). */
interface BatchPlan {
  answers: (Charge | { written: number; replayed: boolean })[];
  prepared: PreparedCharge[];
}

/** Price the batch's new items and draw them, in order, from `pool` (without one, only price them); a key reused for other usage fails the batch. */
function planBatch(
  items: readonly BatchItem[], ledgers: ReadonlyMap<string, LedgerState>, earlier: ReadonlyMap<string, EventRow>, prices: PriceBook, now: Date, pool?: LedgerPool,
): BatchPlan {
  const plan: BatchPlan = { answers: [], prepared: [] };
  const fresh = new Map<string, { written: number; item: BatchItem }>();
  for (const [index, item] of items.entries()) {
    const key = itemKey(item.accountId, item.idempotencyKey);
    const conflict = () =>
      new BillingError('idempotency_conflict', `Item ${index}: idempotency key "${item.idempotencyKey}" was already used for a different charge`, { index });
    const old = earlier.get(key);
    if (old) {
      if (old.hold_id !== null || old.model !== item.model || !sameUsage(old, item.usage)) throw conflict();
      plan.answers.push(replay(old));
      continue;
    }
    const twin = fresh.get(key);
    if (twin) {
      if (twin.item.model !== item.model || JSON.stringify(twin.item.usage) !== JSON.stringify(item.usage)) throw conflict();
      plan.answers.push({ written: twin.written, replayed: true });
      continue;
    }
    const terms = ledgers.get(item.accountId)!.terms;
    const price = prices.find(item.model, item.provider, now, terms.settings);
    if (!price) throw new BillingError('unknown_model', `Item ${index}: the model "${item.model}" has no price`, { index, model: item.model });
    fresh.set(key, { written: plan.prepared.length, item });
    plan.answers.push({ written: plan.prepared.length, replayed: false });
    plan.prepared.push(
      prepareCharge(pool, {
        terms, idempotencyKey: item.idempotencyKey, holdId: null, userId: item.userId ?? null, model: item.model, price,
        pricedAt: now, usage: item.usage, metadata: item.metadata ?? {},
      }),
    );
  }
  return plan;
}

function answersOf(plan: BatchPlan, ids: readonly (number | undefined)[]): Charge[] {
  return plan.answers.map((answer) => ('written' in answer ? chargeResult(plan.prepared[answer.written]!, ids[answer.written]!, answer.replayed) : answer));
}
