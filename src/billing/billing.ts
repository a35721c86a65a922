/**
 * createBilling: the library's front door. Opens the database (migrating it), and returns
 * the facade every integration calls: the gate (authorize, settle, release, record), reads,
 * the fake processor's checkout, and the admin operations.
 */
import type { PackInput } from '../core/pack.ts';
import { PLAN_STATUSES, type Limit, type PlanInput, type PlanStatus } from '../core/plan.ts';
import type { PricingMode, SettingsInput } from '../core/settings.ts';
import type { TokenUsage } from '../core/usage.ts';
import { databaseClock } from '../db/clock.ts';
import { openDatabase, DEFAULT_DATABASE_URL } from '../db/connect.ts';
import type { Sql } from '../db/sql.ts';
import { fakeCancel, fakePurchase, fakeSubscribe } from '../processors/fake.ts';
import { getAccount, upsertAccount, type AccountInput } from './accounts.ts';
import * as adminReads from './admin-reads.ts';
import { authorize, authorizeBatch, type AuthorizeInput, type AuthorizeRequest } from './authorize.ts';
import * as catalog from './catalog.ts';
import { record, recordBatch, type ChargeOptions, type RecordBatchItem, type RecordInput, type SettleOptions } from './charge.ts';
import { chargeBatch, release, settle, type ChargeInput } from './settle.ts';
import { Combiner } from './combiner.ts';
import type { Clock, Context } from './context.ts';
import { grantCredit } from './grants.ts';
import { expireCredit } from './expiry.ts';
import { KnownAccounts } from './known-accounts.ts';
import { HoldIds } from '../core/hold-id.ts';
import { applyPreset } from './presets.ts';
import { PriceBook } from './price-lookup.ts';
import { priceList, priceOf } from './price-list.ts';
import { balance, usage } from './reads.ts';
import { reconcile } from './reconcile.ts';
import { refund } from './refunds.ts';
import { once, type EffectOptions } from './once.ts';
import { lockGate } from './terms.ts';
import { setMemberLimits } from './members.ts';
import { canStart, type CanStartInput } from './can-start.ts';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { wrapLanguageModel } from 'ai';
import { billingMiddleware, type MiddlewareOptions } from '../ai/middleware.ts';
import { routeGuard, type GuardOptions } from '../ai/guard.ts';
import { z } from 'zod';
import { holdIdSchema, idSchema, instant, micros, parseInput, plain, slugSchema, text } from '../core/input.ts';
import type { Micros } from '../core/money.ts';

export interface BillingOptions {
  /** memory://, pglite://PATH (default ./.tollgate) or postgres://…; or an open connection, which stays the caller's to close. */
  database?: string | Sql;
  /**
   * Injected time, for tests and replays. Without it, a process bills at the database's time
   * (PostgreSQL's clock, kept in sync: db/clock.ts), or at its own on PGlite, which runs in it.
   */
  clock?: Clock;
  /** Connections in the PostgreSQL pool. */
  poolSize?: number;
}

const creditInputSchema = plain(
  z
    .object({
      source: z.enum(['bonus', 'adjustment']),
      amountMicros: micros.positive('must be more than zero'),
      reference: text(200).min(1, 'must not be empty: it makes the grant happen once'),
      expiresAt: instant.nullable().optional(),
    })
    .strict(),
);

// The facade's other arguments, checked before anything is read or written (core/input.ts).
const accountIdOf = (value: unknown) => parseInput(idSchema, value, 'account id');
const holdIdOf = (value: unknown) => parseInput(holdIdSchema, value, 'hold id');
const slugOf = (value: unknown, what: 'plan slug' | 'pack slug') => parseInput(slugSchema, value, what);
const cancelOptionsSchema = plain(z.object({ immediately: z.boolean({ error: 'must be true or false' }).optional() }).strict()).optional();
const filterSchema = <S extends string>(statuses: readonly [S, ...S[]]) => plain(z.object({ status: z.enum(statuses).optional() }).strict()).optional();
const planFilterSchema = filterSchema(PLAN_STATUSES);
const packFilterSchema = filterSchema(['active', 'archived']);

