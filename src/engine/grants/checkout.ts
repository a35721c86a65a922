/**
 * Checkout through the account's processor: subscribe to a plan, buy a pack, cancel the paid
 * plan. Each runs once per idempotency key (once.ts). A checkout is checked under the account's
 * gate mutex, asked of the processor outside any transaction (an outage may keep it minutes),
 * then checked again and applied in once's transaction, under the mutex: the plan's new period
 * and its allowance, the pack's bucket. A cancel and a plan changed at the processor go the same
 * way under a claim on the account's subscription, which keeps a second one from reaching the
 * processor in between (subscription-claims.ts), their second look of the subscription they
 * moved (stillOn; docs/design.md says why a plan change is applied as the processor made it).
 * What the processor left pending (a checkout page the customer has yet to pay on) moves
 * nothing: the processor's webhook does, when the money comes in (webhooks.ts); a pack's page
 * records, in once's transaction, the version of the pack it was opened at, which its payment is
 * credited as (catalog/pack-versions.ts). A retry under the key gets the same page. A processor
 * another replaced (the fake, after a switch) sells nothing, and its subscriptions' ends cannot
 * be called off (replaced-processor.ts).
 */
import { z } from 'zod';
import { BillingError, isBillingError } from '../../core/errors.ts';
import { plain, textProblem } from '../../core/input.ts';
import { isFree, type Plan } from '../../core/plan.ts';
import { findPackVersion, findPlan } from '../catalog/catalog.ts';
import { recordPackCheckout } from '../catalog/pack-versions.ts';
import type { Context } from '../context.ts';
import { effectOptionsShape, once, refuseForGood, requestHash, storedResult, type Effect, type EffectOptions, type Once } from '../once.ts';
import type { CheckoutRequest, Pending, Processor } from '../processor.ts';
import type { Account } from '../rows.ts';
import type { Sql } from '../../db/sql.ts';
import { lockGate, type Terms } from '../terms.ts';
import { recordRenewals } from './clock-payments.ts';
import { assertPackPurchasable, creditPack } from './purchases.ts';
import { claimKeptFor, claimSubscription, keepClaim, releaseClaim, releaseKeptFor, type Claim } from './subscription-claims.ts';
import { activatePlan, activeSubscription, assertCancelable, cancelPlan, changePlan, endedMeanwhile, planGone, type ActiveSubscription, type Subscription } from './subscriptions.ts';

export function processorOf(ctx: Context, account: Account): Processor {
  const processor = ctx.processors.get(account.processor);
  if (!processor) {
    throw new BillingError(
      'processor_not_configured',
      `Account "${account.id}" pays through "${account.processor}", which is not configured here: configure it, or move the account to one that is (${[...ctx.processors.keys()].join(', ') || 'none is'})`,
      { accountId: account.id, processor: account.processor },
    );
  }
  return processor;
}

/** A checkout the customer has yet to pay on: where to send them. */
export type PendingCheckout = Omit<Pending, 'reference'>;

/** The page to send the customer to; the processor's reference for it stays here. */
function pageOf({ status, checkoutUrl }: Pending): PendingCheckout {
  return { status, checkoutUrl };
}

