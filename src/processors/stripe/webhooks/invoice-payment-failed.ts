/**
 * invoice.payment_failed for a subscription: a renewal's payment failed (Stripe retries it, and
 * the subscription is past_due meanwhile). The period it was for is its subscription line's, as
 * for invoice.paid; the account is the subscription's metadata.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue } from '../metadata.ts';
import { dateOf, idOf } from './fields.ts';
import { periodLine } from './invoice-paid.ts';

export function invoicePaymentFailed(event: Stripe.InvoicePaymentFailedEvent): ProcessorEvent | undefined {
  const invoice = event.data.object;
  const subscription = invoice.parent?.subscription_details;
  if (!subscription) return undefined;
  const line = periodLine(invoice);
  const accountId = metadataValue(subscription.metadata, ACCOUNT_KEY) ?? metadataValue(line?.metadata, ACCOUNT_KEY);
  if (!line || !accountId) return undefined;
  return {
    type: 'subscription.past_due',
    eventId: event.id,
    accountId,
    subscriptionRef: idOf(subscription.subscription),
    periodEnd: dateOf(line.period.end),
    at: dateOf(event.created),
  };
}