export async function createBilling(options: BillingOptions = {}) {
  const given = typeof options.database === 'object' ? options.database : undefined;
  const sql = given ?? (await openDatabase(typeof options.database === 'string' ? options.database : DEFAULT_DATABASE_URL, { poolSize: options.poolSize }));
  const prices = new PriceBook(sql);
  await prices.reload();
  const synced = !options.clock && sql.engine === 'postgres' ? await databaseClock(sql) : undefined;
  const known = new KnownAccounts();
  const ctx: Context = {
    sql,
    clock: options.clock ?? (synced ? () => synced.now() : () => new Date()),
    prices,
    authorizes: new Combiner((requests: AuthorizeRequest[]) => authorizeBatch(ctx, requests)),
    charges: new Combiner((inputs: ChargeInput[]) => chargeBatch(ctx, inputs)),
    known,
    holdIds: new HoldIds(await readHoldIdKey(sql)),
  };
  // A write beside the gate's own moves versions of what this process knows: forgetting the
  // account (`accountOf`; none: every account) saves its next call a write whose guard would
  // fail. Only a saving: every decision on what a process knows is checked by its write.
  const changing = <A extends unknown[], R>(work: (...args: A) => Promise<R>, accountOf: (result: R, args: NoInfer<A>) => string | undefined = () => undefined) =>
    async (...args: A): Promise<R> => {
      const result = await work(...args);
      const accountId = accountOf(result, args);
      if (accountId === undefined) known.forgetAll();
      else known.forget(accountId);
      return result;
    };
  const firstArgument = (_result: unknown, [accountId]: readonly [string, ...unknown[]]) => accountId;
  // The gate, as the facade and the AI SDK middleware call it.
  const meter = {
    authorize: async (accountId: string, input: AuthorizeInput) => authorize(ctx, accountIdOf(accountId), input),
    settle: async (holdId: string, usage: TokenUsage, opts: SettleOptions) => settle(ctx, holdIdOf(holdId), usage, opts),
    release: async (holdId: string) => release(ctx, holdIdOf(holdId)),
  };
  const canStartNow = async (accountId: string, input?: CanStartInput) => canStart(ctx, accountIdOf(accountId), input);

  return {
    sql,
    /** The time this facade bills at: the database's on PostgreSQL, unless a clock was given. */
    now: () => ctx.clock(),
    // Accounts
    upsertAccount: changing((input: AccountInput) => upsertAccount(ctx, input), (account) => account.id),
    getAccount: async (accountId: string) => getAccount(ctx, accountIdOf(accountId)),
    // The gate
    ...meter,
    record: async (accountId: string, input: RecordInput, opts: ChargeOptions) => record(ctx, accountIdOf(accountId), input, opts),
    recordBatch: (items: readonly RecordBatchItem[]) => recordBatch(ctx, items),
    // In AI code
    /** AI SDK middleware (wrapLanguageModel) that authorizes each model call before it and settles it after. */
    middleware: (options: MiddlewareOptions) => billingMiddleware(meter, options),
    /** The model, wrapped with that middleware. */
    wrap: (model: LanguageModelV3, options: MiddlewareOptions) => wrapLanguageModel({ model, middleware: billingMiddleware(meter, options) }),
    /** May this account (and member) start AI work now? The gate's rules on a fresh read; a check that places nothing. */
    canStart: canStartNow,
    /** A Hono middleware that answers canStart's refusal as a 402 before the route runs. */
    guard: (options?: GuardOptions) => routeGuard(canStartNow, options),
    refund: changing((usageEventId: number, input?: { amountMicros?: number }, options?: EffectOptions) => refund(ctx, usageEventId, input, options)),
    // Reads
    balance: async (accountId: string) => balance(ctx, accountIdOf(accountId)),
    usage: async (accountId: string, query: { from: Date | string; to: Date | string; groupBy?: 'model' | 'day' | 'user' }) => usage(ctx, accountIdOf(accountId), query),
    reconcile: async (accountId: string) => reconcile(ctx, accountIdOf(accountId)),
    /**
     * Write off in the ledger the value left in buckets that have expired, on every account;
     * run it daily. The gate never spends expired value either way; a new period writes off the
     * last one's as it opens.
     */
    expireCredit: changing(() => expireCredit(sql, ctx.clock())),
    // Checkout through the fake processor (real processors plug in behind the same calls). Each
    // call that moves money takes an idempotency key: a retry with it gets the first result.
    subscribe: changing(async (accountId: string, planSlug: string, options?: EffectOptions) => {
      const id = accountIdOf(accountId);
      const plan = slugOf(planSlug, 'plan slug');
      return once(sql, { operation: 'subscribe', request: { accountId: id, plan }, accountId: id }, options, (tx) => fakeSubscribe(tx, id, plan, ctx.clock()));
    }, firstArgument),
    purchase: changing(async (accountId: string, packSlug: string, options?: EffectOptions) => {
      const id = accountIdOf(accountId);
      const pack = slugOf(packSlug, 'pack slug');
      return once(sql, { operation: 'purchase', request: { accountId: id, pack }, accountId: id }, options, (tx) => fakePurchase(tx, id, pack, ctx.clock()));
    }, firstArgument),
    cancel: changing(async (accountId: string, input?: { immediately?: boolean }, options?: EffectOptions) => {
      const id = accountIdOf(accountId);
      const { immediately } = parseInput(cancelOptionsSchema, input, 'cancel options') ?? {};
      return once(sql, { operation: 'cancel', request: { accountId: id, immediately: immediately ?? false }, accountId: id }, options, (tx) => fakeCancel(tx, id, { immediately }, ctx.clock()));
    }, firstArgument),
    /** A gift or correction of value (bonus or adjustment), once per reference (and per idempotency key, when given). */
    credit: changing(async (accountId: string, input: z.input<typeof creditInputSchema>, options?: EffectOptions) => {
      const id = accountIdOf(accountId);
      const c = parseInput(creditInputSchema, input, 'credit');
      return once(sql, { operation: 'credit', request: { accountId: id, ...c }, accountId: id }, options, async (tx) => {
        const now = ctx.clock();
        await lockGate(tx, id, now); // the account must exist
        return grantCredit(tx, { accountId: id, source: c.source, amountMicros: c.amountMicros as Micros, reference: c.reference, now, expiresAt: c.expiresAt ?? null });
      });
    }, firstArgument),
    // Admin
    admin: {
      listPlans: async (filter?: { status?: PlanStatus }) => catalog.listPlans(sql, parseInput(planFilterSchema, filter, 'plan filter')),
      getPlan: async (slug: string) => catalog.findPlan(sql, slugOf(slug, 'plan slug')),
      createPlan: changing((input: PlanInput) => catalog.createPlan(sql, input)),
      updatePlan: changing((slug: string, patch: Partial<Omit<PlanInput, 'slug'>>) => catalog.updatePlan(sql, slugOf(slug, 'plan slug'), patch)),
      listPacks: async (filter?: { status?: 'active' | 'archived' }) => catalog.listPacks(sql, parseInput(packFilterSchema, filter, 'pack filter')),
      getPack: async (slug: string) => catalog.findPack(sql, slugOf(slug, 'pack slug')),
      createPack: changing((input: PackInput) => catalog.createPack(sql, input)),
      updatePack: changing((slug: string, patch: Partial<Omit<PackInput, 'slug'>>) => catalog.updatePack(sql, slugOf(slug, 'pack slug'), patch)),
      getSettings: () => catalog.getSettings(sql),
      updateSettings: changing((input: SettingsInput) => catalog.updateSettings(sql, input)),
      setModelPrice: changing((input: Parameters<typeof catalog.setModelPrice>[1]) => catalog.setModelPrice(ctx, input)),
      applyPreset: changing((mode: PricingMode) => applyPreset(ctx, mode)),
      /** Cap a team member's usage within the team's pool (day and/or month, value or tokens); [] removes the caps. */
      setMemberLimits: changing(
        async (accountId: string, userId: string, limits: readonly Limit[]) => setMemberLimits(ctx, accountIdOf(accountId), userId, limits), firstArgument,
      ),
      // Reads for the admin panel
      previewPreset: (mode: PricingMode) => adminReads.previewPreset(ctx, mode),
      listAccounts: (query?: Parameters<typeof adminReads.listAccounts>[1]) => adminReads.listAccounts(ctx, query),
      accountActivity: async (accountId: string, query?: Parameters<typeof adminReads.accountActivity>[2]) => adminReads.accountActivity(ctx, accountIdOf(accountId), query),
      analytics: (query: Parameters<typeof adminReads.analytics>[1]) => adminReads.analytics(ctx, query),
      priceList: (query?: Parameters<typeof priceList>[1]) => priceList(ctx, query),
      priceOf: (query: Parameters<typeof priceOf>[1]) => priceOf(ctx, query),
    },
    /** Stops the clock's sync, and closes the database if it opened it (a connection passed in stays open). */
    close: async () => {
      await synced?.stop();
      if (!given) await sql.close();
    },
  };
}

/** The key hold ids are sealed with: one per database (migration 0008), so every process opens every id. */
async function readHoldIdKey(sql: Sql): Promise<Uint8Array> {
  const [row] = await sql.query<{ value: Uint8Array }>("SELECT value FROM secrets WHERE name = 'hold_ids'");
  if (!row) throw new Error('the hold id key is missing: the database was not migrated');
  return row.value;
}

export type Billing = Awaited<ReturnType<typeof createBilling>>;
