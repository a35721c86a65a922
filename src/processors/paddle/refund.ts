/**
 * Refunds at Paddle: an adjustment with action refund on the payment's transaction, in full, or
 * in part on its first line item (amounts as Paddle's, the smallest unit as a string, tax
 * included). Paddle reviews refunds: an adjustment is made pending_approval, and
 * adjustment.updated says when it is approved (webhooks/adjustment.ts), which is when its value
 * comes back out. Paddle takes no idempotency key, so the call's key goes in the adjustment's
 * reason, and a retry finds the adjustment it made before asking again.
 */
import { ApiError, type Adjustment, type Paddle } from '@paddle/paddle-node-sdk';
import { BillingError } from '../../core/errors.ts';
import type { PaymentRefund, PaymentRefundRequest } from '../../engine/processor.ts';
import { paddleOutage } from './client.ts';

export async function refundPayment(paddle: Paddle, request: PaymentRefundRequest): Promise<PaymentRefund> {
  const reason = `Refund from Tollgate (${request.idempotencyKey})`;
  const made = await madeBefore(paddle, request.paymentRef, reason);
  if (made) return refundOf(made);
  const transaction = await paddle.transactions.get(request.paymentRef);
  const total = Number(transaction.details?.totals?.grandTotal);
  const item = transaction.details?.lineItems?.[0];
  try {
    const adjustment =
      request.amountCents >= total || !item
        ? await paddle.adjustments.create({ action: 'refund', type: 'full', transactionId: request.paymentRef, reason })
        : await paddle.adjustments.create({
            action: 'refund', type: 'partial', transactionId: request.paymentRef, reason,
            items: [{ itemId: item.id, type: 'partial', amount: String(request.amountCents) }],
          });
    return refundOf(adjustment);
  } catch (error) {
    // Refused (more than is left of the transaction, one not completed): nothing was refunded, and the admin is told why.
    if (error instanceof ApiError && !paddleOutage(error)) throw new BillingError('processor_error', `Paddle refused the refund: ${error.detail}`, { code: error.code });
    throw error;
  }
}

/** The refund this call asked for already, if a retry finds one. */
async function madeBefore(paddle: Paddle, transactionId: string, reason: string): Promise<Adjustment | undefined> {
  for await (const adjustment of paddle.adjustments.list({ transactionId: [transactionId], action: 'refund' })) {
    if (adjustment.reason === reason) return adjustment;
  }
  return undefined;
}

function refundOf(adjustment: Adjustment): PaymentRefund {
  if (adjustment.status === 'rejected' || adjustment.status === 'reversed') {
    throw new BillingError('processor_error', `Paddle ${adjustment.status} refund ${adjustment.id}`, { adjustment: adjustment.id });
  }
  return { status: adjustment.status === 'approved' ? 'succeeded' : 'pending', refundRef: adjustment.id };
}
