/**
 * transaction.payment_failed, for an auto-recharge's one-time charge only (its price's custom
 * data names the recharge, as for transaction.completed): Paddle billed the charge, answered
 * before its payment went through, and the payment then failed. The recharge is declined and
 * auto-recharge turns off, saying why, as when the charge is declined at once. Should Paddle
 * collect it later after all, its transaction.completed still credits it, once.
 * Any other transaction's failed payment is ignored here: a renewal's is told by
 * subscription.past_due.
 */
import type { TransactionPaymentFailedEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { paymentFailure } from '../charge-failure.ts';
import { ACCOUNT_KEY, customValue, rechargeNamed } from '../custom-data.ts';
import { dateOf } from './fields.ts';

export function transactionPaymentFailed(event: TransactionPaymentFailedEvent): ProcessorEvent | undefined {
  const transaction = event.data;
  const accountId = customValue(transaction.customData, ACCOUNT_KEY);
  const recharge = transaction.origin === 'subscription_charge' ? rechargeNamed(transaction.items) : undefined;
  if (!accountId || !recharge) return undefined;
  return {
    type: 'recharge.failed',
    eventId: event.eventId,
    accountId,
    rechargeId: recharge.rechargeId,
    paymentRef: transaction.id,
    ...paymentFailure(transaction),
    at: dateOf(event.occurredAt) ?? new Date(),
  };
}
