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

export function parseWebhook(stripe: Stripe, webhookSecret: string, rawBody: string, headers: Headers): ProcessorEvent[] {
  let event: Stripe.Event;
  try {
    event = stripe.webhooks.constructEvent(rawBody, headers.get('stripe-signature') ?? '', webhookSecret);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) throw new WebhookSignatureError(`Stripe webhook not verified: ${error.message}`);
    throw error;
  }
  return [normalize(event) ?? ignored(event)];
}

function normalize(event: Stripe.Event): ProcessorEvent | undefined {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return checkoutSessionCompleted(event);
    case 'invoice.paid':
      return invoicePaid(event);
    case 'customer.subscription.deleted':
      return customerSubscriptionDeleted(event);
    default:
      return undefined;
  }
}

function ignored(event: Stripe.Event): ProcessorEvent {
  const object = event.data.object;
  const accountId = 'metadata' in object ? metadataValue(object.metadata as Stripe.Metadata | null, ACCOUNT_KEY) : undefined;
  return { type: 'ignored', eventId: event.id, processorType: event.type, ...(accountId ? { accountId } : {}) };
}
