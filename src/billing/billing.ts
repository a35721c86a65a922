/**
 * createBilling: the library's front door. Opens the database (migrating it), and returns
 * the facade every integration calls: the gate (authorize, settle, release, record), reads,
 * the fake processor's checkout, and the admin operations.
 */
import type { PackInput } from '../core/pack.ts';
import type { PlanInput, PlanStatus } from '../core/plan.ts';
import type { PricingMode, SettingsInput } from '../core/settings.ts';
import type { TokenUsage } from '../core/usage.ts';
import { openDatabase, DEFAULT_DATABASE_URL } from '../db/connect.ts';
import type { Sql } from '../db/sql.ts';
import { fakeCancel, fakePurchase, fakeSubscribe } from '../processors/fake.ts';
import { getAccount, upsertAccount, type AccountInput } from './accounts.ts';
import { authorize, authorizeBatch, type AuthorizeInput, type AuthorizeRequest } from './authorize.ts';
import * as catalog from './catalog.ts';
import { record, recordBatch, type ChargeOptions, type RecordBatchItem, type RecordInput } from './charge.ts';
import { chargeBatch, release, settle, type ChargeInput } from './settle.ts';
import { Combiner } from './combiner.ts';
import type { Clock, Context } from './context.ts';
import { grant } from './grants.ts';
import { expireCredit } from './expiry.ts';
import { KnownAccounts } from './known-accounts.ts';
import { HoldsBehind } from './holds-behind.ts';
import { applyPreset } from './presets.ts';
import { PriceBook } from './price-lookup.ts';
import { balance, usage } from './reads.ts';
import { reconcile } from './reconcile.ts';
import { refund } from './refunds.ts';
import { lockGate } from './terms.ts';
import { z } from 'zod';
import { parseInput } from '../core/usage.ts';
import type { Micros } from '../core/money.ts';

export interface BillingOptions {
  /** memory://, pglite://PATH (default ./.tollgate) or postgres://…; or an open connection, which stays the caller's to close. */
  database?: string | Sql;
  /** Injected time, for tests and replays. */
  clock?: Clock;
  /** Connections in the PostgreSQL pool. */
  poolSize?: number;
}

const creditInputSchema = z
  .object({
    source: z.enum(['bonus', 'adjustment']),
    amountMicros: z.number().int('must be whole micro-dollars').positive('must be more than zero').max(Number.MAX_SAFE_INTEGER),
    reference: z.string().min(1, 'must not be empty: it makes the grant happen once').max(200),
    expiresAt: z.coerce.date().nullable().optional(),
  })
  .strict();

