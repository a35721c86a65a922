/**
 * The end of a subscription at Stripe: at the end of the paid period (Stripe deletes it then, and
 * says so with customer.subscription.deleted), or now.
 */
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';
import { retriedAfresh } from './client.ts';

export async function cancelSubscription(stripe: Stripe, request: CheckoutRequest & { immediately: boolean; subscriptionRef: string }): Promise<Completed> {
  const { subscriptionRef, immediately } = request;
  if (!subscriptionRef) {
    throw new BillingError('no_subscription', `Account "${request.account.id}" has no Stripe subscription to cancel`, { accountId: request.account.id });
  }
  try {
    // Asked twice, either is what was asked once: after a failure Stripe keeps for the key, it is asked again under another.
    if (immediately) await retriedAfresh(request.idempotencyKey, (options) => stripe.subscriptions.cancel(subscriptionRef, {}, options));
    else await retriedAfresh(request.idempotencyKey, (options) => stripe.subscriptions.update(subscriptionRef, { cancel_at_period_end: true }, options));
  } catch (error) {
    // Ended at Stripe already (in its dashboard or portal, its webhook not yet here), which is what was asked.
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError && (await ended(stripe, subscriptionRef)))) throw error;
  }
  return { status: 'completed', reference: subscriptionRef };
}

async function ended(stripe: Stripe, subscriptionRef: string): Promise<boolean> {
  const { status } = await stripe.subscriptions.retrieve(subscriptionRef);
  return status === 'canceled' || status === 'incomplete_expired';
}
