/**
 * Refunds and disputes of processor payments (not of usage: refunds.ts gives a usage event's
 * value back). A refunded payment takes back the value it bought, once per refund, keyed by the
 * processor's id of it (payment_refunds, migration 0019), in the transaction that learns of it:
 * a webhook's, or the refund call's when the processor answers that it is done.
 *
 * What a refund of `r` cents takes, on a payment of `p` cents whose bucket was granted `V`:
 *   - its share of the value: floor(V × (refunded + r) / p) − floor(V × refunded / p), `refunded`
 *     being what earlier refunds of the payment applied, so partial refunds add up to exactly V;
 *   - out of its own bucket (the pack's, whose reference names the payment; for a subscription,
 *     the allowance of the period it paid): min(unused, share), the bucket's remaining value;
 *   - for a pack, the rest of the share, as far as it was used (drawn by usage or to pay debt,
 *     not expired), is owed (debt, which the next purchase pays) or written off, by the setting
 *     refundUsedValue. A subscription's used allowance is neither: only the unused part goes.
 * A dispute is a refund of the amount disputed (what is left of the payment, at most) that also
 * flags the account (accounts.disputed_at). A dispute won is recorded beside the payment; the
 * value stays taken and the flag stays: an admin who gives value back credits an adjustment.
 * Every movement is a `payment_refund` ledger entry naming the payment.
 *
 * A refund told before its payment is parked, and applied by the payment's own transaction
 * (applyParkedRefunds), so either order ends the same. A transaction-scoped lock on the payment's
 * reference (lockPaymentRef), taken by both before anything else, keeps them from missing each
 * other when they come at once.
 */
import { z } from 'zod';
import { BillingError, isBillingError } from '../../core/errors.ts';
import { cents, plain } from '../../core/input.ts';
import { centsToMicros, formatUsd } from '../../core/money.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import { idempotencyConflict, once, type EffectOptions, type Once } from '../once.ts';
import type { ProcessorEvent } from '../processor.ts';
import { accountNotFound, lockGate, type Terms } from '../terms.ts';
import { ACCOUNT_COLUMNS, accountFromRow, type Account, type AccountRow } from '../rows.ts';
import { openAllowance } from './grants.ts';

export type PaymentRefundKind = 'refund' | 'dispute' | 'dispute_won';

/** A refund, dispute or dispute won, as the processor tells of it. */
export interface RefundNotice {
  kind: PaymentRefundKind;
  /** The processor's id of the refund or dispute: it applies once. */
  reference: string;
  paymentRef: string;
  amountCents: number;
}

interface PaymentRow {
  id: number;
  account_id: string;
  kind: string;
  plan_id: number | null;
  amount_cents: number;
  refunded_cents: number;
  created_at: Date;
}

/** The refund a processor event tells of, if it tells of one. */
export function refundNoticeOf(event: ProcessorEvent): RefundNotice | undefined {
  switch (event.type) {
    case 'payment.refunded':
      return { kind: 'refund', reference: event.refundRef, paymentRef: event.paymentRef, amountCents: event.amountCents };
    case 'payment.disputed':
      return { kind: 'dispute', reference: event.disputeRef, paymentRef: event.paymentRef, amountCents: event.amountCents };
    case 'payment.dispute_won':
      return { kind: 'dispute_won', reference: event.disputeRef, paymentRef: event.paymentRef, amountCents: event.amountCents };
    default:
      return undefined;
  }
}

/** The payment an event records, whose parked refunds it then applies. */
function paymentRecordedBy(event: ProcessorEvent): string | undefined {
  return event.type === 'payment.succeeded' || event.type === 'subscription.paid' ? event.paymentRef : undefined;
}

/**
 * Serializes a payment and its refunds told at the same moment (before either takes the gate
 * mutex): a refund that finds no payment waits here for one being recorded. PGlite runs one
 * transaction at a time, so there is nothing to wait for.
 */
export async function lockPaymentRef(tx: Sql, processor: string, paymentRef: string): Promise<void> {
  if (tx.engine === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`payment:${processor}:${paymentRef}`]);
}

