/**
 * createBilling: the library's front door. Opens the database (migrating it), and returns
 * the facade every integration calls: the gate (authorize, settle, release, record), reads,
 * checkout through the processors it is given, and the admin operations. The surfaces over it
 * (the AI SDK middleware, the Hono guard and API, the server) import it; it imports none.
 */
import { packInputSchema, packPatchSchema, type PackInput } from '../core/pack.ts';
import { planInputSchema, planPatchSchema, type Limit, type PlanInput, type PlanStatus } from '../core/plan.ts';
import { settingsInputSchema, type PricingMode, type SettingsInput } from '../core/settings.ts';
import { tokenUsageSchema, type TokenUsage } from '../core/usage.ts';
import { databaseClock } from '../db/clock.ts';
import { openDatabase, DEFAULT_DATABASE_URL } from '../db/connect.ts';
import type { Sql } from '../db/sql.ts';
import { accountInputSchema, getAccount, processorNameSchema, upsertAccount, type AccountInput } from './accounts.ts';
import * as adminReads from './reads/admin-reads.ts';
import * as payments from './reads/payments.ts';
import { moneyRangeSchema, moneyView, type MoneyRange } from './reads/money.ts';
import { catalogSyncs, syncCatalog } from './catalog/sync.ts';
import { authorize, authorizeBatch, authorizeInputSchema, type AuthorizeInput, type AuthorizeRequest, type ParsedAuthorizeInput } from './gate/authorize.ts';
import * as catalog from './catalog/catalog.ts';
import {
  batchSchema, chargeOptionsSchema, record, recordBatch, recordInputSchema, settleOptionsSchema, type ChargeOptions, type RecordBatchItem, type RecordInput, type SettleOptions,
} from './charge/charge.ts';
import { chargeBatch, type ChargeInput } from './charge/batch.ts';
import { release, settle } from './charge/settle.ts';
import { Combiner } from './combiner.ts';
import { HeldGates } from './gate/held-gates.ts';
import type { Clock, Context } from './context.ts';
import { expireCredit } from './grants/expiry.ts';
import { KnownAccounts } from './gate/known-accounts.ts';
import { HoldIds } from '../core/hold-id.ts';
import { applyPreset, presetOptionsSchema } from './catalog/presets.ts';
import { callOffVersionMove, moveToCurrentVersion, planVersions, planVersionMoveSchema } from './catalog/plan-versions.ts';
import { catalogChecks, presetChecks, readCatalog } from './catalog/checks.ts';
import { PriceBook } from './catalog/price-book.ts';
import { BillingError } from '../core/errors.ts';
import { priceList, priceOf } from './catalog/price-list.ts';
import { balance, usage, usageQuerySchema, type UsageQuery } from './reads/reads.ts';
import { reconcile } from './reads/reconcile.ts';
import { ledgerTotals } from './reads/ledger-totals.ts';
import { refund, refundInputSchema, type RefundInput } from './grants/refunds.ts';
import { cancel, cancelInputSchema, checkoutOptionsSchema, purchase, subscribe, type CheckoutUrls } from './grants/checkout.ts';
import { receiveWebhook } from './grants/webhooks.ts';
import { portal, portalInputSchema, type PortalInput } from './grants/portal.ts';
import { paymentRefundInputSchema, refundPayment, type PaymentRefundInput } from './grants/payment-refunds.ts';
import { autoRechargeInputSchema, setAutoRecharge, type AutoRechargeInput } from './grants/auto-recharge.ts';
import { afterCharges, recentRecharges, runRecharges } from './grants/recharges.ts';
import { runClockRenewals } from './grants/clock-payments.ts';
import { credit, creditInputSchema, type CreditInput } from './grants/grants.ts';
import { takeBack, takeBackInputSchema, type TakeBackInput } from './grants/take-back.ts';
import { effectOptionsSchema, type EffectOptions } from './once.ts';
import type { Processor } from './processor.ts';
import { memberLimitsSchema, memberOptionsSchema, setMemberLimits } from './gate/members.ts';
import { canStart, type CanStartInput } from './gate/can-start.ts';
import { z } from 'zod';
import { accountIdSchema, holdIdSchema, idSchema, parseInput, rowId, slugSchema } from '../core/input.ts';

