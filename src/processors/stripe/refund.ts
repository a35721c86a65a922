/**
 * Refunds at Stripe. Tollgate names a pack's payment by its payment intent and a subscription
 * period's by the invoice that paid it; Stripe refunds and disputes a payment intent (or its
 * charge). An invoice's payment intent is read from its invoice payments, both ways: to refund
 * an invoice, and to name the invoice a refund or dispute of its payment intent is about.
 */
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import type { PaymentRefund, PaymentRefundRequest } from '../../engine/processor.ts';
import { keptFailureSaid } from './client.ts';
import { ACCOUNT_KEY } from './metadata.ts';
import { idOf } from './webhooks/fields.ts';

/** Refund the payment (an amount in cents), under the call's idempotency key: a retry asks for the same refund. */
export async function refundPayment(stripe: Stripe, request: PaymentRefundRequest): Promise<PaymentRefund> {
  const paymentIntent = request.paymentKind === 'subscription' ? await invoiceIntent(stripe, request.paymentRef) : request.paymentRef;
  let refund: Stripe.Refund;
  try {
    refund = await keptFailureSaid('the refund', stripe.refunds.create(
      { payment_intent: paymentIntent, amount: request.amountCents, metadata: { [ACCOUNT_KEY]: request.account.id } },
      { idempotencyKey: request.idempotencyKey },
    ));
  } catch (error) {
    // Refused (a charge disputed, more than is left of it): nothing was refunded, and the admin is told why.
    // Stripe's own sentence, without the request id the SDK puts before it.
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      throw new BillingError('processor_error', `Stripe refused the refund: ${(error.raw as { message?: string }).message ?? error.message}`, { code: error.code });
    }
    throw error;
  }
  if (refund.status === 'failed' || refund.status === 'canceled') {
    throw new BillingError('processor_error', `Stripe ${refund.status === 'failed' ? 'failed' : 'canceled'} refund ${refund.id}${refund.failure_reason ? `: ${refund.failure_reason}` : ''}`, { refund: refund.id });
  }
  return { status: refund.status === 'succeeded' ? 'succeeded' : 'pending', refundRef: refund.id };
}

/** The payment intent that paid an invoice. */
async function invoiceIntent(stripe: Stripe, invoiceId: string): Promise<string> {
  const { data } = await stripe.invoicePayments.list({ invoice: invoiceId, status: 'paid', limit: 1 });
  const paymentIntent = data[0]?.payment.payment_intent;
  if (!paymentIntent) throw new BillingError('processor_error', `Stripe has no paid payment for invoice ${invoiceId} to refund`, { invoice: invoiceId });
  return idOf(paymentIntent);
}

/** Tollgate's reference for the payment a payment intent made: the invoice it paid, if it paid one; else the intent (a pack's). */
export async function paymentRefOf(stripe: Stripe, paymentIntent: string | Stripe.PaymentIntent): Promise<string> {
  const { data } = await stripe.invoicePayments.list({ payment: { type: 'payment_intent', payment_intent: idOf(paymentIntent) }, limit: 1 });
  return data[0] ? idOf(data[0].invoice) : idOf(paymentIntent);
}
