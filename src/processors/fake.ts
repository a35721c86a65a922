/**
 * The fake processor: a real implementation that charges nobody. Every checkout succeeds at
 * once and writes the same rows a real payment would, so the demo and the tests run with no
 * vendor account. Server-side only: nothing a browser sends can pick it. Each call runs in the
 * caller's transaction, the one that also claims its idempotency key.
 */
import { randomUUID } from 'node:crypto';
import { findPack, findPlan } from '../billing/catalog.ts';
import { assertPackPurchasable, creditPack } from '../billing/purchases.ts';
import { activatePlan, cancelPlan, type Subscription } from '../billing/subscriptions.ts';
import { BillingError } from '../core/errors.ts';
import type { Sql } from '../db/sql.ts';

export const FAKE = 'fake';

export interface Purchase {
  paymentRef: string;
  bucketId: number;
  valueMicros: number;
  debtPaidMicros: number;
}

export async function fakeSubscribe(tx: Sql, accountId: string, planSlug: string, now: Date): Promise<Subscription> {
  const plan = await findPlan(tx, planSlug);
  if (plan.status !== 'active') {
    throw new BillingError('plan_not_available', `The plan "${planSlug}" is ${plan.status} and takes no new subscribers`, { slug: planSlug });
  }
  return activatePlan(tx, accountId, plan, { processor: FAKE, processorRef: `fake_sub_${randomUUID()}`, now });
}

export async function fakePurchase(tx: Sql, accountId: string, packSlug: string, now: Date): Promise<Purchase> {
  const pack = await findPack(tx, packSlug);
  await assertPackPurchasable(tx, accountId, pack, now);
  const processorRef = `fake_pay_${randomUUID()}`;
  const credit = await creditPack(tx, accountId, pack, { processor: FAKE, processorRef, amountCents: pack.priceCents, now });
  return { paymentRef: processorRef, bucketId: credit.bucketId, valueMicros: credit.valueMicros, debtPaidMicros: credit.debtPaidMicros };
}

export async function fakeCancel(tx: Sql, accountId: string, options: { immediately?: boolean }, now: Date): Promise<Subscription> {
  return cancelPlan(tx, accountId, { now, immediately: options.immediately });
}
