/**
 * The payments of a subscription whose periods the clock runs (the fake processor's, which
 * charges nobody and sends no webhook): each period is paid as it opens, its first at checkout,
 * and its payment is recorded then, once per period (its reference names the subscription and
 * the period's start), as a real processor's invoice paid is by its webhook. So the account's
 * payments and the money view show a subscription through the fake as they show one through
 * Stripe or Paddle.
 */
import type { Sql } from '../../db/sql.ts';
import { isFree } from '../../core/plan.ts';
import type { Terms } from '../terms.ts';

/** Record the payment of the period `terms` is in, if the clock runs the account's subscription: with the allowance it opens. */
export async function recordClockPeriodPayment(tx: Sql, terms: Terms): Promise<void> {
  // A period a processor paid for has its payment from the processor's webhook.
  if (isFree(terms.plan) || terms.account.paidThrough !== null || terms.planEnded || terms.unpaid) return;
  await tx.query(
    `INSERT INTO payments (account_id, processor, processor_ref, kind, plan_id, amount_cents, status, created_at)
     SELECT s.account_id, s.processor, s.processor_ref || ':' || $3, 'subscription', $2, $4, 'succeeded', $5
     FROM subscriptions s WHERE s.account_id = $1 AND s.status = 'active' AND s.plan_id = $2
     ORDER BY s.started_at DESC, s.id DESC LIMIT 1
     ON CONFLICT (processor, processor_ref) DO NOTHING`,
    [terms.account.id, terms.plan.id, terms.period.start.toISOString(), terms.plan.priceCents, terms.period.start],
  );
}
