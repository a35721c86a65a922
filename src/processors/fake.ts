/**
 * The fake processor: a real implementation that charges nobody. Every checkout succeeds at
 * once and writes the same rows a real payment would, so the demo and the tests run with no
 * vendor account. Server-side only: nothing a browser sends can pick it.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from '../billing/context.ts';
import { findPack, findPlan } from '../billing/catalog.ts';
import { assertPackPurchasable, creditPack } from '../billing/purchases.ts';
import { activatePlan, cancelPlan, type Subscription } from '../billing/subscriptions.ts';
import { BillingError } from '../core/errors.ts';

export const FAKE = 'fake';

export async function fakeSubscribe(ctx: Context, accountId: string, planSlug: string): Promise<Subscription> {
  const plan = await findPlan(ctx.sql, planSlug);
  if (plan.status !== 'active') {
    throw new BillingError('plan_not_available', `The plan "${planSlug}" is ${plan.status} and takes no new subscribers`, { slug: planSlug });
  }
  return ctx.sql.transaction((tx) => activatePlan(tx, accountId, plan, { processor: FAKE, processorRef: `fake_sub_${randomUUID()}`, now: ctx.clock() }));
}

export async function fakePurchase(ctx: Context, accountId: string, packSlug: string) {
  const pack = await findPack(ctx.sql, packSlug);
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    await assertPackPurchasable(tx, accountId, pack, now);
    const processorRef = `fake_pay_${randomUUID()}`;
    const credit = await creditPack(tx, accountId, pack, { processor: FAKE, processorRef, amountCents: pack.priceCents, now });
    return { paymentRef: processorRef, bucketId: credit.bucketId, valueMicros: credit.valueMicros, debtPaidMicros: credit.debtPaidMicros };
  });
}

export async function fakeCancel(ctx: Context, accountId: string, options: { immediately?: boolean } = {}): Promise<Subscription> {
  return ctx.sql.transaction((tx) => cancelPlan(tx, accountId, { now: ctx.clock(), immediately: options.immediately }));
}
