/**
 * Why an auto-recharge's one-time charge was not paid, in the engine's words: the same whether
 * transaction.payment_failed tells it or Paddle's API is asked later (chargeStatus), so a recharge
 * is declined with one code and one message whichever comes first.
 */
import type { DeclineCode } from '../../engine/processor.ts';

interface FailedCharge {
  id: string;
  /** Paddle lists the payment attempts newest first. */
  payments: readonly { errorCode: string | null }[];
}

/** Its payment failed: the newest failed attempt's error, a bank's demand for authentication said as such. */
export function paymentFailure(transaction: FailedCharge): { code: DeclineCode; message: string } {
  const errorCode = transaction.payments.find((payment) => payment.errorCode)?.errorCode ?? 'unknown';
  return {
    code: errorCode === 'authentication_failed' ? 'authentication_required' : 'card_declined',
    message: `the payment of the one-time charge ${transaction.id} failed: ${errorCode.replaceAll('_', ' ')}`,
  };
}