export interface BillingOptions {
  /** memory://, pglite://PATH (default ./.tollgate) or postgres://…; or an open connection, which stays the caller's to close. */
  database?: string | Sql;
  /**
   * Injected time, for tests and replays. Without it, a process bills at the database's time
   * (PostgreSQL's clock, kept in sync: db/clock.ts), or at its own on PGlite, which runs in it.
   */
  clock?: Clock;
  /** How often a process measures PostgreSQL's clock again, in milliseconds (default a minute): a step of the server's clock is followed within it. */
  clockResyncMs?: number;
  /** Connections in the PostgreSQL pool. */
  poolSize?: number;
  /**
   * The payment processors accounts may pay through, by name (an account's `processor`, "fake"
   * unless set): `fakeProcessor()` completes every checkout at once and charges nobody. Without
   * one, checkout is refused with `processor_not_configured`.
   */
  processors?: readonly Processor[];
  /**
   * Whether a process remembers the accounts it served last (gate/known-accounts.ts), so that
   * their next calls skip a read; every answer is still proven by a version-guarded write.
   * Default true.
   */
  rememberAccounts?: boolean;
  /** The processor new accounts pay through (default "fake"); one of `processors`. */
  defaultProcessor?: string;
}

// The facade's other arguments, checked before anything is read or written (core/input.ts).
const accountIdOf = (value: unknown) => parseInput(accountIdSchema, value, 'account id');
const holdIdOf = (value: unknown) => parseInput(holdIdSchema, value, 'hold id');
const slugOf = (value: unknown, what: 'plan slug' | 'pack slug') => parseInput(slugSchema, value, what);
const effectOptionsOf = (value: unknown) => parseInput(effectOptionsSchema, value, 'options');
const planFilterOf = catalog.planFilterSchema.optional();
const packFilterOf = catalog.packFilterSchema.optional();

