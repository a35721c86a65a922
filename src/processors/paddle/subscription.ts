/**
 * The end of a subscription at Paddle: at the end of the paid period (Paddle schedules the
 * cancel, and says subscription.canceled when the period ends), or now.
 */
import { ApiError, type Paddle } from '@paddle/paddle-node-sdk';
import { BillingError } from '../../core/errors.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';

export async function cancelSubscription(paddle: Paddle, request: CheckoutRequest & { immediately: boolean; subscriptionRef: string }): Promise<Completed> {
  const { subscriptionRef, immediately } = request;
  if (!subscriptionRef) {
    throw new BillingError('no_subscription', `Account "${request.account.id}" has no Paddle subscription to cancel`, { accountId: request.account.id });
  }
  try {
    await paddle.subscriptions.cancel(subscriptionRef, { effectiveFrom: immediately ? 'immediately' : 'next_billing_period' });
  } catch (error) {
    // Paddle takes no idempotency key: a cancel retried after one that went through finds the
    // subscription canceled already, which is what was asked.
    if (!(error instanceof ApiError && error.code === 'subscription_is_canceled_action_invalid')) throw error;
  }
  return { status: 'completed', reference: subscriptionRef };
}
