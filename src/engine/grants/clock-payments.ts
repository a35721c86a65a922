/**
 * The payments of a subscription whose periods the clock runs (the fake processor's, which
 * charges nobody and sends no webhook): each period is paid as it begins, its first at checkout,
 * as a real processor charges the card on the renewal date and its webhook tells. Its payment is
 * recorded once per period (its reference names the subscription and the period's start),
 * whoever records it first: the renewal job (`runClockRenewals`, which every server worker runs),
 * or a call that opens the period's allowance before the job came to it. So the account's payments
 * and the money view show a subscription through the fake as they show one through Stripe or
 * Paddle, whether or not the account calls and whether or not its plan includes usage.
 *
 * The subscription's `renews_at` is the start of the next period whose payment the job is to
 * record; the job takes the account's gate mutex for it, skipping an account another process
 * holds, records every period begun by now (each at its start, on the terms of that moment: a
 * plan ended by a cancel is paid no more), and moves it on. A subscription left, or ended, renews
 * no more.
 */
import type { Sql } from '../../db/sql.ts';
import { isFree } from '../../core/plan.ts';
import type { Context } from '../context.ts';
import { lockGate, type Terms } from '../terms.ts';
import { endReplacedSubscriptions } from './replaced-processor.ts';

/** A paid plan in force whose periods the clock runs: a period a processor paid for has its payment from the processor's webhook. */
const clockRuns = (terms: Terms) => !isFree(terms.plan) && terms.account.paidThrough === null && !terms.planEnded && !terms.unpaid;

/** Record the payment of the period `terms` is in, if the clock runs the account's subscription; true if it was not recorded before. */
export async function recordClockPeriodPayment(tx: Sql, terms: Terms): Promise<boolean> {
  if (!clockRuns(terms)) return false;
  const recorded = await tx.query(
    `INSERT INTO payments (account_id, processor, processor_ref, kind, plan_id, amount_cents, status, created_at)
     SELECT s.account_id, s.processor, s.processor_ref || ':' || $3, 'subscription', $2, $4, 'succeeded', $5
     FROM subscriptions s WHERE s.account_id = $1 AND s.status = 'active' AND s.plan_id = $2
     ORDER BY s.started_at DESC, s.id DESC LIMIT 1
     ON CONFLICT (processor, processor_ref) DO NOTHING RETURNING 1`,
    [terms.account.id, terms.plan.id, terms.period.start.toISOString(), terms.plan.priceCents, terms.period.start],
  );
  return recorded.length > 0;
}

/**
 * With the account's gate mutex held: record the payment of each period of its subscription that
 * has begun by `now` and is not recorded yet, from the one it renews at, and set when it next
 * renews (never, once ended). How many payments it recorded; undefined if none was due.
 */
export async function recordRenewals(tx: Sql, accountId: string, now: Date): Promise<number | undefined> {
  const [due] = await tx.query<{ id: number; renews_at: Date }>(
    'SELECT id, renews_at FROM subscriptions WHERE account_id = $1 AND renews_at <= $2 ORDER BY renews_at, id LIMIT 1',
    [accountId, now],
  );
  if (!due) return undefined;
  let recorded = 0;
  let at: Date | null = due.renews_at;
  while (at !== null && at <= now) {
    const terms = await lockGate(tx, accountId, at);
    if (!clockRuns(terms)) {
      at = null;
    } else {
      if (await recordClockPeriodPayment(tx, terms)) recorded += 1;
      at = terms.period.end;
    }
  }
  await tx.query('UPDATE subscriptions SET renews_at = $2 WHERE id = $1', [due.id, at]);
  return recorded;
}

export interface ClockRenewal {
  accountId: string;
  /** Payments recorded: more than one for periods begun while no process ran the job. */
  payments: number;
  /** Its processor was replaced by another: the subscription ends then, at its period's end, instead of renewing (replaced-processor.ts). */
  endsAt?: Date;
}

/**
 * End at its period's end each subscription the clock runs on a processor another replaced,
 * then record the renewals due of the others, up to `limit` accounts each, here: any
 * number of processes may at once, as each claims an account by its gate mutex and skips those
 * claimed. Run it often (the server's workers do, every second).
 */
export async function runClockRenewals(ctx: Context, { limit = 100 }: { limit?: number } = {}): Promise<ClockRenewal[]> {
  const ended = await endReplacedSubscriptions(ctx, { limit });
  const now = ctx.clock();
  const renewals: ClockRenewal[] = ended.map(({ accountId, endsAt }) => ({ accountId, payments: 0, endsAt }));
  for (let i = 0; i < limit; i++) {
    const claimed = await ctx.sql.transaction(async (tx) => {
      const [account] = await tx.query<{ id: string }>(
        `SELECT a.id FROM subscriptions s JOIN accounts a ON a.id = s.account_id
         WHERE s.renews_at <= $1 ORDER BY s.renews_at, s.id LIMIT 1 FOR NO KEY UPDATE OF a SKIP LOCKED`,
        [now],
      );
      // Renewed by another process since this one read it: nothing is due any more.
      const payments = account && (await recordRenewals(tx, account.id, now));
      return account && { accountId: account.id, payments };
    });
    if (!claimed) break;
    if (claimed.payments !== undefined) renewals.push({ accountId: claimed.accountId, payments: claimed.payments });
  }
  return renewals;
}
