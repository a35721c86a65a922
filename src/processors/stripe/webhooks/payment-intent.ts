/**
 * payment_intent.succeeded and payment_intent.payment_failed, for an auto-recharge's
 * PaymentIntent only (its metadata names the recharge): the recharge's payment succeeded (its
 * pack credited once, whether this or the charge's own answer tells of it first), or it failed
 * (auto-recharge turns off). A pack checkout's PaymentIntent is told of by its session
 * (checkout-session-completed.ts), and is not one of these.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue, PACK_KEY, RECHARGE_KEY } from '../metadata.ts';
import { dateOf } from './fields.ts';

export function paymentIntentSucceeded(event: Stripe.PaymentIntentSucceededEvent): ProcessorEvent | undefined {
  const intent = event.data.object;
  const recharge = rechargeOf(intent);
  if (!recharge) return undefined;
  return { type: 'payment.succeeded', eventId: event.id, ...recharge, paymentRef: intent.id, amountCents: intent.amount_received, at: dateOf(event.created) };
}

export function paymentIntentFailed(event: Stripe.PaymentIntentPaymentFailedEvent): ProcessorEvent | undefined {
  const intent = event.data.object;
  const recharge = rechargeOf(intent);
  if (!recharge) return undefined;
  const failure = intent.last_payment_error;
  return {
    type: 'recharge.failed',
    eventId: event.id,
    accountId: recharge.accountId,
    rechargeId: recharge.rechargeId,
    paymentRef: intent.id,
    code: failure?.code === 'authentication_required' ? 'authentication_required' : 'card_declined',
    message: failure?.message ?? 'The payment failed',
    at: dateOf(event.created),
  };
}

function rechargeOf(intent: Stripe.PaymentIntent): { accountId: string; packSlug: string; rechargeId: string } | undefined {
  const accountId = metadataValue(intent.metadata, ACCOUNT_KEY);
  const packSlug = metadataValue(intent.metadata, PACK_KEY);
  const rechargeId = metadataValue(intent.metadata, RECHARGE_KEY);
  return accountId && packSlug && rechargeId ? { accountId, packSlug, rechargeId } : undefined;
}
