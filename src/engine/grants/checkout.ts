/**
 * Checkout through the account's processor: subscribe to a plan, buy a pack, cancel the paid
 * plan. Each runs once per idempotency key (once.ts), in one transaction that holds the
 * account's gate mutex: the processor is asked, and what it completed is applied there — the
 * plan's new period and its allowance, the pack's bucket, the plan's end. What it left pending
 * (a checkout page the customer has yet to pay on) moves nothing: the processor's webhook does,
 * when the money comes in (webhooks.ts). A retry under the key gets the same page. A processor
 * another replaced (the fake, after a switch) sells nothing, and its subscriptions' ends cannot
 * be called off (replaced-processor.ts).
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { plain, textProblem } from '../../core/input.ts';
import { isFree } from '../../core/plan.ts';
import { findPack, findPlan } from '../catalog/catalog.ts';
import type { Context } from '../context.ts';
import { effectOptionsShape, once, type EffectOptions } from '../once.ts';
import type { CheckoutRequest, Pending, Processor } from '../processor.ts';
import type { Account } from '../rows.ts';
import type { Sql } from '../../db/sql.ts';
import { lockGate } from '../terms.ts';
import { recordRenewals } from './clock-payments.ts';
import { assertPackPurchasable, creditPack } from './purchases.ts';
import { activatePlan, activeSubscription, cancelPlan, changePlan } from './subscriptions.ts';

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
export type PendingCheckout = Pending;

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

/** What a processor needs to know of the account and the call: the customer it made for the account, once. */
export async function checkoutRequest(tx: Sql, processor: Processor, account: Account, options: (EffectOptions & CheckoutUrls) | undefined): Promise<CheckoutRequest> {
  const [row] = await tx.query<{ processor_customer_id: string | null }>('SELECT processor_customer_id FROM accounts WHERE id = $1', [account.id]);
  let customerId = row?.processor_customer_id ?? undefined;
  if (!customerId && processor.ensureCustomer) {
    // The caller holds the account's gate mutex: two first checkouts make one customer, and the
    // processor's own key makes a retry after a crash find the one it made.
    customerId = await processor.ensureCustomer(account, `customer:${account.id}`);
    await tx.query('UPDATE accounts SET processor_customer_id = $2 WHERE id = $1', [account.id, customerId]);
  }
  return { account, customerId, idempotencyKey: options?.idempotencyKey, successUrl: options?.successUrl, cancelUrl: options?.cancelUrl };
}

export async function subscribe(ctx: Context, accountId: string, planSlug: string, { idempotencyKey, ...urls }: EffectOptions & CheckoutUrls = {}) {
  return once(ctx.sql, { operation: 'subscribe', request: { accountId, plan: planSlug, ...urls }, accountId }, idempotencyKey, async (tx) => {
    const now = ctx.clock();
    const plan = await findPlan(tx, planSlug);
    if (plan.status !== 'active') {
      throw new BillingError('plan_not_available', `The plan "${planSlug}" is ${plan.status} and takes no new subscribers`, { slug: planSlug });
    }
    const terms = await lockGate(tx, accountId, now);
    const { account } = terms;
    const processor = processorOf(ctx, account);
    const current = await activeSubscription(tx, accountId);
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
      return changePlan(tx, terms, plan);
    }
    if (processor.changePlan && current?.processor === processor.name && !terms.planEnded) {
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
      await processor.changePlan({ ...(await checkoutRequest(tx, processor, account, { idempotencyKey, ...urls })), plan, subscriptionRef: current.processorRef });
      return changePlan(tx, terms, plan);
    }
    const paid = await processor.subscribe({ ...(await checkoutRequest(tx, processor, account, { idempotencyKey, ...urls })), plan });
    if (paid.status === 'pending') return paid;
    const subscription = await activatePlan(tx, accountId, plan, { processor: processor.name, processorRef: paid.reference, now });
    // On the clock, its first period is paid now, as each renewal is when it begins.
    await recordRenewals(tx, accountId, now);
    return subscription;
  });
}

export async function purchase(ctx: Context, accountId: string, packSlug: string, { idempotencyKey, ...urls }: EffectOptions & CheckoutUrls = {}) {
  return once(ctx.sql, { operation: 'purchase', request: { accountId, pack: packSlug, ...urls }, accountId }, idempotencyKey, async (tx) => {
    const now = ctx.clock();
    const pack = await findPack(tx, packSlug);
    const { account } = await assertPackPurchasable(tx, accountId, pack, now);
    const processor = processorOf(ctx, account);
    const paid = await processor.purchase({ ...(await checkoutRequest(tx, processor, account, { idempotencyKey, ...urls })), pack });
    if (paid.status === 'pending') return paid;
    const credit = await creditPack(tx, accountId, pack, { processor: processor.name, processorRef: paid.reference, amountCents: pack.priceCents, now });
    return { paymentRef: paid.reference, bucketId: credit.bucketId, valueMicros: credit.valueMicros, debtPaidMicros: credit.debtPaidMicros };
  });
}

export async function cancel(ctx: Context, accountId: string, immediately: boolean, options?: EffectOptions) {
  return once(ctx.sql, { operation: 'cancel', request: { accountId, immediately }, accountId }, options?.idempotencyKey, async (tx) => {
    const now = ctx.clock();
    const canceled = await cancelPlan(tx, accountId, { now, immediately });
    const { account } = await lockGate(tx, accountId, now);
    const subscription = await activeSubscription(tx, accountId);
    const processor = processorOf(ctx, account);
    await processor.cancel({ ...(await checkoutRequest(tx, processor, account, options)), immediately, subscriptionRef: subscription?.processorRef ?? '' });
    return canceled;
  });
}
