/**
 * adjustment.created and adjustment.updated: an adjustment of a transaction Paddle has approved.
 * A refund is the payment's refund (Paddle approves refunds after review, so most are told by
 * adjustment.updated); a chargeback is its dispute; a chargeback reversed is the dispute won.
 * Credits, and warnings of a chargeback (which take nothing), are ignored. The amount is the
 * adjustment's total, tax included, as the payment's is. A refund reversed (its money never
 * reached the customer) gives back what the refund took.
 */
import type { AdjustmentCreatedEvent, AdjustmentUpdatedEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { amountOf, dateOf } from './fields.ts';

export function adjustmentApproved(event: AdjustmentCreatedEvent | AdjustmentUpdatedEvent): ProcessorEvent | undefined {
  const adjustment = event.data;
  if (adjustment.status === 'reversed' && adjustment.action === 'refund') {
    return { type: 'payment.refund_failed', eventId: event.eventId, paymentRef: adjustment.transactionId, refundRef: adjustment.id, at: dateOf(event.occurredAt) ?? new Date() };
  }
  const amountCents = amountOf(adjustment.totals?.total);
  if (adjustment.status !== 'approved' || amountCents === undefined) return undefined;
  const told = { eventId: event.eventId, paymentRef: adjustment.transactionId, amountCents, at: dateOf(event.occurredAt) ?? new Date() };
  switch (adjustment.action) {
    case 'refund':
      return { type: 'payment.refunded', ...told, refundRef: adjustment.id };
    case 'chargeback':
      return { type: 'payment.disputed', ...told, disputeRef: adjustment.id };
    case 'chargeback_reverse':
      return { type: 'payment.dispute_won', ...told, disputeRef: adjustment.id };
    default:
      return undefined;
  }
}
