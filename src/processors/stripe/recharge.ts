/**
 * An auto-recharge at Stripe: a PaymentIntent confirmed off-session on the customer's saved card
 * (the pack checkout saved it, with setup_future_usage: 'off_session'): the default one if the
 * customer has one, else the one saved last. It carries the account, the pack and the recharge in
 * its metadata, so its webhooks (payment_intent.succeeded, payment_intent.payment_failed) name
 * them back, and the recharge's idempotency key, so a retry is the same PaymentIntent.
 */
import Stripe from 'stripe';
import type { SavedCharge, SavedChargeRequest } from '../../engine/processor.ts';
import { keptFailureSaid } from './client.ts';
import { ACCOUNT_KEY, metadataValue, PACK_KEY, RECHARGE_KEY } from './metadata.ts';
import { idOf } from './webhooks/fields.ts';

export async function chargeSaved(stripe: Stripe, request: SavedChargeRequest): Promise<SavedCharge> {
  const paymentMethod = request.customerId ? await savedCard(stripe, request.customerId) : undefined;
  if (!request.customerId || !paymentMethod) {
    return { status: 'declined', code: 'no_payment_method', message: 'No card is saved at Stripe: a pack bought at checkout saves one' };
  }
  let intent: Stripe.PaymentIntent;
  try {
    intent = await keptFailureSaid("the auto-recharge's charge", stripe.paymentIntents.create(
      {
        amount: request.amountCents,
        currency: 'usd',
        customer: request.customerId,
        payment_method: paymentMethod,
        off_session: true,
        confirm: true,
        description: `Auto-recharge: ${request.pack.name}`,
        metadata: { [ACCOUNT_KEY]: request.account.id, [PACK_KEY]: request.pack.slug, [RECHARGE_KEY]: request.rechargeId },
      },
      { idempotencyKey: request.idempotencyKey },
    ));
  } catch (error) {
    // Off-session, a decline or a bank's demand for authentication comes back as a card error.
    if (error instanceof Stripe.errors.StripeCardError) {
      // Stripe's own sentence, without the request id the SDK puts before it.
      const message = (error.raw as { message?: string }).message ?? error.message;
      return { status: 'declined', code: error.code === 'authentication_required' ? 'authentication_required' : 'card_declined', message };
    }
    // The key was used with other parameters: an attempt before a crash, on a card the customer
    // has since replaced. That attempt's PaymentIntent is this recharge's, whatever became of it.
    if (!(error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
    const earlier = await intentOf(stripe, request.customerId, request.rechargeId);
    if (!earlier) throw error;
    intent = earlier;
  }
  return answerOf(intent);
}

/** What became of the recharge's PaymentIntent, when its webhook is late. */
export async function chargeStatus(stripe: Stripe, paymentRef: string): Promise<SavedCharge> {
  return answerOf(await stripe.paymentIntents.retrieve(paymentRef));
}

function answerOf(intent: Stripe.PaymentIntent): SavedCharge {
  switch (intent.status) {
    case 'succeeded':
      return { status: 'succeeded', paymentRef: intent.id };
    case 'processing':
      return { status: 'pending', paymentRef: intent.id };
    case 'requires_action':
      return { status: 'declined', code: 'authentication_required', message: 'The bank asked for the customer to authenticate the payment' };
    default:
      return { status: 'declined', code: 'card_declined', message: intent.last_payment_error?.message ?? `The payment is ${intent.status}` };
  }
}

/** The customer's PaymentIntent for this recharge (its metadata names it), if Stripe has one. */
async function intentOf(stripe: Stripe, customerId: string, rechargeId: string): Promise<Stripe.PaymentIntent | undefined> {
  for await (const intent of stripe.paymentIntents.list({ customer: customerId, limit: 100 })) {
    if (metadataValue(intent.metadata, RECHARGE_KEY) === rechargeId) return intent;
  }
  return undefined;
}

/** The customer's default payment method, else the card saved last (Stripe lists the newest first). */
async function savedCard(stripe: Stripe, customerId: string): Promise<string | undefined> {
  const customer = await stripe.customers.retrieve(customerId);
  // Deleted (in Stripe's dashboard): its cards are gone, and asking for them is an error every retry would repeat.
  if (customer.deleted) return undefined;
  const chosen = customer.invoice_settings.default_payment_method;
  if (chosen) return idOf(chosen);
  const { data } = await stripe.paymentMethods.list({ customer: customerId, type: 'card', limit: 1 });
  return data[0]?.id;
}
