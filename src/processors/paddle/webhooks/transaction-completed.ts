/**
 * transaction.completed: Paddle has the money for a transaction and has finished with it. A
 * pack's transaction (its custom data names the pack) is the pack's payment. A subscription's
 * transaction (the first, paid at checkout, or a renewal) is a period paid: the one its
 * billing_period names, the plan its custom data names, copied by Paddle from the subscription.
 * An auto-recharge's one-time charge on a subscription (its price's custom data names the
 * recharge) is the recharge's payment. A transaction for anything else on a subscription (another
 * one-time charge, a payment method change, a plan change's proration) opens no period, and is
 * ignored.
 *
 * What was paid for is read from the prices paid, never from the transaction's custom data alone:
 * Paddle.js lets the customer's browser set that (Checkout.open, updateCheckout) along with the
 * items. A price the catalog sync made names its plan or pack in its own custom data, which only
 * the API key sets; a price with none (linked by hand) goes to the engine as priceRef, to be the
 * plan's or pack's price there. A pack's price paid always goes as priceRef, with its amount: a
 * transaction opened before the pack changed buys the pack as it was sold at that price, not as
 * it is now; its id names the checkout it paid, whose version was recorded when it was made (not
 * custom data the browser could set). The account is still the custom data's, so the customer who
 * paid goes with it (customerRef): another customer's subscription replaces none of the account's.
 * A period paid carries its price (pricePaid): it opens on the version of the plan sold at it.
 *
 * The amount is the transaction's grand total, what the customer was charged (tax included, as
 * Paddle sells as merchant of record), in the smallest unit of the transaction's currency.
 */
import type { TransactionCompletedEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, customValue, PACK_KEY, PLAN_KEY, rechargeNamed } from '../custom-data.ts';
import { amountOf, dateOf } from './fields.ts';

/** The origins of a subscription's transactions that pay one of its periods. */
const PERIOD_ORIGINS = new Set(['web', 'api', 'subscription_recurring']);

export function transactionCompleted(event: TransactionCompletedEvent): ProcessorEvent | undefined {
  const transaction = event.data;
  const accountId = customValue(transaction.customData, ACCOUNT_KEY);
  const amountCents = amountOf(transaction.details?.totals?.grandTotal);
  const at = dateOf(event.occurredAt) ?? new Date();
  if (!accountId || amountCents === undefined) return undefined;

  // An auto-recharge's one-time charge: the price it was billed at names the recharge (recharge.ts).
  const recharge = transaction.origin === 'subscription_charge' ? rechargeNamed(transaction.items) : undefined;
  if (recharge) return { type: 'payment.succeeded', eventId: event.eventId, accountId, paymentRef: transaction.id, ...recharge, amountCents, at };

  // A pack is bought at its price: one it sold at before (a transaction opened before it changed) buys it as it was then.
  const pack = paidFor(transaction, PACK_KEY);
  if (pack) return { type: 'payment.succeeded', eventId: event.eventId, accountId, paymentRef: transaction.id, packSlug: pack.slug, checkoutRef: transaction.id, priceRef: pack.pricePaid, ...(pack.priceCents === undefined ? {} : { priceCents: pack.priceCents }), amountCents, at };

  const plan = paidFor(transaction, PLAN_KEY);
  const planSlug = plan?.slug;
  const periodStart = dateOf(transaction.billingPeriod?.startsAt);
  const periodEnd = dateOf(transaction.billingPeriod?.endsAt);
  if (!planSlug || !transaction.subscriptionId || !PERIOD_ORIGINS.has(transaction.origin) || !periodStart || !periodEnd) return undefined;
  return {
    type: 'subscription.paid',
    eventId: event.eventId,
    accountId,
    subscriptionRef: transaction.subscriptionId,
    planSlug,
    ...(plan.priceRef ? { priceRef: plan.priceRef } : {}),
    ...(transaction.customerId ? { customerRef: transaction.customerId } : {}),
    pricePaid: plan.pricePaid,
    paymentRef: transaction.id,
    amountCents,
    periodStart,
    periodEnd,
    at,
  };
}

/**
 * The plan or pack (by `key`) a transaction paid for, and the price it was paid at: the one a
 * price paid names, or, when no price paid names one, the transaction's custom data's, with the
 * price paid for the engine to check (priceRef).
 */
function paidFor(transaction: TransactionCompletedEvent['data'], key: string): { slug: string; pricePaid: string; priceRef?: string; priceCents?: number } | undefined {
  const priced = transaction.items.find((item) => customValue(item.price?.customData, key) !== undefined)?.price;
  if (priced) return { slug: customValue(priced.customData, key)!, pricePaid: priced.id, ...centsOf(priced) };
  if (transaction.items.some((item) => customValue(item.price?.customData, PACK_KEY) ?? customValue(item.price?.customData, PLAN_KEY))) return undefined;
  const claimed = customValue(transaction.customData, key);
  const price = transaction.items[0]?.price;
  return claimed && price?.id ? { slug: claimed, pricePaid: price.id, priceRef: price.id, ...centsOf(price) } : undefined;
}

/** The amount a price sells at, when the event tells it. */
function centsOf(price: { unitPrice?: { amount?: string | null } | null }): { priceCents?: number } {
  const cents = amountOf(price.unitPrice?.amount);
  return cents === undefined ? {} : { priceCents: cents };
}