/** For the webhook's transaction, before an event is applied: the lock on the payment it records or refunds. */
export async function lockPaymentOf(tx: Sql, processor: string, event: ProcessorEvent): Promise<void> {
  const paymentRef = paymentRecordedBy(event) ?? refundNoticeOf(event)?.paymentRef;
  if (paymentRef !== undefined) await lockPaymentRef(tx, processor, paymentRef);
}

async function findPayment(tx: Sql, processor: string, paymentRef: string): Promise<PaymentRow | undefined> {
  const [row] = await tx.query<PaymentRow>(
    'SELECT id, account_id, kind, plan_id, amount_cents, refunded_cents, created_at FROM payments WHERE processor = $1 AND processor_ref = $2',
    [processor, paymentRef],
  );
  return row;
}

/**
 * A refund, dispute or dispute won told by the processor: applied once per its reference, or
 * parked until its payment is recorded. 'ignored' when it was applied already.
 */
export async function receiveRefund(tx: Sql, processor: string, notice: RefundNotice, now: Date): Promise<'applied' | 'ignored'> {
  await lockPaymentRef(tx, processor, notice.paymentRef);
  const payment = await findPayment(tx, processor, notice.paymentRef);
  const [claimed] = await tx.query<{ id: number }>(
    `INSERT INTO payment_refunds (processor, reference, payment_ref, kind, amount_cents, status, account_id, created_at)
     VALUES ($1, $2, $3, $4, $5, 'parked', $6, $7) ON CONFLICT (processor, reference) DO NOTHING RETURNING id`,
    [processor, notice.reference, notice.paymentRef, notice.kind, notice.amountCents, payment?.account_id ?? null, now],
  );
  if (!payment) return 'applied'; // parked: the payment's transaction applies it
  let refundId = claimed?.id;
  if (refundId === undefined) {
    const [first] = await tx.query<{ id: number; status: string }>('SELECT id, status FROM payment_refunds WHERE processor = $1 AND reference = $2', [processor, notice.reference]);
    if (first!.status !== 'parked') return 'ignored'; // applied, or reversed (refund-reversals.ts)
    refundId = first!.id;
  }
  await applyRefund(tx, payment, refundId, now);
  return 'applied';
}

/** After an event recorded a payment: the refunds told before it, applied now, in the order told. */
export async function applyParkedRefunds(tx: Sql, processor: string, event: ProcessorEvent, now: Date): Promise<void> {
  const paymentRef = paymentRecordedBy(event);
  if (paymentRef !== undefined) await applyRefundsParkedFor(tx, processor, paymentRef, now);
}

/** After a payment was recorded (by its webhook, or an auto-recharge's answer), with its lock held: the refunds told before it, in the order told. */
export async function applyRefundsParkedFor(tx: Sql, processor: string, paymentRef: string, now: Date): Promise<void> {
  const parked = await tx.query<{ id: number }>(
    `SELECT id FROM payment_refunds WHERE processor = $1 AND payment_ref = $2 AND status = 'parked' ORDER BY id`,
    [processor, paymentRef],
  );
  if (parked.length === 0) return;
  const payment = await findPayment(tx, processor, paymentRef);
  if (!payment) return; // the event recorded none (an account not ours): they stay parked
  for (const { id } of parked) await applyRefund(tx, payment, id, now);
}

interface BucketRow {
  id: number;
  amount_micros: number;
  remaining_micros: number;
  expired: number;
}

