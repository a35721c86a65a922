/**
 * An auto-recharge at Paddle. Paddle charges a saved card only through a subscription: a one-time
 * charge on the account's subscription, billed at once (subscriptions.createOneTimeCharge). An
 * account with no subscription has no card Paddle will charge off-session: its remedy is a pack
 * bought at checkout, and auto-recharge turns off saying so.
 *
 * The charge is one non-catalog item for the whole amount (the pack, plus the debt it covers),
 * whose price carries the account, the pack and the recharge in its custom data; Paddle keeps the
 * price on the transaction it makes, so transaction.completed names the recharge back. Paddle
 * takes no idempotency key: before charging, the subscription's one-time charges are searched for
 * this recharge's key, so a retry after a crash finds the charge made and never makes another.
 */
import { ApiError, type Paddle, type Transaction } from '@paddle/paddle-node-sdk';
import type { SavedCharge, SavedChargeRequest } from '../../engine/processor.ts';
import { paymentFailure } from './charge-failure.ts';
import { ACCOUNT_KEY, customValue, PACK_KEY, RECHARGE_KEY } from './custom-data.ts';
import { amountOf } from './webhooks/fields.ts';

/** Where the recharge's key is kept on the charge's price. */
const KEY = 'tollgate_recharge_key';

export async function chargeSaved(paddle: Paddle, request: SavedChargeRequest): Promise<SavedCharge> {
  const subscription = request.subscriptionRef;
  if (!subscription) {
    return { status: 'declined', code: 'no_payment_method', message: 'Paddle charges a saved card only through a subscription: buy a pack at checkout instead' };
  }
  const made = await chargeOf(paddle, subscription, request.idempotencyKey);
  if (made) return answerOf(made);
  try {
    await paddle.subscriptions.createOneTimeCharge(subscription, {
      effectiveFrom: 'immediately',
      onPaymentFailure: 'prevent_change',
      items: [
        {
          quantity: 1,
          price: {
            name: `Auto-recharge: ${request.pack.name}`,
            description: `Auto-recharge: ${request.pack.name}`,
            unitPrice: { amount: String(request.amountCents), currencyCode: 'USD' },
            product: { name: request.pack.name, taxCategory: 'standard' },
            customData: { [ACCOUNT_KEY]: request.account.id, [PACK_KEY]: request.pack.slug, [RECHARGE_KEY]: request.rechargeId, [KEY]: request.idempotencyKey },
          },
        },
      ],
    });
  } catch (error) {
    if (error instanceof ApiError && error.code === 'subscription_payment_declined') return { status: 'declined', code: 'card_declined', message: error.detail };
    throw error;
  }
  // Paddle answers with the subscription: the charge is its newest one-time transaction. Not
  // listed yet, the recharge runs again, finds it, and charges nothing more.
  const charged = await chargeOf(paddle, subscription, request.idempotencyKey);
  if (!charged) throw new Error(`Paddle billed the one-time charge on ${subscription} but does not list it yet`);
  return answerOf(charged);
}

/** The subscription's one-time charge made under this key, if any. */
async function chargeOf(paddle: Paddle, subscriptionId: string, key: string): Promise<Transaction | undefined> {
  const charges = paddle.transactions.list({ subscriptionId: [subscriptionId], origin: ['subscription_charge'], perPage: 50 });
  for (;;) {
    const page = await charges.next();
    const found = page.find((transaction) => transaction.items.some((item) => customValue(item.price?.customData, KEY) === key));
    if (found) return found;
    if (!charges.hasMore) return undefined;
  }
}

/** What became of the recharge's one-time charge, when its webhook is late. */
export async function chargeStatus(paddle: Paddle, paymentRef: string): Promise<SavedCharge> {
  return answerOf(await paddle.transactions.get(paymentRef));
}

function answerOf(transaction: Transaction): SavedCharge {
  if (transaction.status === 'completed' || transaction.status === 'paid') {
    // Paddle adds tax as merchant of record: the payment is what the customer paid, as its webhook says.
    const charged = amountOf(transaction.details?.totals?.grandTotal);
    return { status: 'succeeded', paymentRef: transaction.id, ...(charged === undefined ? {} : { amountCents: charged }) };
  }
  // Its payment failed (Paddle's retries may still collect it: its transaction.completed then credits it).
  if (transaction.status === 'past_due') return { status: 'declined', ...paymentFailure(transaction) };
  if (transaction.status === 'canceled') return { status: 'declined', code: 'card_declined', message: `the one-time charge ${transaction.id} was canceled` };
  // Billed, its payment going through (draft and ready are never a one-time charge's).
  return { status: 'pending', paymentRef: transaction.id };
}
