/**
 * A plan change on an active Stripe subscription: its item's price swapped for the new plan's,
 * the proration invoiced and charged at once (always_invoice), and nothing changed unless that
 * payment goes through (error_if_incomplete: Stripe answers a card error and keeps the old
 * price). A downgrade's proration is a credit, kept on the customer's balance for the next
 * invoice. The metadata names the new plan, so every later invoice does; a cancel scheduled for
 * the period's end is called off, which is also how the same plan is resumed.
 *
 * At renewal (a move to a plan's newer version, or its call-off): the price swapped with no
 * proration, so nothing is billed now and the next invoice is at the new price.
 */
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';
import { priceOf } from './checkout.ts';
import { keptFailureSaid, keyOf } from './client.ts';
import { PLAN_KEY } from './metadata.ts';

export async function changePlan(stripe: Stripe, request: CheckoutRequest & { plan: Plan; subscriptionRef: string; at?: 'now' | 'renewal' }): Promise<Completed> {
  const { subscriptionRef, plan } = request;
  const subscription = await stripe.subscriptions.retrieve(subscriptionRef);
  const item = subscription.items.data[0];
  if (!item) throw new Error(`Stripe subscription ${subscriptionRef} has no item to change the price of`);
  // It bills the proration: a failure Stripe keeps for the key is said, never asked again under another.
  const swap = (price: string) =>
    keptFailureSaid('the plan change', stripe.subscriptions.update(
      subscriptionRef,
      {
        items: [{ id: item.id, price }],
        ...(request.at === 'renewal'
          ? { proration_behavior: 'none' as const }
          : { proration_behavior: 'always_invoice' as const, payment_behavior: 'error_if_incomplete' as const, cancel_at_period_end: false }),
        metadata: { [PLAN_KEY]: plan.slug },
      },
      keyOf(request),
    ));
  try {
    const archived = request.at === 'renewal' ? await archivedPriceOf(stripe, plan) : undefined;
    if (archived) await onSaleWhile(stripe, archived, () => swap(archived));
    else await swap(await priceOf(stripe, 'plan', plan));
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError) {
      throw new BillingError('payment_declined', `Stripe declined the payment for the change to "${plan.slug}", so the plan is unchanged: ${error.message}`, {
        accountId: request.account.id, plan: plan.slug,
      });
    }
    throw error;
  }
  return { status: 'completed', reference: subscriptionRef };
}

/** The plan's price when Stripe archived it since (an older version's, its amount unchanged): none else. */
async function archivedPriceOf(stripe: Stripe, plan: Plan): Promise<string | undefined> {
  const id = plan.processorPrices.stripe;
  if (!id) return undefined;
  const price = await stripe.prices.retrieve(id);
  return !price.active && price.unit_amount === plan.priceCents ? id : undefined;
}

/**
 * Stripe puts a subscription only on a price on sale: an older version's price (a move called
 * off) is put back on sale for the swap alone, and archived again whatever the swap's outcome.
 */
async function onSaleWhile(stripe: Stripe, price: string, swap: () => Promise<unknown>): Promise<void> {
  await stripe.prices.update(price, { active: true });
  try {
    await swap();
  } finally {
    await stripe.prices.update(price, { active: false });
  }
}
