/**
 * A plan change on an active Paddle subscription: its items replaced by the new plan's price,
 * the proration billed at once (prorated_immediately), and nothing changed unless that payment
 * goes through (prevent_change: Paddle answers subscription_payment_declined and keeps the old
 * items). A downgrade's proration is a credit Paddle keeps for the next renewal. The custom data
 * names the new plan, so every later transaction does; a cancel scheduled for the period's end
 * is removed, which is also how the same plan is resumed.
 */
import { ApiError, type Paddle } from '@paddle/paddle-node-sdk';
import { BillingError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Completed } from '../../engine/processor.ts';
import { priceOf } from './checkout.ts';
import { ACCOUNT_KEY, PLAN_KEY } from './custom-data.ts';

export async function changePlan(paddle: Paddle, request: CheckoutRequest & { plan: Plan; subscriptionRef: string }): Promise<Completed> {
  const { subscriptionRef, plan } = request;
  const priceId = await priceOf(paddle, 'plan', plan);
  try {
    await paddle.subscriptions.update(subscriptionRef, {
      items: [{ priceId, quantity: 1 }],
      prorationBillingMode: 'prorated_immediately',
      onPaymentFailure: 'prevent_change',
      scheduledChange: null,
      customData: { [ACCOUNT_KEY]: request.account.id, [PLAN_KEY]: plan.slug },
    });
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
