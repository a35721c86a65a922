/**
 * checkout.session.completed, and checkout.session.async_payment_succeeded for a payment method
 * that settles later: a pack's session in payment mode, once paid, is the pack's payment. A
 * subscription's session is not: its invoice.paid opens the period. The price the session sold
 * at and its amount (its metadata, set by the API key alone) go with it: the pack is credited as
 * it was sold at them, and the session's id names the checkout it paid (the version it was opened
 * at).
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue, PACK_KEY, PRICE_CENTS_KEY, PRICE_KEY } from '../metadata.ts';
import { dateOf, idOf } from './fields.ts';

export function checkoutSessionCompleted(event: Stripe.CheckoutSessionCompletedEvent | Stripe.CheckoutSessionAsyncPaymentSucceededEvent): ProcessorEvent | undefined {
  const session = event.data.object;
  const accountId = metadataValue(session.metadata, ACCOUNT_KEY);
  const packSlug = metadataValue(session.metadata, PACK_KEY);
  const priceRef = metadataValue(session.metadata, PRICE_KEY);
  const priceCents = Number(metadataValue(session.metadata, PRICE_CENTS_KEY) ?? NaN);
  if (session.mode !== 'payment' || session.payment_status !== 'paid') return undefined;
  if (!accountId || !packSlug || !session.payment_intent || session.amount_total === null) return undefined;
  return {
    type: 'payment.succeeded',
    eventId: event.id,
    accountId,
    paymentRef: idOf(session.payment_intent),
    packSlug,
    ...(priceRef ? { priceRef } : {}),
    ...(Number.isSafeInteger(priceCents) ? { priceCents } : {}),
    checkoutRef: session.id,
    amountCents: session.amount_total,
    at: dateOf(event.created),
  };
}
