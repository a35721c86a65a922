/**
 * Checkout through the account's processor: subscribe to a plan, buy a pack, cancel the paid
 * plan. Each runs once per idempotency key (once.ts), in one transaction that holds the
 * account's gate mutex: the processor is asked, and what it completed is applied there — the
 * plan's new period and its allowance, the pack's bucket, the plan's end.
 */
import { BillingError } from '../../core/errors.ts';
import { findPack, findPlan } from '../catalog/catalog.ts';
import type { Context } from '../context.ts';
import { once, type EffectOptions } from '../once.ts';
import type { Processor } from '../processor.ts';
import type { Account } from '../rows.ts';
import { lockGate } from '../terms.ts';
import { assertPackPurchasable, creditPack } from './purchases.ts';
import { activatePlan, cancelPlan } from './subscriptions.ts';

function processorOf(ctx: Context, account: Account): Processor {
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

export async function subscribe(ctx: Context, accountId: string, planSlug: string, options?: EffectOptions) {
  return once(ctx.sql, { operation: 'subscribe', request: { accountId, plan: planSlug }, accountId }, options, async (tx) => {
    const now = ctx.clock();
    const plan = await findPlan(tx, planSlug);
    if (plan.status !== 'active') {
      throw new BillingError('plan_not_available', `The plan "${planSlug}" is ${plan.status} and takes no new subscribers`, { slug: planSlug });
    }
    const { account } = await lockGate(tx, accountId, now);
    const processor = processorOf(ctx, account);
    const paid = await processor.subscribe({ account, plan, idempotencyKey: options?.idempotencyKey });
    return activatePlan(tx, accountId, plan, { processor: processor.name, processorRef: paid.reference, now });
  });
}

export async function purchase(ctx: Context, accountId: string, packSlug: string, options?: EffectOptions) {
  return once(ctx.sql, { operation: 'purchase', request: { accountId, pack: packSlug }, accountId }, options, async (tx) => {
    const now = ctx.clock();
    const pack = await findPack(tx, packSlug);
    const { account } = await assertPackPurchasable(tx, accountId, pack, now);
    const processor = processorOf(ctx, account);
    const paid = await processor.purchase({ account, pack, idempotencyKey: options?.idempotencyKey });
    const credit = await creditPack(tx, accountId, pack, { processor: processor.name, processorRef: paid.reference, amountCents: pack.priceCents, now });
    return { paymentRef: paid.reference, bucketId: credit.bucketId, valueMicros: credit.valueMicros, debtPaidMicros: credit.debtPaidMicros };
  });
}

export async function cancel(ctx: Context, accountId: string, immediately: boolean, options?: EffectOptions) {
  return once(ctx.sql, { operation: 'cancel', request: { accountId, immediately }, accountId }, options, async (tx) => {
    const now = ctx.clock();
    const canceled = await cancelPlan(tx, accountId, { now, immediately });
    const { account } = await lockGate(tx, accountId, now);
    await processorOf(ctx, account).cancel({ account, immediately, idempotencyKey: options?.idempotencyKey });
    return canceled;
  });
}