/** The bucket a payment bought: the pack's (its reference names the payment), or the allowance of the period it paid. */
async function bucketOf(tx: Sql, processor: string, paymentRef: string, payment: PaymentRow, terms: Terms): Promise<BucketRow | undefined> {
  const columns = `b.id, b.amount_micros, b.remaining_micros,
    COALESCE((SELECT -sum(amount_micros) FROM ledger_entries WHERE account_id = b.account_id AND bucket_id = b.id AND kind = 'expiry'), 0)::bigint AS expired`;
  if (payment.kind !== 'subscription') {
    const [bucket] = await tx.query<BucketRow>(`SELECT ${columns} FROM buckets b WHERE b.account_id = $1 AND b.reference = $2 FOR UPDATE`, [
      payment.account_id,
      `payment:${processor}:${paymentRef}`,
    ]);
    return bucket;
  }
  // The period paid now may not have opened its allowance yet (it opens on the first call): open
  // it, so that what the refund takes is not handed out afterwards.
  if (terms.plan.id === payment.plan_id && !terms.planEnded) await openAllowance(tx, terms);
  // The plan's allowance of the period the payment was made in (one collected late, after the
  // processor's retries, paid the period it fell in, not the next one, which began nearer), an
  // hour's grace for a renewal told a moment before its period's start; else the one that began
  // nearest before the payment: periods are months, payments a moment. Never one begun after it:
  // that is a later payment's, and a payment told only after its period ended opened none.
  const [bucket] = await tx.query<BucketRow>(
    `SELECT ${columns} FROM buckets b WHERE b.account_id = $1 AND b.source = 'allowance' AND b.plan_id = $2
       AND b.starts_at <= $3::timestamptz + interval '1 hour'
     ORDER BY (b.expires_at IS NULL OR b.expires_at > $3::timestamptz) DESC, b.starts_at DESC, b.id DESC LIMIT 1 FOR UPDATE`,
    [payment.account_id, payment.plan_id, payment.created_at],
  );
  return bucket;
}

/** floor(value × part / whole), exact for any amounts (the product may pass 2^53). */
const shareOf = (value: number, part: number, whole: number) => Number((BigInt(value) * BigInt(part)) / BigInt(whole));

