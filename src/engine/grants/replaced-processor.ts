/**
 * The subscriptions left on a processor another replaced (the fake, after a switch to Stripe or
 * Paddle). Those whose periods the clock runs would renew each month with nobody paying: each is
 * ended at its period's end instead, as its customer's cancel would be, so the account keeps
 * what it has until then and falls to the default plan after. Its customer can subscribe again
 * once the account pays through the processor that took over; calling the end off is refused
 * (checkout.ts). A processor's own subscriptions (paid periods) end by its own webhooks.
 */
import { isFree } from '../../core/plan.ts';
import type { Context } from '../context.ts';
import { lockGate } from '../terms.ts';
import { cancelPlan } from './subscriptions.ts';

export interface EndedSubscription {
  accountId: string;
  /** When its plan ends: the end of the period it is in. */
  endsAt: Date;
}

/**
 * End at its period's end each subscription the clock runs on a replaced processor, up to
 * `limit` accounts, here: any number of processes may at once, as each claims an account by its
 * gate mutex and skips those claimed. Those ended, with when.
 */
export async function endReplacedSubscriptions(ctx: Context, { limit = 100 }: { limit?: number } = {}): Promise<EndedSubscription[]> {
  const replaced = [...ctx.processors.values()].filter((p) => p.replacedBy !== undefined).map((p) => p.name);
  if (replaced.length === 0) return [];
  const now = ctx.clock();
  const ended: EndedSubscription[] = [];
  let after = 0;
  for (let i = 0; i < limit; i++) {
    const claimed = await ctx.sql.transaction(async (tx) => {
      // Renewing by the clock (renews_at set) with no end scheduled yet, on the subscription or the account.
      const [row] = await tx.query<{ id: number; account_id: string }>(
        `SELECT s.id, s.account_id FROM subscriptions s JOIN accounts a ON a.id = s.account_id
         WHERE s.renews_at IS NOT NULL AND s.status = 'active' AND s.cancel_at IS NULL AND a.plan_ends_at IS NULL AND s.processor = ANY($1) AND s.id > $2
         ORDER BY s.id LIMIT 1 FOR NO KEY UPDATE OF a SKIP LOCKED`,
        [replaced, after],
      );
      if (!row) return undefined;
      const terms = await lockGate(tx, row.account_id, now);
      // On no paid plan any more, nothing renews for nothing: left as it is.
      if (isFree(terms.plan) || terms.planEnded) return { id: row.id };
      const { endsAt } = await cancelPlan(tx, row.account_id, { now });
      return { id: row.id, ended: { accountId: row.account_id, endsAt: endsAt! } };
    });
    if (!claimed) break;
    after = claimed.id;
    if (claimed.ended) ended.push(claimed.ended);
  }
  return ended;
}