export async function createBilling(options: BillingOptions = {}) {
  const given = typeof options.database === 'object' ? options.database : undefined;
  const sql = given ?? (await openDatabase(typeof options.database === 'string' ? options.database : DEFAULT_DATABASE_URL, { poolSize: options.poolSize }));
  const prices = new PriceBook(sql);
  await prices.reload();
  const synced = !options.clock && sql.engine === 'postgres' ? await databaseClock(sql, { resyncMs: options.clockResyncMs }) : undefined;
  const known = new KnownAccounts(options.rememberAccounts === false ? 0 : undefined);
  const ctx: Context = {
    sql,
    clock: options.clock ?? (synced ? () => synced.now() : () => new Date()),
    prices,
    authorizes: new Combiner((requests: AuthorizeRequest[]) => authorizeBatch(ctx, requests)),
    charges: new Combiner((inputs: ChargeInput[]) => chargeBatch(ctx, inputs)),
    known,
    heldGates: new HeldGates(),
    holdIds: new HoldIds(await readHoldIdKey(sql)),
    processors: new Map((options.processors ?? []).map((p) => [p.name, p])),
    defaultProcessor: options.defaultProcessor ?? 'fake',
  };
  if (options.defaultProcessor !== undefined && !ctx.processors.has(options.defaultProcessor)) {
    throw new BillingError('processor_not_configured', `The default processor "${options.defaultProcessor}" is not among the processors given`, { processor: options.defaultProcessor });
  }
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
  // After a charge is answered for: an account it left under its auto-recharge threshold gets its
  // recharge job (grants/recharges.ts). Never the charge's failure: the sweep makes a job missed here.
  const rechargeAfter = async <C extends { accountId: string } | readonly { accountId: string }[]>(charged: C): Promise<C> => {
    const ids = Array.isArray(charged) ? charged.map((c: { accountId: string }) => c.accountId) : [(charged as { accountId: string }).accountId];
    await afterCharges(ctx, ids).catch(() => undefined);
    return charged;
  };

  // The calls on arguments parsed already (`parsed` below); each call of the facade parses what
  // its caller gives, then calls its twin here.
  const parsed = {
    upsertAccount: changing((account: z.output<typeof accountInputSchema>) => upsertAccount(ctx, account), (account) => account.id),
    getAccount: (accountId: string) => getAccount(ctx, accountId),
    authorize: (accountId: string, input: ParsedAuthorizeInput) => authorize(ctx, accountId, input),
    settle: async (holdId: string, usage: TokenUsage, options: z.output<typeof settleOptionsSchema>) => rechargeAfter(await settle(ctx, holdId, usage, options)),
    release: (holdId: string) => release(ctx, holdId),
    record: async (accountId: string, input: z.output<typeof recordInputSchema>, options: z.output<typeof chargeOptionsSchema>) =>
      rechargeAfter(await record(ctx, accountId, input, options)),
    recordBatch: async (items: z.output<typeof batchSchema>) => rechargeAfter(await recordBatch(ctx, items)),
    refund: changing((usageEventId: number, input: z.output<typeof refundInputSchema>, options?: EffectOptions) => refund(ctx, usageEventId, input, options)),
    balance: (accountId: string) => balance(ctx, accountId),
    usage: (accountId: string, query: z.output<typeof usageQuerySchema>) => usage(ctx, accountId, query),
    reconcile: (accountId: string) => reconcile(ctx, accountId),
    payments: (accountId: string) => payments.accountPayments(ctx, accountId),
    refundPayment: changing(
      (accountId: string, paymentId: number, input: z.output<typeof paymentRefundInputSchema>, options?: EffectOptions) => refundPayment(ctx, accountId, paymentId, input, options),
      firstArgument,
    ),
    subscribe: changing((accountId: string, planSlug: string, options?: EffectOptions & CheckoutUrls) => subscribe(ctx, accountId, planSlug, options), firstArgument),
    purchase: changing((accountId: string, packSlug: string, options?: EffectOptions & CheckoutUrls) => purchase(ctx, accountId, packSlug, options), firstArgument),
    cancel: changing((accountId: string, immediately: boolean, options?: EffectOptions) => cancel(ctx, accountId, immediately, options), firstArgument),
    portal: (accountId: string, input: z.output<typeof portalInputSchema>) => portal(ctx, accountId, input),
    credit: changing((accountId: string, input: z.output<typeof creditInputSchema>, options?: EffectOptions) => credit(ctx, accountId, input, options), firstArgument),
    takeBack: changing(
      (accountId: string, bucketId: number, input: z.output<typeof takeBackInputSchema>, options?: EffectOptions) => takeBack(ctx, accountId, bucketId, input, options),
      firstArgument,
    ),
    setAutoRecharge: changing((accountId: string, input: z.output<typeof autoRechargeInputSchema>) => setAutoRecharge(ctx, accountId, input), firstArgument),
    admin: {
      listPlans: (filter: { status?: PlanStatus }) => catalog.listPlans(sql, filter),
      getPlan: (slug: string) => catalog.findPlan(sql, slug),
      createPlan: changing((plan: catalog.ParsedPlan) => catalog.createPlanParsed(sql, plan)),
      updatePlan: changing((slug: string, changes: catalog.ParsedPlanChanges) => catalog.updatePlanParsed(sql, slug, changes)),
      moveToCurrentVersion: changing((slug: string, whom: z.output<typeof planVersionMoveSchema>) => moveToCurrentVersion(ctx, slug, whom)),
      callOffVersionMove: changing((slug: string, accountId: string) => callOffVersionMove(ctx, slug, accountId), (_result, [, accountId]) => accountId),
      listPacks: (filter: { status?: 'active' | 'archived' }) => catalog.listPacks(sql, filter),
      getPack: (slug: string) => catalog.findPack(sql, slug),
      createPack: changing((pack: catalog.ParsedPack) => catalog.createPackParsed(sql, pack)),
      updatePack: changing((slug: string, changes: catalog.ParsedPackChanges) => catalog.updatePackParsed(sql, slug, changes)),
      updateSettings: changing((settings: catalog.ParsedSettings) => catalog.updateSettings(sql, settings)),
      setModelPrice: changing((price: catalog.ParsedModelPrice) => catalog.setModelPrice(ctx, price)),
      removeModelPrice: changing((key: z.output<typeof catalog.modelPriceKeySchema>) => catalog.removeModelPrice(ctx, key)),
      setMemberLimits: changing((accountId: string, userId: string, limits: Limit[], options: z.output<typeof memberOptionsSchema> = {}) =>
        setMemberLimits(ctx, accountId, userId, limits, options.name), firstArgument),
      syncCatalog: (processor: string) => syncCatalog(ctx, processor),
      analytics: (range: z.output<typeof moneyRangeSchema>) => moneyView(ctx, range),
    },
  };

  return {
    sql,
    /** The time this facade bills at: the database's on PostgreSQL, unless a clock was given. */
    now: () => ctx.clock(),
    // Accounts
    upsertAccount: async (input: AccountInput) => parsed.upsertAccount(parseInput(accountInputSchema, input, 'account')),
    getAccount: async (accountId: string) => parsed.getAccount(accountIdOf(accountId)),
    // The gate
    authorize: async (accountId: string, input: AuthorizeInput) => parsed.authorize(accountIdOf(accountId), parseInput(authorizeInputSchema, input, 'authorize request')),
    settle: async (holdId: string, usage: TokenUsage, opts: SettleOptions) =>
      parsed.settle(holdIdOf(holdId), parseInput(tokenUsageSchema, usage, 'usage'), parseInput(settleOptionsSchema, opts, 'settle options')),
    release: async (holdId: string) => parsed.release(holdIdOf(holdId)),
    record: async (accountId: string, input: RecordInput, opts: ChargeOptions) =>
      parsed.record(accountIdOf(accountId), parseInput(recordInputSchema, input, 'record request'), parseInput(chargeOptionsSchema, opts, 'record options')),
    recordBatch: async (items: readonly RecordBatchItem[]) => parsed.recordBatch(parseInput(batchSchema, items, 'record batch')),
    /** May this account (and member) start AI work now? The gate's rules on a fresh read; a check that places nothing. */
    canStart: async (accountId: string, input?: CanStartInput) => canStart(ctx, accountIdOf(accountId), input),
    refund: async (usageEventId: number, input?: RefundInput, options?: EffectOptions) =>
      parsed.refund(parseInput(rowId, usageEventId, 'usage event id'), parseInput(refundInputSchema, input ?? {}, 'refund'), effectOptionsOf(options)),
    // Reads
    balance: async (accountId: string) => parsed.balance(accountIdOf(accountId)),
    usage: async (accountId: string, query: UsageQuery) => parsed.usage(accountIdOf(accountId), parseInput(usageQuerySchema, query, 'usage query')),
    reconcile: async (accountId: string) => parsed.reconcile(accountIdOf(accountId)),
    /** The account's payments through its processors, newest first. */
    payments: async (accountId: string) => parsed.payments(accountIdOf(accountId)),
    /**
     * Refund a payment (all that is left of it, or amountCents) through the processor it was paid
     * through, once per idempotency key (required). Its value comes back out of the account when the
     * processor says it is done: at once when it answers so, else with its webhook.
     */
    refundPayment: async (accountId: string, paymentId: number, input: PaymentRefundInput | undefined, options: EffectOptions) =>
      parsed.refundPayment(accountIdOf(accountId), parseInput(rowId, paymentId, 'payment id'), parseInput(paymentRefundInputSchema, input ?? {}, 'payment refund'), effectOptionsOf(options)),
    /**
     * Write off in the ledger the value left in buckets that have expired, on every account;
     * run it daily. The gate never spends expired value either way; a new period writes off the
     * last one's as it opens.
     */
    expireCredit: changing(() => expireCredit(sql, ctx.clock())),
    // Checkout through the account's processor. Each call that moves money takes an idempotency
    // key: a retry with it gets the first result.
    subscribe: async (accountId: string, planSlug: string, options?: EffectOptions & CheckoutUrls) =>
      parsed.subscribe(accountIdOf(accountId), slugOf(planSlug, 'plan slug'), parseInput(checkoutOptionsSchema, options, 'checkout options')),
    purchase: async (accountId: string, packSlug: string, options?: EffectOptions & CheckoutUrls) =>
      parsed.purchase(accountIdOf(accountId), slugOf(packSlug, 'pack slug'), parseInput(checkoutOptionsSchema, options, 'checkout options')),
    cancel: async (accountId: string, input?: { immediately?: boolean }, options?: EffectOptions) =>
      parsed.cancel(accountIdOf(accountId), parseInput(cancelInputSchema.optional(), input, 'cancel options')?.immediately ?? false, effectOptionsOf(options)),
    /** A page of the account's processor where the customer pays what is due and manages payment methods: `{ url }`. */
    portal: async (accountId: string, input: PortalInput) => parsed.portal(accountIdOf(accountId), parseInput(portalInputSchema, input, 'portal options')),
    /**
     * A processor's webhook, as it arrived (the raw body, for its signature): each event stored
     * once and applied in the same transaction as its effect. A bad signature throws the
     * processor's WebhookSignatureError with nothing stored; a failure to apply is recorded and
     * thrown, for the processor to retry.
     */
    receiveWebhook: changing(async (processor: string, rawBody: string, headers: Headers) => receiveWebhook(ctx, processor, rawBody, headers)),
    /** A gift or correction of value (bonus or adjustment), once per reference (and per idempotency key, when given). */
    credit: async (accountId: string, input: CreditInput, options?: EffectOptions) =>
      parsed.credit(accountIdOf(accountId), parseInput(creditInputSchema, input, 'credit'), effectOptionsOf(options)),
    /**
     * Take back a bonus or adjustment granted by mistake (all it has left unspent, or amountMicros
     * of it): a negative adjustment in the ledger, never more than the bucket has left; once per idempotency key.
     */
    takeBack: async (accountId: string, bucketId: number, input?: TakeBackInput, options?: EffectOptions) =>
      parsed.takeBack(accountIdOf(accountId), parseInput(rowId, bucketId, 'bucket id'), parseInput(takeBackInputSchema, input ?? {}, 'take back'), effectOptionsOf(options)),
    /**
     * Auto-recharge: buy `pack` through the account's processor, on its saved card, whenever a
     * charge leaves less than `thresholdMicros` available (within the monthly caps). The balance
     * shows it, with why it turned itself off if it did; set it again to turn it back on.
     */
    setAutoRecharge: async (accountId: string, input: AutoRechargeInput) =>
      parsed.setAutoRecharge(accountIdOf(accountId), parseInput(autoRechargeInputSchema, input, 'auto recharge setting')),
    /**
     * Run the recharges waiting, here (any number of processes may at once), after a sweep for
     * those due that no charge enqueued (a process that died, one that did not remember the
     * account; `sweep: false` skips it). Run it every second or so (the server does, sweeping
     * every tenth run); each recharge is charged and credited once, whoever runs it and however often.
     */
    runRecharges: (options?: { limit?: number; sweep?: boolean }) => runRecharges(ctx, options),
    /**
     * Record the renewals due of the subscriptions the clock runs (the fake processor's): each
     * period's payment as it begins, whether or not the account calls. Any number of processes
     * may run it at once (each renewal is recorded once); run it every second or so (the server does).
     * A subscription the clock runs on a processor another replaced (`replacedBy`) renews no more:
     * it is ended at its period's end, as its customer's cancel would be (`endsAt`).
     */
    runClockRenewals: (options?: { limit?: number }) => runClockRenewals(ctx, options),
    // Admin
    admin: {
      listPlans: async (filter?: { status?: PlanStatus }) => parsed.admin.listPlans(parseInput(planFilterOf, filter, 'plan filter') ?? {}),
      getPlan: async (slug: string) => parsed.admin.getPlan(slugOf(slug, 'plan slug')),
      createPlan: async (input: PlanInput) => parsed.admin.createPlan(parseInput(planInputSchema, input, 'plan')),
      updatePlan: async (slug: string, patch: catalog.PlanChanges) =>
        parsed.admin.updatePlan(slugOf(slug, 'plan slug'), parseInput(planPatchSchema, patch, 'plan changes')),
      /** The plan's current version, and the accounts on older ones (what they keep until moved). */
      planVersions: async (slug: string) => planVersions(ctx, slugOf(slug, 'plan slug')),
      /** Move one account (`accountId`), or every account that can be, from an older version of the plan to its current one: `when` now, or at each one's renewal. */
      moveToCurrentVersion: async (slug: string, whom?: z.input<typeof planVersionMoveSchema>) =>
        parsed.admin.moveToCurrentVersion(slugOf(slug, 'plan slug'), parseInput(planVersionMoveSchema, whom ?? {}, 'whom to move')),
      /** Call off the account's move to the plan's current version waiting for its renewal (its price at the processor goes back too). */
      callOffVersionMove: async (slug: string, accountId: string) => parsed.admin.callOffVersionMove(slugOf(slug, 'plan slug'), accountIdOf(accountId)),
      listPacks: async (filter?: { status?: 'active' | 'archived' }) => parsed.admin.listPacks(parseInput(packFilterOf, filter, 'pack filter') ?? {}),
      getPack: async (slug: string) => parsed.admin.getPack(slugOf(slug, 'pack slug')),
      createPack: async (input: PackInput) => parsed.admin.createPack(parseInput(packInputSchema, input, 'pack')),
      updatePack: async (slug: string, patch: catalog.PackChanges) =>
        parsed.admin.updatePack(slugOf(slug, 'pack slug'), parseInput(packPatchSchema, patch, 'pack changes')),
      getSettings: () => catalog.getSettings(sql),
      updateSettings: async (input: SettingsInput) => parsed.admin.updateSettings(parseInput(settingsInputSchema, input, 'settings')),
      setModelPrice: async (input: catalog.ModelPriceInput) => parsed.admin.setModelPrice(parseInput(catalog.modelPriceInputSchema, input, 'model price')),
      /** Remove a price override: calls from now on are priced as if it had never been set. */
      removeModelPrice: async (key: catalog.ModelPriceKey) => parsed.admin.removeModelPrice(parseInput(catalog.modelPriceKeySchema, key, 'model price override')),
      /** Apply a pricing mode; the subscribers of a plan it gives new terms keep their version (the default), or move to the new one at their renewal. */
      applyPreset: changing(async (mode: PricingMode, options?: z.input<typeof presetOptionsSchema>) =>
        applyPreset(ctx, mode, parseInput(presetOptionsSchema, options ?? {}, 'preset options'))),
      /** Cap a team member's usage within the team's pool (day and/or month, value or tokens); [] removes the caps. `name`, when given, replaces the member's name shown beside them. */
      setMemberLimits: async (accountId: string, userId: string, limits: readonly Limit[], options?: z.input<typeof memberOptionsSchema>) =>
        parsed.admin.setMemberLimits(
          accountIdOf(accountId), parseInput(idSchema, userId, 'user id'), parseInput(memberLimitsSchema, limits, 'member limits'),
          parseInput(memberOptionsSchema, options ?? {}, 'member options'),
        ),
      // Reads for the admin panel
      /** Every plan, pack and the settings that price them: what the sanity checks read. */
      catalog: () => readCatalog(ctx),
      /** What is wrong with the catalog as it stands, in the owner's words: plans or packs that lose money, a pack nobody can spend… */
      checks: () => catalogChecks(ctx),
      previewPreset: (mode: PricingMode) => adminReads.previewPreset(ctx, mode),
      /** What applying the preset `mode` would leave wrong with the plans and packs (the checks it would raise), before it is applied. */
      presetChecks: (mode: PricingMode) => presetChecks(ctx, mode),
      /** The accounts on each of these plans: how many, and the first few. */
      planHolders: async (slugs: readonly string[]) => adminReads.planHolders(ctx, slugs.map((s) => slugOf(s, 'plan slug'))),
      /** The accounts with value left in buckets this pack granted: how many, the first few, and how much. */
      packHolders: async (slug: string) => adminReads.packHolders(ctx, slugOf(slug, 'pack slug')),
      listAccounts: (query?: Parameters<typeof adminReads.listAccounts>[1]) => adminReads.listAccounts(ctx, query),
      accountActivity: async (accountId: string, query?: Parameters<typeof adminReads.accountActivity>[2]) => adminReads.accountActivity(ctx, accountIdOf(accountId), query),
      /** What the account's ledger adds up to, and the lines from it to what is available: write-offs pending, value not spendable, holds, the allowance to open. */
      ledgerTotals: async (accountId: string) => ledgerTotals(ctx, accountIdOf(accountId)),
      /** The money view over a range of UTC days: money collected, usage value charged, provider cost and margin (reads/money.ts). */
      analytics: async (range: MoneyRange) => parsed.admin.analytics(parseInput(moneyRangeSchema, range, 'range')),
      priceList: (query?: Parameters<typeof priceList>[1]) => priceList(ctx, query),
      priceOf: (query: Parameters<typeof priceOf>[1]) => priceOf(ctx, query),
      /** The processors configured here, and which take webhooks. */
      processors: () => payments.processors(ctx),
      /**
       * Make, at a processor, the prices plans and packs on sale sell at, and keep their ids on
       * them (processorPrices); run again, it makes nothing. What it did, item by item.
       */
      syncCatalog: async (processor: string) => parsed.admin.syncCatalog(parseInput(processorNameSchema, processor, 'processor')),
      /** Each processor's last catalog sync, and its last failure. */
      catalogSyncs: () => catalogSyncs(ctx),
      /** Who the account pays through (its customer there), and its latest subscription. */
      accountSubscription: async (accountId: string) => payments.accountSubscription(ctx, accountIdOf(accountId)),
      /** The account's latest recharges, newest first. */
      recharges: async (accountId: string) => recentRecharges(sql, accountIdOf(accountId)),
      /** The webhook events processors sent, newest first, with what became of each. */
      webhookEvents: (query?: Parameters<typeof payments.webhookEvents>[1]) => payments.webhookEvents(ctx, query),
    },
    /**
     * The calls above, on arguments their schemas parsed already: for a caller that parses with
     * the same schemas (the /v1 routes), so that its input is parsed once. Nothing is checked
     * again here: give these only what a parse returned.
     */
    parsed,
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