/** A page the processor's checkout sends the customer back to. */
export const returnUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
  .max(2_000, 'must be at most 2,000 characters')
  .superRefine((url, ctx) => {
    const problem = textProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Where the processor's page sends the customer back: once paid, and when they leave it unpaid. */
export const checkoutUrlsShape = {
  successUrl: returnUrlSchema.optional().meta({ description: 'Where the processor\'s checkout page sends the customer once paid.' }),
  cancelUrl: returnUrlSchema.optional().meta({ description: 'Where it sends a customer who leaves it unpaid.' }),
};
/** A checkout's options: its idempotency key and its return pages (the facade parses them). */
export const checkoutOptionsSchema = plain(z.object({ ...effectOptionsShape, ...checkoutUrlsShape }).strict()).optional();

/** How a cancel ends the plan. */
export const cancelInputSchema = plain(
  z
    .object({
      immediately: z.boolean({ error: 'must be true or false' }).optional().meta({ description: 'End the plan now (its allowance lapses) instead of at the end of the paid period.' }),
    })
    .strict(),
);

/** Where the processor's page sends the customer back: once paid, and when they leave it unpaid. */
export interface CheckoutUrls {
  successUrl?: string;
  cancelUrl?: string;
}

/**
 * What a processor needs to know of the account and the call: the customer it made for the
 * account, once. `sql` is the database outside any transaction (a checkout, a plan change, a
 * cancel, the portal) or a transaction holding the gate mutex (a webhook ending a replaced
 * subscription, an admin's move to a newer plan version).
 */
export async function checkoutRequest(sql: Sql, processor: Processor, account: Account, options: (EffectOptions & CheckoutUrls) | undefined): Promise<CheckoutRequest> {
  const [row] = await sql.query<{ processor_customer_id: string | null }>('SELECT processor_customer_id FROM accounts WHERE id = $1', [account.id]);
  let customerId = row?.processor_customer_id ?? undefined;
  if (!customerId && processor.ensureCustomer) {
    // The processor's own key makes two first calls, and a retry after a crash, find the one customer it made
    // (a failure Stripe keeps for the key aside: each then asks under a key of its own, and the first stored is kept).
    const made = await processor.ensureCustomer(account, `customer:${account.id}`);
    // One stored meanwhile by a concurrent call is kept; none is stored on an account that moved to another processor.
    const [stored] = await sql.query<{ processor_customer_id: string }>(
      'UPDATE accounts SET processor_customer_id = COALESCE(processor_customer_id, $2) WHERE id = $1 AND processor = $3 RETURNING processor_customer_id',
      [account.id, made, processor.name],
    );
    if (!stored) throw processorMoved(account.id, processor);
    customerId = stored.processor_customer_id;
  }
  return { account, customerId, idempotencyKey: options?.idempotencyKey, successUrl: options?.successUrl, cancelUrl: options?.cancelUrl };
}

/** The refusal of a call whose account moved to another processor while `processor` answered it. */
function processorMoved(accountId: string, processor: Processor): BillingError {
  return new BillingError(
    'processor_not_configured',
    `Account "${accountId}" moved to another processor while ${processor.name} answered: nothing was bought; check out again, at the processor it pays through now`,
    { accountId, processor: processor.name },
  );
}

/** The processor asked for a checkout is still the account's, on the second look. */
function assertSameProcessor(accountId: string, asked: Processor, now: Processor): void {
  if (now !== asked) throw processorMoved(accountId, asked);
}

/**
 * How subscribe moves the account to the plan, checked under the gate mutex: a cancel called off
 * at a processor that keeps no subscription of its own (`resume`), a plan changed at the processor
 * (`change`), or a new checkout.
 */
type SubscribeRoute = { route: 'resume' | 'change' | 'checkout'; terms: Terms; plan: Plan; processor: Processor; subscription?: ActiveSubscription; claim?: Claim };

async function subscribeRoute(ctx: Context, tx: Sql, accountId: string, planSlug: string, isRetry?: (subscriptionRef: string) => Promise<boolean>): Promise<SubscribeRoute> {
  const now = ctx.clock();
  const plan = await findPlan(tx, planSlug);
  const terms = await lockGate(tx, accountId, now);
  const { account } = terms;
  const processor = processorOf(ctx, account);
  const current = await activeSubscription(tx, accountId);
  const changing = processor.changePlan && current?.processor === processor.name && !terms.planEnded;
  // The retry of a plan change its processor left unanswered (its claim kept for it) asks again
  // whatever changed since: the first attempt's change may be made, and the processor answers
  // the retry as it would have answered it (the plan archived, a renewal unpaid, its proration
  // told first and the account on the plan already).
  if (changing && (await isRetry?.(current.processorRef))) return { route: 'change', terms, plan, processor, subscription: current };
  if (plan.status !== 'active') {
    throw new BillingError('plan_not_available', `The plan "${planSlug}" is ${plan.status} and takes no new subscribers`, { slug: planSlug });
  }
  if (!processor.changePlan && current?.processor === processor.name && plan.id === account.planId && account.planEndsAt !== null && !terms.planEnded) {
    // Resumed at a processor that keeps no subscription of its own (the fake): the cancel is called off, the period paid runs on.
    if (processor.replacedBy) {
      // Its renewals would be paid by nobody: the plan ends as scheduled.
      throw new BillingError(
        'processor_not_configured',
        `Account "${accountId}" pays through the ${processor.name} processor, which takes no payments now that ${processor.replacedBy} does: its plan ends as scheduled. ` +
          `Move it to ${processor.replacedBy} (PUT /v1/accounts/{id} with "processor": "${processor.replacedBy}", or its admin page), then subscribe again`,
        { accountId, processor: processor.name },
      );
    }
    return { route: 'resume', terms, plan, processor };
  }
  if (changing) {
    // On a subscription at the processor already: the processor changes its plan (it bills the proration).
    if (terms.account.pastDue || terms.unpaid) {
      throw new BillingError('payment_past_due', `Account "${accountId}" has a renewal not paid yet: once it is (in the billing portal, if its payment failed), change the plan`, { accountId });
    }
    if (isFree(plan)) {
      throw new BillingError('invalid_input', `The plan "${planSlug}" is free: to move account "${accountId}" to it, cancel its subscription (at the period's end, or now)`, { accountId, plan: planSlug });
    }
    if (plan.id === account.planId && account.planEndsAt === null) {
      throw new BillingError('subscription_active', `Account "${accountId}" is on the plan "${planSlug}" already`, { accountId, plan: planSlug });
    }
    return { route: 'change', terms, plan, processor, subscription: current! };
  }
  return { route: 'checkout', terms, plan, processor };
}

/** The refusal of a subscribe whose route changed between its two looks (a webhook put the account on a subscription, or ended it). */
function routeChanged(accountId: string, planSlug: string): BillingError {
  return new BillingError(
    'subscription_active',
    `Account "${accountId}" had its subscription started or ended while this move to the plan "${planSlug}" was asked for: nothing changed; subscribe again`,
    { accountId, plan: planSlug },
  );
}

export async function subscribe(ctx: Context, accountId: string, planSlug: string, { idempotencyKey, ...urls }: EffectOptions & CheckoutUrls = {}): Promise<Once<Subscription | PendingCheckout>> {
  const effect = { operation: 'subscribe', request: { accountId, plan: planSlug, ...urls }, accountId };
  const stored = await storedResult<Subscription | PendingCheckout>(ctx.sql, effect, idempotencyKey);
  if (stored) return answeredAgain(ctx, effect, idempotencyKey, stored);
  const first = await firstLook(ctx, effect, idempotencyKey, async (tx): Promise<SubscribeRoute> => {
    const route = await subscribeRoute(ctx, tx, accountId, planSlug, (ref) => claimKeptFor(tx, accountId, effect, idempotencyKey, ref));
    if (route.route !== 'change') return route;
    return { ...route, claim: await claimSubscription(tx, accountId, effect, 'plan change', idempotencyKey, route.subscription!.processorRef) };
  });
  if (first.route === 'resume') {
    return once(ctx.sql, effect, idempotencyKey, async (tx) => {
      const { route, terms, plan } = await subscribeRoute(ctx, tx, accountId, planSlug);
      if (route !== 'resume') throw routeChanged(accountId, planSlug);
      return changePlan(tx, terms, plan);
    });
  }
  const { processor, plan, terms } = first;
  const request = () => checkoutRequest(ctx.sql, processor, terms.account, { idempotencyKey, ...urls });
  if (first.route === 'change') {
    // Changed at the processor outside any transaction, under the claim taken in the first look,
    // then applied as the processor made it: it billed the proration, so only a subscription no
    // longer the account's refuses it (docs/design.md). Its webhook told first, it is on the plan
    // already, and changePlan moves nothing more.
    const asked = first.subscription!;
    return whileClaimed(
      ctx, first.claim!,
      async () => processor.changePlan!({ ...(await request()), plan, subscriptionRef: asked.processorRef }),
      () => once(ctx.sql, effect, idempotencyKey, async (tx) => {
        const what = `its change to the plan "${planSlug}" was made at ${processor.name}`;
        const outcome = 'the change is not applied here; refund its proration at the processor if the customer should not pay it';
        const again = await stillOn(ctx, tx, accountId, asked, what, outcome);
        if (again.gone) throw new BillingError('no_subscription', `Account "${accountId}" had its paid plan end (${subscriptionName(asked)}) while ${what}: ${outcome}`, { accountId });
        return changePlan(tx, again.terms, plan);
      }),
    );
  }
  // The checkout as checked, asked of the processor outside any transaction: the gate goes on answering meanwhile.
  const paid = await processor.subscribe({ ...(await request()), plan });
  return once(ctx.sql, effect, idempotencyKey, async (tx) => {
    const again = await subscribeRoute(ctx, tx, accountId, planSlug);
    if (again.route !== 'checkout') throw routeChanged(accountId, planSlug);
    assertSameProcessor(accountId, processor, again.processor);
    if (paid.status === 'pending') return pageOf(paid);
    const now = again.terms.now;
    const subscription = await activatePlan(tx, accountId, plan, { processor: processor.name, processorRef: paid.reference, now });
    // On the clock, its first period is paid now, as each renewal is when it begins.
    await recordRenewals(tx, accountId, now);
    return subscription;
  });
}

/** A pack the account may buy, checked under the gate mutex, and the processor that sells it. */
async function packSale(ctx: Context, tx: Sql, accountId: string, packSlug: string) {
  const { pack, version } = await findPackVersion(tx, packSlug);
  const terms = await assertPackPurchasable(tx, accountId, pack, ctx.clock());
  return { pack, version, terms, processor: processorOf(ctx, terms.account) };
}

export async function purchase(ctx: Context, accountId: string, packSlug: string, { idempotencyKey, ...urls }: EffectOptions & CheckoutUrls = {}) {
  const effect = { operation: 'purchase', request: { accountId, pack: packSlug, ...urls }, accountId };
  type Bought = PendingCheckout | { paymentRef: string; bucketId: number; valueMicros: number; debtPaidMicros: number };
  const stored = await storedResult<Bought>(ctx.sql, effect, idempotencyKey);
  if (stored) return stored;
  // Checked, asked of the processor outside any transaction, checked again and applied once.
  const { pack, version, terms, processor } = await ctx.sql.transaction((tx) => packSale(ctx, tx, accountId, packSlug));
  const paid = await processor.purchase({ ...(await checkoutRequest(ctx.sql, processor, terms.account, { idempotencyKey, ...urls })), pack });
  return once<Bought>(ctx.sql, effect, idempotencyKey, async (tx) => {
    const again = await packSale(ctx, tx, accountId, packSlug);
    assertSameProcessor(accountId, processor, again.processor);
    if (paid.status === 'pending') {
      // The version the page sells, as the processor was asked: paid after a change at the same price, it is still the one credited.
      if (paid.reference !== undefined) await recordPackCheckout(tx, processor.name, paid.reference, { id: pack.id, version });
      return pageOf(paid);
    }
    // The pack as the processor sold it.
    const credit = await creditPack(tx, accountId, pack, { processor: processor.name, processorRef: paid.reference, amountCents: pack.priceCents, now: again.terms.now });
    return { paymentRef: paid.reference, bucketId: credit.bucketId, valueMicros: credit.valueMicros, debtPaidMicros: credit.debtPaidMicros };
  });
}

/** The paid plan a cancel ends, checked under the gate mutex: the account's terms, its subscription, and the processor that ends it. */
async function cancelable(ctx: Context, tx: Sql, accountId: string) {
  const terms = await lockGate(tx, accountId, ctx.clock());
  assertCancelable(terms);
  return { terms, subscription: await activeSubscription(tx, accountId), processor: processorOf(ctx, terms.account) };
}

export async function cancel(ctx: Context, accountId: string, immediately: boolean, options?: EffectOptions): Promise<Once<Subscription>> {
  const effect = { operation: 'cancel', request: { accountId, immediately }, accountId };
  const stored = await storedResult<Subscription>(ctx.sql, effect, options?.idempotencyKey);
  if (stored) return answeredAgain(ctx, effect, options?.idempotencyKey, stored);
  // Asked of the processor outside any transaction, under the claim taken in the first look, then
  // applied to the subscription it ended, if that is still the account's.
  const { terms, subscription, processor, claim } = await firstLook(ctx, effect, options?.idempotencyKey, async (tx) => {
    const found = await cancelable(ctx, tx, accountId);
    return { ...found, claim: await claimSubscription(tx, accountId, effect, 'cancel', options?.idempotencyKey, found.subscription?.processorRef ?? null) };
  });
  return whileClaimed(
    ctx, claim,
    async () => processor.cancel({ ...(await checkoutRequest(ctx.sql, processor, terms.account, options)), immediately, subscriptionRef: subscription?.processorRef ?? '' }),
    () => once(ctx.sql, effect, options?.idempotencyKey, async (tx) => {
      const again = await stillOn(ctx, tx, accountId, subscription, `this cancel was asked of ${processor.name}`, 'nothing more was canceled');
      // Ended meanwhile: the processor told of the end first (its webhook of this cancel, or one made in its dashboard), and it stands.
      if (again.gone) return endedMeanwhile(tx, terms, subscription, again.terms.now);
      return cancelPlan(tx, accountId, { now: again.terms.now, immediately });
    }),
  );
}

/**
 * A cancel's or plan change's first look, under the gate mutex. The retry of a call left
 * unanswered, refused (its claim lapsed, or the subscription its first attempt changed is gone),
 * gives its key up for good: the refusal is stored under it, and its claim freed, as a later
 * retry would get the processor's stale answer.
 */
async function firstLook<R>(ctx: Context, effect: Effect, idempotencyKey: string | undefined, look: (tx: Sql) => Promise<R>): Promise<R> {
  try {
    return await ctx.sql.transaction(look);
  } catch (error) {
    if (error instanceof BillingError && idempotencyKey !== undefined && error.code !== 'change_in_progress') {
      const kept = await releaseKeptFor(ctx.sql, effect.accountId!, effect, idempotencyKey);
      if (kept || error.details?.givenUp === true) {
        await refuseForGood(ctx.sql, { key: idempotencyKey, operation: effect.operation, requestHash: requestHash(effect), accountId: effect.accountId! }, error);
      }
    }
    throw error;
  }
}

/** A result stored under the key, given again: a claim its call kept (its answer was lost after it was stored) is given up. */
async function answeredAgain<R>(ctx: Context, effect: Effect, idempotencyKey: string | undefined, stored: R): Promise<R> {
  await releaseKeptFor(ctx.sql, effect.accountId!, effect, idempotencyKey);
  return stored;
}

/**
 * Ask the processor (`ask`), then apply its answer (`apply`), under the account's claim on its
 * subscription. The claim is given up once the answer is applied, or when nothing was changed
 * at the processor or the second look refused it (said to the caller); it is kept for a retry
 * under the call's key when what the processor did is not known: it did not answer, or its
 * answer was not applied (the database failed).
 */
async function whileClaimed<R>(ctx: Context, claim: Claim, ask: () => Promise<unknown>, apply: () => Promise<R>): Promise<R> {
  // Unreachable now, the claim lapses by itself (subscription-claims.ts): the outcome is the call's.
  const settle = (keep: boolean) => (keep ? keepClaim : releaseClaim)(ctx.sql, claim).catch(() => undefined);
  try {
    await ask();
  } catch (error) {
    await settle(isBillingError(error, 'processor_error') && error.details?.unanswered === true);
    throw error;
  }
  try {
    const result = await apply();
    await settle(false);
    return result;
  } catch (error) {
    await settle(!(error instanceof BillingError));
    throw error;
  }
}

/**
 * The second look of a call that changed the account's subscription at the processor: under the
 * gate mutex, the account must still be on the subscription it asked of (`asked`). One replaced
 * by another meanwhile is said as it is, and nothing is applied to it; one that ended (its paid
 * plan gone) is `gone`, for the caller to say.
 */
async function stillOn(ctx: Context, tx: Sql, accountId: string, asked: ActiveSubscription | undefined, what: string, outcome: string): Promise<{ terms: Terms; gone: boolean }> {
  const terms = await lockGate(tx, accountId, ctx.clock());
  const current = await activeSubscription(tx, accountId);
  if (current && (current.processor !== asked?.processor || current.processorRef !== asked.processorRef)) {
    throw new BillingError('subscription_active', `Account "${accountId}" moved from ${subscriptionName(asked)} to ${subscriptionName(current)} while ${what}: ${outcome}; the one it is on now is unchanged`, {
      accountId, asked: asked?.processorRef ?? null, current: current.processorRef,
    });
  }
  return { terms, gone: (asked !== undefined && !current) || planGone(terms) };
}

const subscriptionName = (s: ActiveSubscription | undefined) => (s ? `${s.processor} subscription ${s.processorRef || '(none)'}` : 'no subscription');
