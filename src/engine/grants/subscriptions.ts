/**
 * A paid plan's periods. On the fake processor the clock runs them: a plan becomes active now and
 * each month from then opens its allowance. On a real processor the processor does: a period,
 * and its allowance, opens when the processor says it is paid (periodPaid), for the dates it
 * names; past the last period paid the account is on the default plan's terms until the next
 * one is (terms.ts), and a renewal whose payment failed makes it past due (renewalFailed).
 *
 * A plan change on a processor's subscription is the processor's (changePlan): it bills the
 * proration at once and refuses the change unless that is paid, and the new plan applies from
 * then to the end of the period paid, its allowance in proportion. A cancel runs to the end of
 * the paid period (or ends now), then the account falls back to the default plan.
 *
 * A renewal opens on the plan version sold at the price it paid, whatever a move at renewal wrote
 * (catalog/plan-versions.ts), so a crash between the processor's price change and its write is
 * repaired by the next payment.
 *
 * Events about one subscription may come in any order and more than once: each is applied by
 * what it says against what the account has, so the end state is the order's of the periods,
 * not of the deliveries. A period no later than the one paid through opens nothing.
 */
import { allowanceReference } from '../../core/bucket.ts';
import { BillingError } from '../../core/errors.ts';
import type { Period } from '../../core/periods.ts';
import { isFree, type Plan } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { openAllowance } from './grants.ts';
import { lockGate, NO_VERSION_MOVE, type Terms } from '../terms.ts';

export interface Subscription {
  accountId: string;
  plan: Plan;
  periodStart: Date;
  periodEnd: Date;
  endsAt: Date | null;
}

/** The processor's subscription the account is on, if any. */
export interface ActiveSubscription {
  processor: string;
  processorRef: string;
  planId: number;
}

