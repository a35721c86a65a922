/**
 * refund.created, refund.updated and refund.failed: a refund Stripe says succeeded is its
 * payment's refund (a pack's payment intent, or a period's invoice). Either event may tell it
 * first, or both: the engine applies it once per refund id. A refund still pending is told when
 * it succeeds. A refund that failed afterwards (the customer's card or account could not take
 * it: refund.updated and refund.failed) or was canceled never reached the customer: the engine
 * gives back what it took, once, or, told before it, leaves it nothing to do.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue } from '../metadata.ts';
import { paymentRefOf } from '../refund.ts';
import { dateOf } from './fields.ts';

export async function refundChanged(
  stripe: Stripe, event: Stripe.RefundCreatedEvent | Stripe.RefundUpdatedEvent | Stripe.RefundFailedEvent,
): Promise<ProcessorEvent | undefined> {
  const refund = event.data.object;
  const failed = refund.status === 'failed' || refund.status === 'canceled';
  if ((refund.status !== 'succeeded' && !failed) || !refund.payment_intent) return undefined;
  const accountId = metadataValue(refund.metadata, ACCOUNT_KEY);
  const told = {
    eventId: event.id,
    ...(accountId ? { accountId } : {}),
    paymentRef: await paymentRefOf(stripe, refund.payment_intent),
    refundRef: refund.id,
    at: dateOf(event.created),
  };
  return failed ? { type: 'payment.refund_failed', ...told } : { type: 'payment.refunded', ...told, amountCents: refund.amount };
}
