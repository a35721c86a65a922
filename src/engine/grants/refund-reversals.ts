/**
 * A refund that failed after it succeeded, or was canceled: the money never reached the
 * customer, so what the refund took (payment-refunds.ts) comes back, once per refund, keyed by
 * its row in payment_refunds, which becomes 'reversed' (migration 0021):
 *   - the unused value it removed goes back into the bucket it came from while that bucket is
 *     still usable, else into a new bucket, as a usage refund's does (refunds.ts);
 *   - the debt it made is forgiven as far as it is still owed; what a purchase paid of it since
 *     comes back as value, in that new bucket. A write-off moved nothing, and nothing moves back;
 *   - the payment's refunded_cents goes down by what the refund applied.
 * Every movement is a ledger entry naming the payment: `payment_refund` entries back, and the
 * new bucket's grant. A reversal told before its refund is recorded as a reversed row, which
 * the refund, told later, finds and leaves alone; a refund still parked is only marked. The
 * payment's lock (lockPaymentRef), taken first, puts a reversal and its refund told at once in turn.
 */
import type { Micros } from '../../core/money.ts';
import type { Sql } from '../../db/sql.ts';
import type { ProcessorEvent } from '../processor.ts';
import { lockGate } from '../terms.ts';
import { grant } from './grants.ts';
import { lockPaymentRef } from './payment-refunds.ts';

type RefundFailedEvent = Extract<ProcessorEvent, { type: 'payment.refund_failed' }>;

interface AppliedRefundRow {
  payment_id: number;
  account_id: string;
  applied_cents: number;
  bucket_id: number | null;
  removed_micros: number;
  used_micros: number;
  used_value: 'debt' | 'write_off' | null;
}

/** A refund the processor says failed: what it took given back, once. 'ignored' when it was reversed already, or is no refund (a dispute). */
export async function reverseRefund(tx: Sql, processor: string, event: RefundFailedEvent, now: Date): Promise<'applied' | 'ignored'> {
  await lockPaymentRef(tx, processor, event.paymentRef);
  const [told] = await tx.query<{ id: number }>(
    `INSERT INTO payment_refunds (processor, reference, payment_ref, kind, amount_cents, status, created_at, reversed_at)
     VALUES ($1, $2, $3, 'refund', 0, 'reversed', $4, $4) ON CONFLICT (processor, reference) DO NOTHING RETURNING id`,
    [processor, event.refundRef, event.paymentRef, now],
  );
  if (told) return 'applied'; // before its refund: the refund, when told, finds it reversed
  const [refund] = await tx.query<{ id: number; kind: string; status: string; account_id: string | null }>(
    'SELECT id, kind, status, account_id FROM payment_refunds WHERE processor = $1 AND reference = $2',
    [processor, event.refundRef],
  );
  if (refund!.kind !== 'refund' || refund!.status === 'reversed') return 'ignored';
  if (refund!.status === 'applied') await giveBack(tx, refund!.id, refund!.account_id!, now);
  await tx.query(`UPDATE payment_refunds SET status = 'reversed', reversed_at = $2 WHERE id = $1`, [refund!.id, now]);
  return 'applied';
}

async function giveBack(tx: Sql, refundId: number, accountId: string, now: Date): Promise<void> {
  // The gate mutex, then the ledger mutex: the order every writer of value takes them.
  await lockGate(tx, accountId, now);
  const [balance] = await tx.query<{ debt_micros: number }>('SELECT debt_micros FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [accountId]);
  const [refund] = await tx.query<AppliedRefundRow>(
    'SELECT payment_id, account_id, applied_cents, bucket_id, removed_micros, used_micros, used_value FROM payment_refunds WHERE id = $1 FOR UPDATE',
    [refundId],
  );
  const { payment_id: paymentId, bucket_id: bucketId, removed_micros: removed } = refund!;
  const [bucket] = bucketId === null ? [] : await tx.query<{ expires_at: Date | null }>('SELECT expires_at FROM buckets WHERE id = $1 FOR UPDATE', [bucketId]);
  const toBucket = bucket && (bucket.expires_at === null || bucket.expires_at > now) ? removed : 0;
  const owed = refund!.used_value === 'debt' ? refund!.used_micros : 0;
  const forgiven = Math.min(owed, balance!.debt_micros);
  const toNewBucket = removed - toBucket + owed - forgiven;

  if (toBucket > 0 || forgiven > 0) {
    await tx.query(
      `WITH back AS (
         UPDATE buckets SET remaining_micros = remaining_micros + $3 WHERE id = $2 AND $3 > 0
       ), entries AS (
         INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, payment_id, created_at)
         SELECT $1, e.bucket_id, e.amount, 'payment_refund', $5, $6
         FROM (VALUES ($2::bigint, $3::bigint), (NULL, $4::bigint)) AS e (bucket_id, amount) WHERE e.amount <> 0
       )
       UPDATE account_balances SET debt_micros = debt_micros - $4, ledger_version = ledger_version + 1 WHERE account_id = $1`,
      [accountId, bucketId, toBucket, forgiven, paymentId, now],
    );
  }
  if (toNewBucket > 0) {
    const { bucketId: newBucketId } = await grant(tx, { accountId, source: 'refund', amountMicros: toNewBucket as Micros, reference: `refund-reversal:${refundId}`, now });
    await tx.query(`UPDATE ledger_entries SET payment_id = $3 WHERE account_id = $1 AND bucket_id = $2 AND kind = 'grant'`, [accountId, newBucketId, paymentId]);
  }
  await tx.query(
    `UPDATE payments SET refunded_cents = refunded_cents - $2, status = CASE WHEN status = 'refunded' AND $2 > 0 THEN 'succeeded' ELSE status END WHERE id = $1`,
    [paymentId, refund!.applied_cents],
  );
  // Value given back changes what the gate may hold against: a decision read before it is written only if read again.
  await tx.query('UPDATE accounts SET gate_version = gate_version + 1 WHERE id = $1', [accountId]);
}
