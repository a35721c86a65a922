/**
 * Refunds give back the value a usage event drew, last draw first: to the bucket it came
 * from while that bucket is still usable, else to a new refund bucket; a part that was
 * never paid (debt) is forgiven while the debt is still owed.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { formatUsd, type Micros } from '../../core/money.ts';
import { micros, plain } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { grant } from './grants.ts';
import { readLedger } from '../charge/write.ts';
import { once, type EffectOptions, type Once } from '../once.ts';

/** A refund's fields besides its usage event (rowId): how much to give back. */
export const refundShape = {
  amountMicros: micros.positive('must be more than $0.00').optional().meta({ description: 'How much to give back, in micro-dollars; left out: all that is left to refund.' }),
};
export const refundInputSchema = plain(z.object(refundShape).strict());
export type RefundInput = z.input<typeof refundInputSchema>;

export interface RefundResult {
  usageEventId: number;
  refundedMicros: Micros;
  /** Value put back: into its original buckets, a refund bucket, or off the debt. */
  toBuckets: { bucketId: number; amountMicros: Micros }[];
  debtForgivenMicros: Micros;
}

interface DrawRow {
  bucket_id: number | null;
  drawn: number;
  expires_at: Date | null;
}

/** Refund a usage event (its id and the input parsed by the facade), once per idempotency key. */
export async function refund(
  ctx: Context, eventId: number, { amountMicros }: z.output<typeof refundInputSchema>, options?: EffectOptions,
): Promise<Once<RefundResult>> {
  const [owner] = await ctx.sql.query<{ account_id: string }>('SELECT account_id FROM usage_events WHERE id = $1', [eventId]);
  if (!owner) throw new BillingError('usage_event_not_found', `No usage event ${eventId}`, { usageEventId: eventId });
  const effect = { operation: 'refund', request: { usageEventId: eventId, amountMicros: amountMicros ?? null }, accountId: owner.account_id };
  return once(ctx.sql, effect, options?.idempotencyKey, async (tx) => {
    const { terms, debtMicros } = (await readLedger(tx, [owner.account_id], ctx.clock(), true)).get(owner.account_id)!;
    const [event] = await tx.query<{ value_micros: number; refunded_micros: number }>(
      'SELECT value_micros, refunded_micros FROM usage_events WHERE id = $1',
      [eventId],
    );
    const refundable = event!.value_micros - event!.refunded_micros;
    const amount = amountMicros ?? refundable;
    if (amount <= 0 || amount > refundable) {
      throw new BillingError('refund_exceeds_charge', `Usage event ${eventId} has ${formatUsd(refundable)} left to refund; asked for ${formatUsd(amount)}`, {
        refundableMicros: refundable,
      });
    }
    const draws = await tx.query<DrawRow>(
      `SELECT l.bucket_id, -l.amount_micros AS drawn, b.expires_at FROM ledger_entries l LEFT JOIN buckets b ON b.id = l.bucket_id
       WHERE l.account_id = $2 AND l.usage_event_id = $1 AND l.kind = 'usage' ORDER BY l.id DESC`,
      [eventId, owner.account_id],
    );
    // Earlier refunds unwound the latest draws first; skip what they covered.
    let skip = event!.refunded_micros;
    let left = amount;
    let debt = debtMicros;
    let toRefundBucket = 0;
    let debtForgiven = 0;
    const toBuckets: { bucketId: number; amountMicros: Micros }[] = [];
    for (const draw of draws) {
      const skipped = Math.min(skip, draw.drawn);
      skip -= skipped;
      const take = Math.min(left, draw.drawn - skipped);
      if (take <= 0) continue;
      left -= take;
      if (draw.bucket_id === null) {
        const forgive = Math.min(take, debt);
        debt -= forgive;
        debtForgiven += forgive;
        toRefundBucket += take - forgive;
      } else if (draw.expires_at && draw.expires_at <= terms.now) {
        toRefundBucket += take;
      } else {
        toBuckets.push({ bucketId: draw.bucket_id, amountMicros: take as Micros });
      }
    }
    await tx.query(
      `WITH back AS (
         SELECT * FROM unnest($2::bigint[], $3::bigint[]) AS r (bucket_id, amount)
         UNION ALL SELECT NULL, $4::bigint WHERE $4::bigint > 0
       ), entries AS (
         INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, usage_event_id, created_at)
         SELECT $1, bucket_id, amount, 'refund', $5, $6 FROM back
       ), credit AS (
         UPDATE buckets b SET remaining_micros = b.remaining_micros + r.amount FROM back r WHERE b.id = r.bucket_id
       ), forgiven AS (
         UPDATE account_balances SET debt_micros = debt_micros - $4, ledger_version = ledger_version + 1 WHERE account_id = $1
       )
       UPDATE usage_events SET refunded_micros = refunded_micros + $7 WHERE id = $5`,
      [terms.account.id, toBuckets.map((b) => b.bucketId), toBuckets.map((b) => b.amountMicros), debtForgiven, eventId, terms.now, amount],
    );
    if (toRefundBucket > 0) {
      const bucket = await grant(tx, {
        accountId: terms.account.id, source: 'refund', amountMicros: toRefundBucket as Micros,
        reference: `refund:${eventId}:${event!.refunded_micros}`, now: terms.now,
      });
      toBuckets.push({ bucketId: bucket.bucketId, amountMicros: toRefundBucket as Micros });
    }
    return { usageEventId: eventId, refundedMicros: amount as Micros, toBuckets, debtForgivenMicros: debtForgiven as Micros };
  });
}
