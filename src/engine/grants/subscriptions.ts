/**
 * Plan changes, as every processor reports them once payment is settled: a plan becomes
 * active (a new period starts now and its allowance opens), or is canceled (it runs to the
 * end of the paid period, then the account falls back to the default plan).
 * No proration: a change takes effect at once and the old period's unused allowance lapses.
 */
import { allowanceReference } from '../../core/bucket.ts';
import { BillingError } from '../../core/errors.ts';
import { isFree, type Plan } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { openAllowance } from './grants.ts';
import { lockGate, type Terms } from '../terms.ts';

export interface Subscription {
  accountId: string;
  plan: Plan;
  periodStart: Date;
  periodEnd: Date;
  endsAt: Date | null;
}

async function lapseCurrentAllowance(tx: Sql, terms: Terms): Promise<void> {
  // The ledger mutex before any bucket, the order every writer of value keeps. Closing a bucket
  // changes what can be drawn, so it moves the ledger version: a charge read before it and
  // written after (guarded by that version) must not draw on the closed allowance.
  await tx.query('UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1', [terms.account.id]);
  await tx.query(`UPDATE buckets SET expires_at = $3 WHERE account_id = $1 AND reference = $2 AND (expires_at IS NULL OR expires_at > $3)`, [
    terms.account.id,
    allowanceReference(terms.plan.id, terms.period.start),
    terms.now,
  ]);
}

export async function activatePlan(tx: Sql, accountId: string, plan: Plan, payment: { processor: string; processorRef: string; now: Date }): Promise<Subscription> {
  const before = await lockGate(tx, accountId, payment.now);
  const unchanged = before.plan.id === plan.id && !before.planEnded && before.account.planEndsAt === null;
  if (unchanged) {
    return { accountId, plan, periodStart: before.period.start, periodEnd: before.period.end, endsAt: null };
  }
  await lapseCurrentAllowance(tx, before);
  await tx.query(`UPDATE subscriptions SET status = 'canceled', cancel_at = $2 WHERE account_id = $1 AND status = 'active'`, [accountId, payment.now]);
  await tx.query(`UPDATE accounts SET plan_id = $2, plan_anchor_at = $3, plan_ends_at = NULL, gate_version = gate_version + 1 WHERE id = $1`, [
    accountId,
    plan.id,
    isFree(plan) ? null : payment.now,
  ]);
  if (!isFree(plan)) {
    await tx.query(
      `INSERT INTO subscriptions (account_id, plan_id, processor, processor_ref, status, started_at) VALUES ($1, $2, $3, $4, 'active', $5)`,
      [accountId, plan.id, payment.processor, payment.processorRef, payment.now],
    );
  }
  const after = await lockGate(tx, accountId, payment.now);
  await openAllowance(tx, after);
  return { accountId, plan, periodStart: after.period.start, periodEnd: after.period.end, endsAt: null };
}

/** Cancel the paid plan: at the end of the paid period, or at once. */
export async function cancelPlan(tx: Sql, accountId: string, options: { now: Date; immediately?: boolean }): Promise<Subscription> {
  const terms = await lockGate(tx, accountId, options.now);
  if (isFree(terms.plan) || terms.planEnded) {
    throw new BillingError('no_subscription', `Account "${accountId}" has no paid plan to cancel`, { accountId });
  }
  const endsAt = options.immediately ? options.now : terms.period.end;
  if (options.immediately) await lapseCurrentAllowance(tx, terms);
  await tx.query(`UPDATE accounts SET plan_ends_at = $2, gate_version = gate_version + 1 WHERE id = $1`, [accountId, endsAt]);
  await tx.query(`UPDATE subscriptions SET cancel_at = $2 WHERE account_id = $1 AND status = 'active'`, [accountId, endsAt]);
  return { accountId, plan: terms.plan, periodStart: terms.period.start, periodEnd: terms.period.end, endsAt };
}
