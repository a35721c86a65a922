/**
 * Grants add value: a bucket and its ledger entry, written once per reference (the payment,
 * or plan:period for an allowance), so a retried grant is a no-op. New value pays the
 * account's debt before anything else.
 */
import { allowanceReference, DEFAULT_PRIORITY, type BucketSource } from '../../core/bucket.ts';
import { BillingError } from '../../core/errors.ts';
import { formatUsd, type Micros } from '../../core/money.ts';
import { anchoredMonthPeriod, type Period } from '../../core/periods.ts';
import { includedMicros } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { z } from 'zod';
import { grantMicros, instant, plain, text } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { once, type EffectOptions, type Once } from '../once.ts';
import { lockGate, type Terms } from '../terms.ts';
import { recordClockPeriodPayment } from './clock-payments.ts';

export interface GrantInput {
  accountId: string;
  source: BucketSource;
  amountMicros: Micros;
  reference: string;
  now: Date;
  startsAt?: Date;
  expiresAt?: Date | null;
  priority?: number;
  planId?: number | null;
  packId?: number | null;
}

export interface GrantResult {
  bucketId: number;
  created: boolean;
  debtPaidMicros: number;
}

export async function grant(tx: Sql, g: GrantInput): Promise<GrantResult> {
  // The ledger mutex before the bucket, the order every writer of value keeps.
  const [balance] = await tx.query<{ debt_micros: number }>('SELECT debt_micros FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [g.accountId]);
  const [inserted] = await tx.query<{ id: number }>(
    `INSERT INTO buckets (account_id, source, amount_micros, remaining_micros, priority, starts_at, expires_at, reference, plan_id, pack_id, created_at)
     VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (account_id, reference) DO NOTHING RETURNING id`,
    [
      g.accountId, g.source, g.amountMicros, g.priority ?? DEFAULT_PRIORITY[g.source], g.startsAt ?? g.now, g.expiresAt ?? null,
      g.reference, g.planId ?? null, g.packId ?? null, g.now,
    ],
  );
  if (!inserted) {
    const [existing] = await tx.query<{ id: number }>('SELECT id FROM buckets WHERE account_id = $1 AND reference = $2', [g.accountId, g.reference]);
    return { bucketId: existing!.id, created: false, debtPaidMicros: 0 };
  }
  const pay = Math.min(balance!.debt_micros, g.amountMicros);
  await tx.query(
    `WITH entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, created_at)
       SELECT $1, e.bucket_id, e.amount, e.kind, $5
       FROM (VALUES ($2::bigint, $3::bigint, 'grant'), ($2, -$4::bigint, 'debt_payment'), (NULL, $4, 'debt_payment')) AS e (bucket_id, amount, kind)
       WHERE e.amount <> 0
     ), paid AS (
       UPDATE buckets SET remaining_micros = remaining_micros - $4 WHERE id = $2 AND $4 > 0
     )
     UPDATE account_balances SET debt_micros = debt_micros - $4, ledger_version = ledger_version + 1 WHERE account_id = $1`,
    [g.accountId, inserted.id, g.amountMicros, pay, g.now],
  );
  return { bucketId: inserted.id, created: true, debtPaidMicros: pay };
}

export interface CreditGrant {
  accountId: string;
  source: 'bonus' | 'adjustment';
  amountMicros: Micros;
  /** The caller's: one credit per reference, whatever its source. */
  reference: string;
  now: Date;
  expiresAt: Date | null;
}

/**
 * A gift or correction, once per reference. A retry (the same source, amount and expiry) gets
 * the first grant back; the reference reused for a different credit is an
 * `idempotency_conflict`, as a reused settle or record key is, rather than the first grant
 * passed off as this one. The caller holds the account's gate mutex, so no other credit of the
 * account comes in between the look and the grant.
 */
export async function grantCredit(tx: Sql, c: CreditGrant): Promise<GrantResult> {
  const [first] = await tx.query<{ id: number; source: string; amount_micros: number; expires_at: Date | null }>(
    'SELECT id, source, amount_micros, expires_at FROM buckets WHERE account_id = $1 AND reference = ANY ($2::text[]) ORDER BY id LIMIT 1',
    [c.accountId, [`bonus:${c.reference}`, `adjustment:${c.reference}`]],
  );
  if (!first) {
    // Expired as it is made, it could never be spent: refused, where its retry (above) is the credit made.
    if (c.expiresAt !== null && c.expiresAt <= c.now) {
      throw new BillingError('invalid_input', `Invalid credit: expiresAt: ${c.expiresAt.toISOString()} is not in the future, so the credit could never be spent`, {
        issues: [`expiresAt: ${c.expiresAt.toISOString()} is not in the future, so the credit could never be spent: leave it out for a credit that never expires`],
      });
    }
    return grant(tx, { ...c, reference: `${c.source}:${c.reference}` });
  }
  const expiry = (at: Date | null) => (at ? `expiring ${at.toISOString()}` : 'never expiring');
  if (first.source !== c.source || first.amount_micros !== c.amountMicros || expiry(first.expires_at) !== expiry(c.expiresAt)) {
    throw new BillingError(
      'idempotency_conflict',
      `The credit reference "${c.reference}" was used already, for a ${first.source} of ${formatUsd(first.amount_micros)} ${expiry(first.expires_at)}: ` +
        `a retry must repeat that credit exactly, and a different credit needs a reference of its own`,
      { reference: c.reference, bucketId: first.id },
    );
  }
  return { bucketId: first.id, created: false, debtPaidMicros: 0 };
}

/**
 * Open the current period's allowance if the plan includes value and it is not open yet. It
 * starts at the period's start, whenever it is opened. What the last period left is written
 * off later, by expireCredit (expiry.ts): a period opened by a clock that ran ahead writes off
 * nothing. A period a processor was paid for that is shorter than a month (a plan changed
 * within one) opens the plan's allowance in proportion.
 */
export async function openAllowance(tx: Sql, terms: Terms): Promise<GrantResult | undefined> {
  const paidPeriod = terms.account.paidThrough !== null && !terms.unpaid && !terms.planEnded;
  const amount = paidPeriod ? proratedMicros(includedMicros(terms.plan), terms.period) : includedMicros(terms.plan);
  if (amount <= 0) return undefined;
  const opened = await grant(tx, {
    accountId: terms.account.id,
    source: 'allowance',
    amountMicros: amount,
    reference: allowanceReference(terms.plan.id, terms.period.start),
    now: terms.now,
    startsAt: terms.period.start,
    expiresAt: terms.period.end,
    planId: terms.plan.id,
  });
  // A period the clock runs is paid as it begins: its payment, if the renewal job has not recorded it yet, is recorded with its allowance.
  if (opened.created) await recordClockPeriodPayment(tx, terms);
  return opened;
}

/** `micros` for the part of a month `period` covers (all of it for a month or more), rounded down. */
export function proratedMicros(micros: Micros, period: Period): Micros {
  const month = anchoredMonthPeriod(period.start, period.start);
  const covered = BigInt(period.end.getTime() - period.start.getTime());
  const whole = BigInt(month.end.getTime() - month.start.getTime());
  return (covered >= whole ? micros : Number((BigInt(micros) * covered) / whole)) as Micros;
}

export const creditInputSchema = plain(
  z
    .object({
      source: z.enum(['bonus', 'adjustment']).meta({ description: 'bonus: a gift; adjustment: a correction.' }),
      amountMicros: grantMicros.positive('must be more than $0.00').meta({ description: 'Value to add, in micro-dollars (more than zero).', example: 5_000_000 }),
      reference: text(200).min(1, 'must not be empty: it makes the grant happen once').meta({
        description: 'Makes the credit happen once: a retry repeats it exactly; another credit needs another reference.', example: 'welcome-2026',
      }),
      // The type says null too: a document made from the schema reads an instant's type from its metadata alone.
      expiresAt: instant.nullable().optional().meta({ type: ['string', 'null'], description: 'When the value expires, which must be in the future; left out or null: never.' }),
    })
    .strict(),
);
export type CreditInput = z.input<typeof creditInputSchema>;

/** A gift or correction of value, once per reference (grantCredit) and per idempotency key (once.ts); its input parsed by the facade. */
export async function credit(ctx: Context, accountId: string, c: z.output<typeof creditInputSchema>, options?: EffectOptions): Promise<Once<GrantResult>> {
  return once(ctx.sql, { operation: 'credit', request: { accountId, ...c }, accountId }, options?.idempotencyKey, async (tx) => {
    const now = ctx.clock();
    await lockGate(tx, accountId, now); // the account must exist
    return grantCredit(tx, { accountId, source: c.source, amountMicros: c.amountMicros as Micros, reference: c.reference, now, expiresAt: c.expiresAt ?? null });
  });
}