export async function createBilling(options: BillingOptions = {}) {
  const given = typeof options.database === 'object' ? options.database : undefined;
  const sql = given ?? (await openDatabase(typeof options.database === 'string' ? options.database : DEFAULT_DATABASE_URL, { poolSize: options.poolSize }));
  const prices = new PriceBook(sql);
  await prices.reload();
  const known = new KnownAccounts();
  const ctx: Context = {
    sql,
    clock: options.clock ?? (() => new Date()),
    prices,
    authorizes: new Combiner((requests: AuthorizeRequest[]) => authorizeBatch(ctx, requests)),
    charges: new Combiner((inputs: ChargeInput[]) => chargeBatch(ctx, inputs)),
    known,
    holdsBehind: new HoldsBehind(sql, known),
  };
  // A write beside the gate's own moves versions that what this process knows was read at:
  // an answer given ahead of its write must not be given on what it knew before. `accountOf`
  // names the account changed (none: every account); after a failure, every account.
  const changing = <A extends unknown[], R>(work: (...args: A) => Promise<R>, accountOf: (result: R, args: NoInfer<A>) => string | undefined = () => undefined) =>
    async (...args: A): Promise<R> => {
      let result: R;
      try {
        result = await work(...args);
      } catch (error) {
        known.changed();
        throw error;
      }
      known.changed(accountOf(result, args));
      return result;
    };
  const firstArgument = (_result: unknown, [accountId]: readonly [string, ...unknown[]]) => accountId;

  return {
    sql,
    // Accounts
    upsertAccount: changing((input: AccountInput) => upsertAccount(ctx, input), (account) => account.id),
    getAccount: (accountId: string) => getAccount(ctx, accountId),
    // The gate
    authorize: (accountId: string, input: AuthorizeInput) => authorize(ctx, accountId, input),
    settle: (holdId: string, usage: TokenUsage, opts: ChargeOptions) => settle(ctx, holdId, usage, opts),
    release: (holdId: string) => release(ctx, holdId),
    record: (accountId: string, input: RecordInput, opts: ChargeOptions) => record(ctx, accountId, input, opts),
    recordBatch: (items: readonly RecordBatchItem[]) => recordBatch(ctx, items),
    refund: changing((usageEventId: number, input?: { amountMicros?: number }) => refund(ctx, usageEventId, input)),
    // Reads
    balance: async (accountId: string) => {
      await ctx.holdsBehind.written(); // this process's own holds show at once
      return balance(ctx, accountId);
    },
    usage: (accountId: string, query: { from: Date | string; to: Date | string; groupBy?: 'model' | 'day' }) => usage(ctx, accountId, query),
    reconcile: (accountId: string) => reconcile(ctx, accountId),
    /**
     * Write off in the ledger the value left in buckets that have expired, on every account;
     * run it daily. The gate never spends expired value either way; a new period writes off the
     * last one's as it opens.
     */
    expireCredit: changing(() => expireCredit(sql, ctx.clock())),
    // Checkout through the fake processor (real processors plug in behind the same calls)
    subscribe: changing((accountId: string, planSlug: string) => fakeSubscribe(ctx, accountId, planSlug), firstArgument),
    purchase: changing((accountId: string, packSlug: string) => fakePurchase(ctx, accountId, packSlug), firstArgument),
    cancel: changing((accountId: string, opts?: { immediately?: boolean }) => fakeCancel(ctx, accountId, opts), firstArgument),
    /** A gift or correction of value (bonus or adjustment), once per reference. */
    credit: changing(async (accountId: string, input: z.input<typeof creditInputSchema>) => {
      const c = parseInput(creditInputSchema, input, 'credit');
      return sql.transaction(async (tx) => {
        const now = ctx.clock();
        await lockGate(tx, accountId, now); // the account must exist
        return grant(tx, { accountId, source: c.source, amountMicros: c.amountMicros as Micros, reference: `${c.source}:${c.reference}`, now, expiresAt: c.expiresAt ?? null });
      });
    }, firstArgument),
    // Admin
    admin: {
      listPlans: (filter?: { status?: PlanStatus }) => catalog.listPlans(sql, filter),
      getPlan: (slug: string) => catalog.findPlan(sql, slug),
      createPlan: changing((input: PlanInput) => catalog.createPlan(sql, input)),
      updatePlan: changing((slug: string, patch: Partial<Omit<PlanInput, 'slug'>>) => catalog.updatePlan(sql, slug, patch)),
      listPacks: (filter?: { status?: 'active' | 'archived' }) => catalog.listPacks(sql, filter),
      getPack: (slug: string) => catalog.findPack(sql, slug),
      createPack: changing((input: PackInput) => catalog.createPack(sql, input)),
      updatePack: changing((slug: string, patch: Partial<Omit<PackInput, 'slug'>>) => catalog.updatePack(sql, slug, patch)),
      getSettings: () => catalog.getSettings(sql),
      updateSettings: changing((input: SettingsInput) => catalog.updateSettings(sql, input)),
      setModelPrice: changing((input: Parameters<typeof catalog.setModelPrice>[1]) => catalog.setModelPrice(ctx, input)),
      applyPreset: changing((mode: PricingMode) => applyPreset(ctx, mode)),
    },
    /** Writes the holds answered ahead, then closes the database if it opened it (a connection passed in stays open). */
    close: async () => {
      await ctx.holdsBehind.written();
      if (!given) await sql.close();
    },
  };
}

export type Billing = Awaited<ReturnType<typeof createBilling>>;
