/**
 * A plan change on an active Stripe subscription: its item's price swapped for the new plan's,
 * the proration invoiced and charged at once (always_invoice), and nothing changed unless that
 * payment goes through (error_if_incomplete: Stripe answers a card error and keeps the old
 * price). A downgrade's proration is a credit, kept on the customer's balance for the next
 * invoice. The metadata names the new plan, so every later invoice does; a cancel scheduled for
 * the period's end is called off, which is also how the same plan is resumed.
 */
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';
import { priceOf } from './checkout.ts';
import { keyOf } from './client.ts';
import { PLAN_KEY } from './metadata.ts';

export async function changePlan(stripe: Stripe, request: CheckoutRequest & { plan: Plan; subscriptionRef: string }): Promise<Completed> {
  const { subscriptionRef, plan } = request;
  const subscription = await stripe.subscriptions.retrieve(subscriptionRef);
  const item = subscription.items.data[0];
  if (!item) throw new Error(`Stripe subscription ${subscriptionRef} has no item to change the price of`);
  try {
    await stripe.subscriptions.update(
      subscriptionRef,
      {
        items: [{ id: item.id, price: await priceOf(stripe, 'plan', plan) }],
        proration_behavior: 'always_invoice',
        payment_behavior: 'error_if_incomplete',
        cancel_at_period_end: false,
        metadata: { [PLAN_KEY]: plan.slug },
      },
      keyOf(request),
    );
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
