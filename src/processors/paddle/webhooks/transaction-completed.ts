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
 * The amount is the transaction's grand total, what the customer was charged (tax included, as
 * Paddle sells as merchant of record), in the smallest unit of the transaction's currency.
 */
import type { TransactionCompletedEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, customValue, PACK_KEY, PLAN_KEY, RECHARGE_KEY } from '../custom-data.ts';
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
  const recharge = transaction.origin === 'subscription_charge' ? rechargeOf(transaction) : undefined;
  if (recharge) return { type: 'payment.succeeded', eventId: event.eventId, accountId, paymentRef: transaction.id, ...recharge, amountCents, at };

  const packSlug = customValue(transaction.customData, PACK_KEY);
  if (packSlug) return { type: 'payment.succeeded', eventId: event.eventId, accountId, paymentRef: transaction.id, packSlug, amountCents, at };

  const planSlug = customValue(transaction.customData, PLAN_KEY);
  const periodStart = dateOf(transaction.billingPeriod?.startsAt);
  const periodEnd = dateOf(transaction.billingPeriod?.endsAt);
  if (!planSlug || !transaction.subscriptionId || !PERIOD_ORIGINS.has(transaction.origin) || !periodStart || !periodEnd) return undefined;
  return {
    type: 'subscription.paid',
    eventId: event.eventId,
    accountId,
    subscriptionRef: transaction.subscriptionId,
    planSlug,
    paymentRef: transaction.id,
    amountCents,
    periodStart,
    periodEnd,
    at,
  };
}

function rechargeOf(transaction: TransactionCompletedEvent['data']): { packSlug: string; rechargeId: string } | undefined {
  for (const item of transaction.items) {
    const packSlug = customValue(item.price?.customData, PACK_KEY);
    const rechargeId = customValue(item.price?.customData, RECHARGE_KEY);
    if (packSlug && rechargeId) return { packSlug, rechargeId };
  }
  return undefined;
}
