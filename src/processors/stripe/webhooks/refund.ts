/**
 * refund.created and refund.updated: a refund Stripe says succeeded is its payment's refund (a
 * pack's payment intent, or a period's invoice). Either event may tell it first, or both: the
 * engine applies it once per refund id. A refund still pending is told when it succeeds.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue } from '../metadata.ts';
import { paymentRefOf } from '../refund.ts';
import { dateOf } from './fields.ts';

export async function refundSucceeded(stripe: Stripe, event: Stripe.RefundCreatedEvent | Stripe.RefundUpdatedEvent): Promise<ProcessorEvent | undefined> {
  const refund = event.data.object;
  if (refund.status !== 'succeeded' || !refund.payment_intent) return undefined;
  const accountId = metadataValue(refund.metadata, ACCOUNT_KEY);
  return {
    type: 'payment.refunded',
    eventId: event.id,
    ...(accountId ? { accountId } : {}),
    paymentRef: await paymentRefOf(stripe, refund.payment_intent),
    refundRef: refund.id,
    amountCents: refund.amount,
    at: dateOf(event.created),
  };
}