export async function activeSubscription(tx: Sql, accountId: string): Promise<ActiveSubscription | undefined> {
  const [row] = await tx.query<{ processor: string; processor_ref: string; plan_id: number }>(
    `SELECT processor, processor_ref, plan_id FROM subscriptions WHERE account_id = $1 AND status = 'active' ORDER BY started_at DESC, id DESC LIMIT 1`,
    [accountId],
  );
  return row && { processor: row.processor, processorRef: row.processor_ref, planId: row.plan_id };
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

/**
 * The version of plan `$2` an account buys: its current one, kept until the admin moves the
 * account (catalog/plan-versions.ts); none on a free plan, which follows its current version.
 */
const BOUGHT_VERSION = `(SELECT CASE WHEN price_cents > 0 THEN version END FROM plans WHERE id = $2)`;

const subscriptionOf = (terms: Terms, endsAt: Date | null = null): Subscription => ({
  accountId: terms.account.id, plan: terms.plan, periodStart: terms.period.start, periodEnd: terms.period.end, endsAt,
});

/**
 * Put the account on `plan`, leaving the one it was on. With `period` (a real processor's first
 * payment, or a plan changed at the processor), the plan runs on that paid period; without, on
 * the clock from now. The version is the plan's current one, or `version`: the one its price paid for.
 */
export async function activatePlan(
  tx: Sql,
  accountId: string,
  plan: Plan,
  payment: { processor: string; processorRef: string; now: Date; period?: Period; version?: number },
): Promise<Subscription> {
  const before = await lockGate(tx, accountId, payment.now);
  // The same plan at another price is another version (catalog/plan-versions.ts): buying it moves the account.
  const unchanged = before.plan.id === plan.id && before.plan.priceCents === plan.priceCents && !before.planEnded && !before.unpaid && before.account.planEndsAt === null;
  if (unchanged && !payment.period) return subscriptionOf(before);
  await lapseCurrentAllowance(tx, before);
  const current = await activeSubscription(tx, accountId);
  if (current?.processor === payment.processor && current.processorRef === payment.processorRef) {
    await tx.query(`UPDATE subscriptions SET plan_id = $3, cancel_at = NULL WHERE processor = $1 AND processor_ref = $2`, [payment.processor, payment.processorRef, plan.id]);
  } else {
    await tx.query(`UPDATE subscriptions SET status = 'canceled', cancel_at = $2, renews_at = NULL WHERE account_id = $1 AND status = 'active'`, [accountId, payment.now]);
    if (!isFree(plan)) {
      // One the clock runs is paid from now, period by period (clock-payments.ts); a processor's renews by its webhooks.
      await tx.query(
        `INSERT INTO subscriptions (account_id, plan_id, processor, processor_ref, status, started_at, renews_at) VALUES ($1, $2, $3, $4, 'active', $5, $6)`,
        [accountId, plan.id, payment.processor, payment.processorRef, payment.now, payment.period ? null : payment.now],
      );
    }
  }
  const paid = !isFree(plan) && payment.period;
  await tx.query(
    `UPDATE accounts SET plan_id = $2, plan_version = COALESCE($5, ${BOUGHT_VERSION}), ${NO_VERSION_MOVE}, plan_anchor_at = $3, paid_through = $4, plan_ends_at = NULL,
       past_due_through = NULL, past_due_at = NULL, gate_version = gate_version + 1 WHERE id = $1`,
    [accountId, plan.id, isFree(plan) ? null : paid ? paid.start : payment.now, paid ? paid.end : null, isFree(plan) ? null : (payment.version ?? null)],
  );
  const after = await lockGate(tx, accountId, payment.now);
  await openAllowance(tx, after);
  return subscriptionOf(after);
}

/**
 * The processor says a period of the subscription is paid (its first, a renewal, or a plan
 * change's proration). The subscription the account is on, on the same plan, moves on to the
 * period if it is later than the one paid through, and its allowance opens; another
 * subscription, or another plan on a period that starts within the current one or later, is
 * activated for it. Either way the period is on the version of the plan sold at the price paid
 * (none told, or none sold at it: the version written, or the plan's current one for a plan
 * activated). Anything older opens nothing: its payment is recorded by the caller.
 */
export async function periodPaid(
  tx: Sql,
  accountId: string,
  plan: Plan,
  paid: { processor: string; subscriptionRef: string; period: Period; now: Date; pricePaid?: string },
): Promise<'applied' | 'ignored'> {
  const before = await lockGate(tx, accountId, paid.now);
  const [left] = await tx.query(`SELECT 1 FROM subscriptions WHERE processor = $1 AND processor_ref = $2 AND status = 'canceled'`, [paid.processor, paid.subscriptionRef]);
  if (left) return 'ignored'; // a subscription the account left: its late payment moves nothing
  const current = await activeSubscription(tx, accountId);
  const onIt = current?.processor === paid.processor && current.processorRef === paid.subscriptionRef && !before.planEnded;
  const { paidThrough, planAnchorAt } = before.account;
  const activate = async () => {
    const version = await versionSoldAt(tx, accountId, plan.id, paid);
    await activatePlan(tx, accountId, plan, { processor: paid.processor, processorRef: paid.subscriptionRef, now: paid.now, period: paid.period, ...(version === undefined ? {} : { version }) });
    return 'applied' as const;
  };
  if (!onIt || !paidThrough) return activate();
  if (current!.planId !== plan.id) {
    // A plan changed at the processor (its proration's period starts within the current one or
    // later), or an older period of a plan left since: only the first moves the account.
    if (planAnchorAt && paid.period.start < planAnchorAt) return 'ignored';
    return activate();
  }
  if (paid.period.end <= paidThrough) return 'ignored';
  // A renewal: what the default plan gave while it was due lapses, and the paid period opens.
  if (before.unpaid) await lapseCurrentAllowance(tx, before);
  await tx.query(
    `UPDATE accounts SET plan_anchor_at = $2, paid_through = $3, gate_version = gate_version + 1,
       past_due_through = CASE WHEN past_due_through <= $3 THEN NULL ELSE past_due_through END,
       past_due_at = CASE WHEN past_due_through <= $3 THEN NULL ELSE past_due_at END
     WHERE id = $1`,
    [accountId, paid.period.start, paid.period.end],
  );
  await openAllowance(tx, await onVersionPaid(tx, accountId, paid));
  return 'applied';
}

/**
 * The version of plan `$2` sold at processor `$3`'s price `$4`, for account `$1`: the one it is
 * on if that was, else the newest. A version made before a sync keeps the price of the one
 * before it until the sync: the versions sold at a price are those of the first one's amount.
 */
const VERSION_SOLD_AT = `WITH sold AS (SELECT version, price_cents FROM plan_versions WHERE plan_id = $2 AND processor_prices ->> $3 = $4)
  SELECT s.version FROM sold s JOIN accounts a ON a.id = $1
  WHERE s.price_cents = (SELECT price_cents FROM sold ORDER BY version LIMIT 1)
  ORDER BY COALESCE(a.plan_id = $2 AND s.version = a.plan_version, false) DESC, s.version DESC LIMIT 1`;

/** The version of the plan sold at the price paid; undefined: none told, or none sold at it. */
async function versionSoldAt(tx: Sql, accountId: string, planId: number, paid: { processor: string; pricePaid?: string }): Promise<number | undefined> {
  if (paid.pricePaid === undefined) return undefined;
  const [sold] = await tx.query<{ version: number }>(VERSION_SOLD_AT, [accountId, planId, paid.processor, paid.pricePaid]);
  return sold?.version;
}

/**
 * A renewal's terms, on the version of the plan its price paid for. A move at renewal changes the
 * price at the processor before it is written here, so a crash between the two (or a move called
 * off likewise) leaves the customer paying one version's price while the account names another:
 * the price paid decides, and the period opens on the version sold at it. A price no version was
 * sold at (or none told) leaves the version as written.
 */
async function onVersionPaid(tx: Sql, accountId: string, paid: { processor: string; now: Date; pricePaid?: string }): Promise<Terms> {
  const terms = await lockGate(tx, accountId, paid.now);
  if (terms.unpaid || terms.plan.processorPrices[paid.processor] === paid.pricePaid) return terms;
  const version = await versionSoldAt(tx, accountId, terms.plan.id, paid);
  if (version === undefined) return terms;
  await tx.query(`UPDATE accounts SET plan_version = $2, ${NO_VERSION_MOVE}, gate_version = gate_version + 1 WHERE id = $1`, [accountId, version]);
  return lockGate(tx, accountId, paid.now);
}

/**
 * The processor says a renewal's payment failed (the period it was for ends at `periodEnd`): past
 * due from the first failure told, unless that period is paid already.
 */
export async function renewalFailed(
  tx: Sql,
  accountId: string,
  failed: { processor: string; subscriptionRef: string; periodEnd: Date; at: Date; now: Date },
): Promise<'applied' | 'ignored'> {
  const terms = await lockGate(tx, accountId, failed.now);
  const current = await activeSubscription(tx, accountId);
  if (current?.processor !== failed.processor || current.processorRef !== failed.subscriptionRef || terms.planEnded) return 'ignored';
  if (terms.account.paidThrough && failed.periodEnd <= terms.account.paidThrough) return 'ignored';
  const [moved] = await tx.query(
    `UPDATE accounts SET gate_version = gate_version + 1,
       past_due_at = CASE WHEN past_due_through = $2 THEN LEAST(past_due_at, $3) ELSE $3 END,
       past_due_through = $2
     WHERE id = $1 AND (past_due_through IS NULL OR past_due_through <= $2) RETURNING 1`,
    [accountId, failed.periodEnd, failed.at],
  );
  return moved ? 'applied' : 'ignored';
}

/**
 * The processor changed the plan of the account's subscription and was paid its proration: the
 * new plan applies from now to the end of the period paid, its allowance in proportion to what
 * is left of a month, and the old plan's allowance lapses. Clears a cancel scheduled for the
 * period's end, as the processor does.
 */
export async function changePlan(tx: Sql, before: Terms, plan: Plan): Promise<Subscription> {
  if (before.plan.id === plan.id) {
    // The same plan: a cancel scheduled for the period's end is called off, nothing else moves.
    await tx.query(`UPDATE subscriptions SET cancel_at = NULL WHERE account_id = $1 AND status = 'active'`, [before.account.id]);
    await tx.query(`UPDATE accounts SET plan_ends_at = NULL, gate_version = gate_version + 1 WHERE id = $1`, [before.account.id]);
    return subscriptionOf(before);
  }
  await lapseCurrentAllowance(tx, before);
  await tx.query(`UPDATE subscriptions SET plan_id = $2, cancel_at = NULL WHERE account_id = $1 AND status = 'active'`, [before.account.id, plan.id]);
  await tx.query(`UPDATE accounts SET plan_id = $2, plan_version = ${BOUGHT_VERSION}, ${NO_VERSION_MOVE}, plan_anchor_at = $3, plan_ends_at = NULL, gate_version = gate_version + 1 WHERE id = $1`, [
    before.account.id,
    plan.id,
    before.now,
  ]);
  const after = await lockGate(tx, before.account.id, before.now);
  await openAllowance(tx, after);
  return subscriptionOf(after);
}

/** Cancel the paid plan: at the end of the paid period, or at once. */
export async function cancelPlan(tx: Sql, accountId: string, options: { now: Date; immediately?: boolean }): Promise<Subscription> {
  const terms = await lockGate(tx, accountId, options.now);
  assertCancelable(terms);
  // Unpaid, there is no paid period to run to: it ends now, and the default plan's allowance stays.
  const endsAt = options.immediately || terms.unpaid ? options.now : terms.period.end;
  if (options.immediately && !terms.unpaid) await lapseCurrentAllowance(tx, terms);
  await tx.query(`UPDATE accounts SET plan_ends_at = $2, gate_version = gate_version + 1 WHERE id = $1`, [accountId, endsAt]);
  await tx.query(`UPDATE subscriptions SET cancel_at = $2 WHERE account_id = $1 AND status = 'active'`, [accountId, endsAt]);
  return subscriptionOf(terms, endsAt);
}

/** The account is on no paid plan: a free one, or one that ended. */
export function planGone(terms: Terms): boolean {
  return (isFree(terms.plan) && !terms.unpaid) || terms.planEnded;
}

/** A cancel's check: there is a paid plan to end. */
export function assertCancelable(terms: Terms): void {
  if (planGone(terms)) throw new BillingError('no_subscription', `Account "${terms.account.id}" has no paid plan to cancel`, { accountId: terms.account.id });
}

/**
 * A cancel's answer for a plan that ended while it was asked: the plan as it was (`before`),
 * ended when the processor said its subscription did (the end it wrote, kept after the plan's end
 * is applied), or `now` if it never said.
 */
export async function endedMeanwhile(tx: Sql, before: Terms, subscription: ActiveSubscription | undefined, now: Date): Promise<Subscription> {
  const [row] = subscription
    ? await tx.query<{ cancel_at: Date | null }>('SELECT cancel_at FROM subscriptions WHERE processor = $1 AND processor_ref = $2', [subscription.processor, subscription.processorRef])
    : [];
  return subscriptionOf(before, row?.cancel_at ?? now);
}
