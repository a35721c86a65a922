/**
 * A plan change on an active Paddle subscription: its items replaced by the new plan's price,
 * the proration billed at once (prorated_immediately), and nothing changed unless that payment
 * goes through (prevent_change: Paddle answers subscription_payment_declined and keeps the old
 * items). A downgrade's proration is a credit Paddle keeps for the next renewal. The custom data
 * names the new plan, so every later transaction does; a cancel scheduled for the period's end
 * is removed, which is also how the same plan is resumed.
 *
 * At renewal (a move to a plan's newer version, or its call-off): the items replaced with
 * do_not_bill, so nothing is billed now and the next renewal is at the new price.
 */
import { ApiError, type Paddle } from '@paddle/paddle-node-sdk';
import { BillingError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';
import { priceOf } from './checkout.ts';
import { ACCOUNT_KEY, PLAN_KEY } from './custom-data.ts';

export async function changePlan(paddle: Paddle, request: CheckoutRequest & { plan: Plan; subscriptionRef: string; at?: 'now' | 'renewal' }): Promise<Completed> {
  const { subscriptionRef, plan } = request;
  const swap = (priceId: string) =>
    paddle.subscriptions.update(subscriptionRef, {
      items: [{ priceId, quantity: 1 }],
      ...(request.at === 'renewal'
        ? { prorationBillingMode: 'do_not_bill' as const }
        : { prorationBillingMode: 'prorated_immediately' as const, onPaymentFailure: 'prevent_change' as const, scheduledChange: null }),
      customData: { [ACCOUNT_KEY]: request.account.id, [PLAN_KEY]: plan.slug },
    });
  try {
    const archived = request.at === 'renewal' ? await archivedPriceOf(paddle, plan) : undefined;
    if (archived) await onSaleWhile(paddle, archived, () => swap(archived));
    else await swap(await priceOf(paddle, 'plan', plan));
  } catch (error) {
    if (error instanceof ApiError && error.code === 'subscription_payment_declined') {
      throw new BillingError('payment_declined', `Paddle declined the payment for the change to "${plan.slug}", so the plan is unchanged: ${error.detail}`, {
        accountId: request.account.id, plan: plan.slug,
      });
    }
    throw error;
  }
  return { status: 'completed', reference: subscriptionRef };
}

/** The plan's price when Paddle archived it since (an older version's, its amount unchanged): none else. */
async function archivedPriceOf(paddle: Paddle, plan: Plan): Promise<string | undefined> {
  const id = plan.processorPrices.paddle;
  if (!id) return undefined;
  const price = await paddle.prices.get(id);
  return price.status === 'archived' && Number(price.unitPrice.amount) === plan.priceCents ? id : undefined;
}

/**
 * Paddle puts a subscription only on a price on sale: an older version's price (a move called
 * off) is put back on sale for the swap alone, and archived again whatever the swap's outcome.
 */
async function onSaleWhile(paddle: Paddle, price: string, swap: () => Promise<unknown>): Promise<void> {
  await paddle.prices.update(price, { status: 'active' });
  try {
    await swap();
  } finally {
    await paddle.prices.archive(price);
  }
}
