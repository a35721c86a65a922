/**
 * A Stripe webhook in the engine's words. The signature is checked by the SDK (constructEvent: an
 * HMAC of the timestamp and raw body with the endpoint's secret, within five minutes); then each
 * event type the engine acts on has its own file, and every other event is acknowledged as
 * ignored, with the account it names, if any.
 */
import Stripe from 'stripe';
import { WebhookSignatureError, type ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue } from '../metadata.ts';
import { checkoutSessionCompleted } from './checkout-session-completed.ts';
import { customerSubscriptionDeleted } from './customer-subscription-deleted.ts';
import { invoicePaid } from './invoice-paid.ts';
import { chargeDispute } from './charge-dispute.ts';
import { refundChanged } from './refund.ts';
import { paymentIntentFailed, paymentIntentSucceeded } from './payment-intent.ts';
import { invoicePaymentFailed } from './invoice-payment-failed.ts';

export async function parseWebhook(stripe: Stripe, webhookSecret: string, rawBody: string, headers: Headers): Promise<ProcessorEvent[]> {
  let event: Stripe.Event;
  try {
    event = stripe.webhooks.constructEvent(rawBody, headers.get('stripe-signature') ?? '', webhookSecret);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) throw new WebhookSignatureError(`Stripe webhook not verified: ${error.message}`);
    // Verified, then parsed: a body that is no JSON will not parse on any retry either.
    if (error instanceof SyntaxError) throw new WebhookSignatureError('Stripe webhook verified but its body is not JSON');
    throw error;
  }
  return [(await refundOrDispute(stripe, event)) ?? normalize(event) ?? ignored(event)];
}

/** Refunds and disputes name a payment intent; which payment of Tollgate's that is, Stripe's API says (refund.ts). */
async function refundOrDispute(stripe: Stripe, event: Stripe.Event): Promise<ProcessorEvent | undefined> {
  switch (event.type) {
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
      return refundChanged(stripe, event);
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return chargeDispute(stripe, event);
    default:
      return undefined;
  }
}

function normalize(event: Stripe.Event): ProcessorEvent | undefined {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return checkoutSessionCompleted(event);
    case 'invoice.paid':
      return invoicePaid(event);
    case 'invoice.payment_failed':
      return invoicePaymentFailed(event);
    case 'customer.subscription.deleted':
      return customerSubscriptionDeleted(event);
    case 'payment_intent.succeeded':
      return paymentIntentSucceeded(event);
    case 'payment_intent.payment_failed':
      return paymentIntentFailed(event);
    default:
      return undefined;
  }
}

function ignored(event: Stripe.Event): ProcessorEvent {
  const object = event.data.object;
  const accountId = 'metadata' in object ? metadataValue(object.metadata as Stripe.Metadata | null, ACCOUNT_KEY) : undefined;
  return { type: 'ignored', eventId: event.id, processorType: event.type, ...(accountId ? { accountId } : {}) };
}
