/**
 * Taking back a credit granted by mistake: a negative adjustment in the ledger off the bonus or
 * adjustment bucket it made, never more than the bucket has left unspent (what was spent stays
 * spent; a paid bucket's value leaves with its payment's refund instead), nor what calls in
 * progress hold of the account's value (their settles would leave it owing). Once per idempotency
 * key, the key claimed in the adjustment's own transaction; under the account's gate and ledger
 * mutexes, so two take-backs at once, or one beside a call, never take more than was left.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { micros, plain } from '../../core/input.ts';
import { availableMicros } from '../../core/gate.ts';
import { formatUsd, type Micros } from '../../core/money.ts';
import { hasStarted } from '../../core/time.ts';
import type { Context } from '../context.ts';
import { withPendingAllowance } from '../gate/account-state.ts';
import { lockAccount, readGate } from '../gate/snapshot.ts';
import { once, type EffectOptions, type Once } from '../once.ts';

/** The sources a take-back may draw on: credit given outside checkout (grants.ts, credit). */
const TAKEN_BACK_FROM = ['bonus', 'adjustment'];

export const takeBackInputSchema = plain(
  z
    .object({
      amountMicros: micros.positive('must be more than zero').optional().meta({
        description: 'How much to take back, in micro-dollars; left out: all the bucket has left unspent.', example: 500_000,
      }),
    })
    .strict(),
);
export type TakeBackInput = z.input<typeof takeBackInputSchema>;

export interface TakeBackResult {
  accountId: string;
  bucketId: number;
  /** Value taken out of the bucket: a negative adjustment in the ledger. */
  takenMicros: Micros;
  /** What the bucket has left unspent after it. */
  remainingMicros: Micros;
}

/** Take back value of the bucket `bucketId` of the account (its input parsed by the facade). */
export async function takeBack(
  ctx: Context, accountId: string, bucketId: number, { amountMicros }: z.output<typeof takeBackInputSchema>, options?: EffectOptions,
): Promise<Once<TakeBackResult>> {
  const effect = { operation: 'take_back', request: { accountId, bucketId, amountMicros: amountMicros ?? null }, accountId };
  return once(ctx.sql, effect, options?.idempotencyKey, async (tx) => {
    const now = ctx.clock();
    // The gate mutex (no hold placed meanwhile), then the ledger's (no charge), then the bucket: the order every writer of value keeps.
    await lockAccount(tx, accountId);
    await tx.query('SELECT 1 FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [accountId]);
    const snap = await readGate(tx, accountId, now);
    const [bucket] = await tx.query<{ source: string; amount_micros: number; remaining_micros: number; starts_at: Date; expires_at: Date | null }>(
      'SELECT source, amount_micros, remaining_micros, starts_at, expires_at FROM buckets WHERE id = $1 AND account_id = $2 FOR UPDATE',
      [bucketId, accountId],
    );
    if (!bucket) throw new BillingError('bucket_not_found', `Account "${accountId}" has no bucket ${bucketId}`, { accountId, bucketId });
    const what = `Bucket ${bucketId} (a ${bucket.source} of ${formatUsd(bucket.amount_micros)})`;
    if (!TAKEN_BACK_FROM.includes(bucket.source)) {
      throw new BillingError('take_back_not_allowed', `${what} was not a credit given outside checkout: only a bonus or an adjustment can be taken back; paid value leaves with its payment's refund`, {
        accountId, bucketId, source: bucket.source,
      });
    }
    const unspent = bucket.remaining_micros;
    // A bonus or adjustment is spendable on every plan once started and until it expires; then open
    // holds were weighed against it, and what they hold stays.
    const spendable = hasStarted(bucket.starts_at, now) && (bucket.expires_at === null || bucket.expires_at > now);
    const free = spendable ? availableMicros(withPendingAllowance(snap).state) : unspent;
    const left = Math.min(unspent, free);
    const amount = amountMicros ?? left;
    if (left === 0 || amount > left) {
      const held = left < unspent ? `, of which calls in progress hold ${formatUsd(unspent - left)}` : '';
      throw new BillingError(
        'take_back_exceeds_remaining',
        left === 0
          ? `${what} has ${unspent === 0 ? 'nothing left unspent' : `${formatUsd(unspent)} left unspent${held}`}: there is nothing to take back now`
          : `${what} has ${formatUsd(unspent)} left unspent${held}: at most ${formatUsd(left)} can be taken back, not ${formatUsd(amount)}`,
        { accountId, bucketId, remainingMicros: unspent, takeableMicros: left },
      );
    }
    await tx.query(
      `WITH entry AS (
         INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, created_at) VALUES ($1, $2, -$3::bigint, 'adjustment', $4)
       ), taken AS (
         UPDATE buckets SET remaining_micros = remaining_micros - $3 WHERE id = $2
       ), moved AS (
         UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1
       )
       UPDATE accounts SET gate_version = gate_version + 1 WHERE id = $1`,
      [accountId, bucketId, amount, now],
    );
    return { accountId, bucketId, takenMicros: amount as Micros, remainingMicros: (unspent - amount) as Micros };
  });
}