async function applyRefund(tx: Sql, payment: PaymentRow, refundId: number, now: Date): Promise<void> {
  // The gate mutex, then the ledger mutex: the order every writer of value takes them.
  const terms = await lockGate(tx, payment.account_id, now);
  await tx.query('SELECT 1 FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [payment.account_id]);
  const [refund] = await tx.query<{ kind: PaymentRefundKind; amount_cents: number; processor: string; payment_ref: string }>(
    'SELECT kind, amount_cents, processor, payment_ref FROM payment_refunds WHERE id = $1 FOR UPDATE',
    [refundId],
  );
  const [paid] = await tx.query<{ refunded_cents: number }>('SELECT refunded_cents FROM payments WHERE id = $1 FOR UPDATE', [payment.id]);
  const refunded = paid!.refunded_cents;
  const { kind } = refund!;
  const applied = kind === 'dispute_won' ? 0 : Math.min(refund!.amount_cents, payment.amount_cents - refunded);
  const bucket = applied > 0 ? await bucketOf(tx, refund!.processor, refund!.payment_ref, payment, terms) : undefined;

  let share = 0;
  let removed = 0;
  let used = 0;
  if (bucket) {
    share = shareOf(bucket.amount_micros, refunded + applied, payment.amount_cents) - shareOf(bucket.amount_micros, refunded, payment.amount_cents);
    removed = Math.min(bucket.remaining_micros, share);
    if (payment.kind !== 'subscription') {
      // What left the bucket by use: not what is left, expired, or taken by earlier refunds; less what they counted as used.
      const [before] = await tx.query<{ removed: number; used: number }>(
        `SELECT COALESCE(sum(removed_micros), 0)::bigint AS removed, COALESCE(sum(used_micros), 0)::bigint AS used
         FROM payment_refunds WHERE payment_id = $1 AND status = 'applied'`,
        [payment.id],
      );
      const consumed = bucket.amount_micros - bucket.remaining_micros - bucket.expired - before!.removed;
      used = Math.max(0, Math.min(share - removed, consumed - before!.used));
    }
  }
  const usedValue = used > 0 ? terms.settings.refundUsedValue : null;
  const debt = usedValue === 'debt' ? used : 0;

  if (removed > 0 || debt > 0) await takeValue(tx, payment, bucket?.id ?? null, removed, debt, now);
  const disputed = kind === 'dispute';
  if (disputed) await tx.query('UPDATE accounts SET disputed_at = COALESCE(disputed_at, $2) WHERE id = $1', [payment.account_id, now]);
  await tx.query(
    `UPDATE payments SET refunded_cents = refunded_cents + $2, status = CASE WHEN refunded_cents + $2 >= amount_cents AND $2 > 0 THEN 'refunded' ELSE status END,
       disputed_at = CASE WHEN $3 THEN COALESCE(disputed_at, $4) ELSE disputed_at END WHERE id = $1`,
    [payment.id, applied, disputed, now],
  );
  await tx.query(
    `UPDATE payment_refunds SET status = 'applied', payment_id = $2, account_id = $3, applied_cents = $4, bucket_id = $5, share_micros = $6,
       removed_micros = $7, used_micros = $8, used_value = $9, applied_at = $10 WHERE id = $1`,
    [refundId, payment.id, payment.account_id, applied, bucket?.id ?? null, share, removed, used, usedValue, now],
  );
}

/** The ledger's side, with both mutexes held: value out of the bucket, and what is owed, each an entry naming the payment. */
async function takeValue(tx: Sql, payment: PaymentRow, bucketId: number | null, removed: number, debt: number, now: Date): Promise<void> {
  await tx.query(
    `WITH taken AS (
       UPDATE buckets SET remaining_micros = remaining_micros - $3 WHERE id = $2 AND $3 > 0
     ), entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, payment_id, created_at)
       SELECT $1, e.bucket_id, e.amount, 'payment_refund', $5, $6
       FROM (VALUES ($2::bigint, -$3::bigint), (NULL, -$4::bigint)) AS e (bucket_id, amount) WHERE e.amount <> 0
     )
     UPDATE account_balances SET debt_micros = debt_micros + $4, ledger_version = ledger_version + 1 WHERE account_id = $1`,
    [payment.account_id, bucketId, removed, debt, payment.id, now],
  );
  // Value taken changes what the gate may hold against: a decision read before it is written only if read again.
  await tx.query('UPDATE accounts SET gate_version = gate_version + 1 WHERE id = $1', [payment.account_id]);
}

// ---- A refund an admin starts ---------------------------------------------------------------

export const paymentRefundInputSchema = plain(
  z
    .object({
      amountCents: cents.positive('must be more than zero').optional().meta({ description: 'How much to give back, in cents; left out: all that is left of the payment.', example: 500 }),
    })
    .strict(),
);
export type PaymentRefundInput = z.input<typeof paymentRefundInputSchema>;

export interface PaymentRefundResult {
  paymentId: number;
  /** The processor's id of the refund. */
  refundRef: string;
  amountCents: number;
  /** refunded: the processor did it and its value came back out; pending: its webhook applies it when it goes through. */
  status: 'refunded' | 'pending';
}

/**
 * Refund a payment of the account through the processor it was paid through, once per
 * idempotency key (which is the processor's own key for the refund). When the processor answers
 * that it is done, the refund applies at once, keyed by its id: its webhook then finds it applied.
 *
 * What is asked of the processor is fixed by the first attempt and kept before the processor is
 * asked (under a key of its own, in its own transaction). A retry after a crash or a lost answer
 * asks for that refund again, and the processor answers the one it made, even when its webhook
 * applied it in between and nothing is left to refund: the retry answers the refund as applied.
 */
export async function refundPayment(
  ctx: Context, accountId: string, paymentId: number, { amountCents }: z.output<typeof paymentRefundInputSchema>, options?: EffectOptions,
): Promise<Once<PaymentRefundResult>> {
  const idempotencyKey = options?.idempotencyKey;
  if (idempotencyKey === undefined) {
    throw new BillingError('invalid_input', 'A payment refund needs an idempotency key: the processor is asked once per key, so a retry cannot refund twice', {
      issues: ['idempotencyKey: required'],
    });
  }
  const request = { accountId, paymentId, amountCents: amountCents ?? null };
  const askedKey = `refund_payment_asked:${idempotencyKey}`;
  const asked = await once(ctx.sql, { operation: 'refund_payment_asked', request, accountId }, askedKey, async (tx) => {
    const { amount } = await refundable(tx, ctx.clock(), accountId, paymentId, amountCents, true);
    return { amountCents: amount };
  }).catch((error: unknown) => {
    // Kept for another refund under this key: the processor may have made that one, so this is no retry of it.
    if (isBillingError(error, 'idempotency_conflict') && error.details?.operation === 'refund_payment_asked') throw idempotencyConflict(idempotencyKey, 'refund_payment', 'refund_payment');
    // The refund's own key answers these: its first result (a refund made before what it asks was
    // kept), idempotency_conflict naming it (the caller's own key of another call), or the same refusal.
    if (error instanceof BillingError && (error.code === 'refund_exceeds_payment' || error.code === 'idempotency_conflict')) return undefined;
    throw error;
  });
  return once<PaymentRefundResult>(ctx.sql, { operation: 'refund_payment', request, accountId }, idempotencyKey, async (tx) => {
    const now = ctx.clock();
    // Asked by an earlier attempt, it is not checked again: the processor may have made it, and its webhook applied it, leaving nothing to refund.
    // The payment's lock is held while the processor answers, not the gate mutex: the account's calls go on (applyRefund takes it after).
    const { account, payment, amount } = await refundable(tx, now, accountId, paymentId, asked?.amountCents ?? amountCents, !asked?.replayed, { gate: false });
    const processor = ctx.processors.get(payment.processor);
    if (!processor?.refund) {
      throw new BillingError('processor_not_configured', `Payment ${paymentId} was paid through "${payment.processor}", which cannot refund here`, { processor: payment.processor });
    }
    const refund = await processor.refund({ account, paymentRef: payment.processor_ref, paymentKind: payment.kind, amountCents: amount, idempotencyKey });
    if (refund.status === 'succeeded') {
      await receiveRefund(tx, payment.processor, { kind: 'refund', reference: refund.refundRef, paymentRef: payment.processor_ref, amountCents: amount }, now);
    }
    return { paymentId, refundRef: refund.refundRef, amountCents: amount, status: refund.status === 'succeeded' ? 'refunded' : 'pending' };
  }).catch(async (error: unknown) => {
    // Refused here (another refund took what was left since it was kept): the processor was not
    // asked, so what was kept is forgotten, and a retry is checked again.
    if (asked && !asked.replayed && error instanceof BillingError && error.code === 'refund_exceeds_payment') await ctx.sql.query('DELETE FROM effect_keys WHERE key = $1', [askedKey]);
    throw error;
  });
}

/**
 * The payment to refund and how much (`amountCents`, else all that is left), with its lock held,
 * and the account's gate mutex unless `gate` is false; `checked`: refused when more than is left.
 * What is left is the payment lock's to keep: every writer of a payment's refunds takes it first.
 */
async function refundable(tx: Sql, now: Date, accountId: string, paymentId: number, amountCents: number | undefined, checked: boolean, { gate = true } = {}) {
  const paymentOf = async () => {
    const [row] = await tx.query<{ processor: string; processor_ref: string; kind: 'pack' | 'subscription'; amount_cents: number; refunded_cents: number }>(
      'SELECT processor, processor_ref, kind, amount_cents, refunded_cents FROM payments WHERE id = $1 AND account_id = $2',
      [paymentId, accountId],
    );
    if (row) return row;
    if ((await tx.query('SELECT 1 FROM accounts WHERE id = $1', [accountId])).length === 0) throw accountNotFound(accountId);
    throw new BillingError('payment_not_found', `Account "${accountId}" has no payment ${paymentId}`, { accountId, paymentId });
  };
  // The payment's lock before the gate mutex, as its webhooks take them: the refund's own webhook waits for this.
  const { processor, processor_ref: paymentRef } = await paymentOf();
  await lockPaymentRef(tx, processor, paymentRef);
  const account = gate ? (await lockGate(tx, accountId, now)).account : await readAccount(tx, accountId);
  const payment = await paymentOf();
  const left = payment.amount_cents - payment.refunded_cents;
  const amount = amountCents ?? left;
  if (checked && (amount <= 0 || amount > left)) {
    const usd = (cents: number) => formatUsd(centsToMicros(cents));
    throw new BillingError('refund_exceeds_payment', `Payment ${paymentId} has ${usd(left)} left to refund; asked for ${usd(amount)}`, { paymentId, refundableCents: left });
  }
  return { account, payment, amount };
}

async function readAccount(tx: Sql, accountId: string): Promise<Account> {
  const [row] = await tx.query<AccountRow & { plan_id: number }>(`SELECT ${ACCOUNT_COLUMNS}, a.plan_id FROM accounts a WHERE a.id = $1`, [accountId]);
  return accountFromRow(row!); // the payment names it: it exists
}
