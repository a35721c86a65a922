/**
 * A processor's webhook, applied exactly once. The processor verifies the signature on the raw
 * body and says, in the engine's words, what happened (processor.ts); each event is then stored
 * once (unique per processor and event id, its raw payload kept) in the same transaction as its
 * effect: a pack paid is credited once per payment, as the version of the pack sold at the price
 * it paid (catalog/pack-versions.ts; a price no version sold at is refused, and kept as failed
 * for an admin), a subscription paid puts the account on its plan, a subscription ended moves it
 * to the default plan, a payment refunded or disputed takes back its value (payment-refunds.ts,
 * which also applies a refund told before its payment), and a refund that failed gives it back
 * again (refund-reversals.ts).
 *
 * A duplicate, or a concurrent delivery of the same event (which waits on the event's unique
 * index until the first commits), finds the event applied and does nothing. A failure rolls the
 * effect back, is recorded with its error, and is thrown, so the processor retries; the retry
 * applies it, once. Order does not matter where it cannot: each event carries what it needs (the
 * account, the plan or pack), and an event about a subscription that already ended is ignored.
 */
import { BillingError } from '../../core/errors.ts';
import type { Sql } from '../../db/sql.ts';
import { findPack, findPlan } from '../catalog/catalog.ts';
import { packSoldAt } from '../catalog/pack-versions.ts';
import type { Context } from '../context.ts';
import type { ProcessorEvent } from '../processor.ts';
import { lockGate } from '../terms.ts';
import { applyParkedRefunds, lockPaymentOf, receiveRefund, refundNoticeOf } from './payment-refunds.ts';
import { creditPack } from './purchases.ts';
import { reverseRefund } from './refund-reversals.ts';
import { completeRecharge, declineRecharge } from './recharges.ts';
import { activeSubscription, cancelPlan, periodPaid, renewalFailed } from './subscriptions.ts';
import { checkoutRequest } from './checkout.ts';
import type { Account } from '../rows.ts';

export type WebhookOutcome = 'applied' | 'duplicate' | 'ignored';

export interface WebhookResult {
  events: { eventId: string; type: string; outcome: WebhookOutcome }[];
}

/** The processor's id of what an event is about, and its account. */
function subjectOf(event: ProcessorEvent): { objectRef: string | null; accountId: string | null } {
  switch (event.type) {
    case 'payment.succeeded':
    case 'recharge.failed':
      return { objectRef: event.paymentRef, accountId: event.accountId };
    case 'subscription.paid':
    case 'subscription.past_due':
    case 'subscription.canceled':
      return { objectRef: event.subscriptionRef, accountId: event.accountId };
    case 'payment.refunded':
    case 'payment.disputed':
    case 'payment.dispute_won':
    case 'payment.refund_failed':
      return { objectRef: event.paymentRef, accountId: event.accountId ?? null };
    case 'ignored':
      return { objectRef: null, accountId: event.accountId ?? null };
  }
}

export async function receiveWebhook(ctx: Context, processorName: string, rawBody: string, headers: Headers): Promise<WebhookResult> {
  const processor = ctx.processors.get(processorName);
  if (!processor?.parseWebhook) {
    throw new BillingError('processor_not_configured', `No processor "${processorName}" takes webhooks here`, { processor: processorName });
  }
  const events = await processor.parseWebhook(rawBody, headers); // a bad signature throws: nothing stored
  const results: WebhookResult['events'] = [];
  for (const event of events) {
    results.push({ eventId: event.eventId, type: event.type, outcome: await receiveEvent(ctx, processorName, event, rawBody) });
  }
  return { events: results };
}

async function receiveEvent(ctx: Context, processor: string, event: ProcessorEvent, payload: string): Promise<WebhookOutcome> {
  const { objectRef, accountId } = subjectOf(event);
  const type = event.type === 'ignored' ? `ignored:${event.processorType}` : event.type;
  try {
    return await ctx.sql.transaction(async (tx) => {
      const claimed = await tx.query(
        `INSERT INTO webhook_events (processor, event_id, type, account_id, object_ref, payload, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'applied') ON CONFLICT (processor, event_id) DO NOTHING RETURNING id`,
        [processor, event.eventId, type, accountId, objectRef, payload],
      );
      if (claimed.length === 0) {
        // Delivered before: applied (or ignored) then, or failed and to be applied now, with its row held.
        // A duplicate updates its row to be counted (and so holds it, as a first delivery would).
        const [first] = await tx.query<{ status: string }>(
          `UPDATE webhook_events SET duplicates = duplicates + CASE WHEN status = 'failed' THEN 0 ELSE 1 END
           WHERE processor = $1 AND event_id = $2 RETURNING status`,
          [processor, event.eventId],
        );
        if (first!.status !== 'failed') return 'duplicate';
      }
      await lockPaymentOf(tx, processor, event); // a payment and its refunds, told at once, one after the other
      const outcome = await apply(ctx, tx, processor, event);
      await applyParkedRefunds(tx, processor, event, ctx.clock()); // refunds told before the payment this recorded
      await tx.query(
        `UPDATE webhook_events SET status = $3, error = NULL, applied_at = now(), attempts = attempts + $4 WHERE processor = $1 AND event_id = $2`,
        [processor, event.eventId, outcome, claimed.length === 0 ? 1 : 0],
      );
      return outcome;
    });
  } catch (error) {
    // The effect rolled back; the event is kept as failed, with why, for the processor's retry and the admin.
    const message = error instanceof Error ? error.message : String(error);
    await ctx.sql.query(
      `INSERT INTO webhook_events (processor, event_id, type, account_id, object_ref, payload, status, error)
       VALUES ($1, $2, $3, $4, $5, $6, 'failed', $7)
       ON CONFLICT (processor, event_id) DO UPDATE SET status = 'failed', error = EXCLUDED.error, attempts = webhook_events.attempts + 1
       WHERE webhook_events.status = 'failed'`,
      [processor, event.eventId, type, accountId, objectRef, payload, message.slice(0, 2_000)],
    );
    throw error;
  }
}

async function apply(ctx: Context, tx: Sql, processor: string, event: ProcessorEvent): Promise<'applied' | 'ignored'> {
  const now = ctx.clock();
  // An event for no account of ours (another app on the same processor account, a deleted test
  // account) is acknowledged and recorded, never retried for ever.
  if (event.type !== 'ignored' && event.accountId !== undefined && (await tx.query('SELECT 1 FROM accounts WHERE id = $1', [event.accountId])).length === 0) return 'ignored';
  switch (event.type) {
    case 'payment.succeeded': {
      // The pack as the price it paid sold it: a page opened before a change of price or value, and paid after, buys it as it was.
      const pack = await packSoldAt(tx, processor, await findPack(tx, event.packSlug), event);
      await lockGate(tx, event.accountId, now);
      // An auto-recharge's payment is credited as its recharge asked (the pack and the debt it
      // covered), once, whether its answer or this webhook tells of it first.
      if (event.rechargeId && (await completeRecharge(tx, event.accountId, Number(event.rechargeId), processor, event.paymentRef, now, event.amountCents))) return 'applied';
      // Credited once per payment (the bucket's reference names it), whoever tells of it first.
      await creditPack(tx, event.accountId, pack, { processor, processorRef: event.paymentRef, amountCents: event.amountCents, now });
      return 'applied';
    }
    case 'recharge.failed':
      await declineRecharge(tx, event.accountId, Number(event.rechargeId), event.code, event.message, now);
      return 'applied';
    case 'subscription.paid': {
      const plan = await findPlan(tx, event.planSlug);
      // A subscription already on the plan was checked when it began: its renewals keep the price it began at.
      const known = await tx.query('SELECT 1 FROM subscriptions WHERE processor = $1 AND processor_ref = $2 AND plan_id = $3', [processor, event.subscriptionRef, plan.id]);
      if (event.priceRef !== undefined && known.length === 0) pricePaid(processor, event, plan.processorPrices[processor]);
      // The gate mutex first: an end of this subscription told concurrently is then either seen here or waits for this.
      const terms = await lockGate(tx, event.accountId, now);
      // The money came in, whatever the period it paid for becomes: the payment is recorded either way.
      await tx.query(
        `INSERT INTO payments (account_id, processor, processor_ref, kind, plan_id, amount_cents, status, created_at)
         VALUES ($1, $2, $3, 'subscription', $4, $5, 'succeeded', $6) ON CONFLICT (processor, processor_ref) DO NOTHING`,
        [event.accountId, processor, event.paymentRef, plan.id, event.amountCents, event.at],
      );
      if (await ended(tx, processor, event.subscriptionRef)) return 'ignored';
      const current = await activeSubscription(tx, event.accountId);
      const live = current?.processor === processor && !terms.planEnded && !(await ended(tx, processor, current.processorRef)) ? current.processorRef : undefined;
      // The period it paid for opens, if it is the latest (subscriptions.ts).
      const period = { start: event.periodStart, end: event.periodEnd };
      const outcome = await periodPaid(tx, event.accountId, plan, { processor, subscriptionRef: event.subscriptionRef, period, now, pricePaid: event.pricePaid });
      if (live !== undefined && live !== event.subscriptionRef) await endReplaced(ctx, tx, processor, terms.account, live, event);
      return outcome;
    }
    case 'subscription.past_due': {
      await lockGate(tx, event.accountId, now);
      if (await ended(tx, processor, event.subscriptionRef)) return 'ignored';
      return renewalFailed(tx, event.accountId, { processor, subscriptionRef: event.subscriptionRef, periodEnd: event.periodEnd, at: event.at, now });
    }
    case 'subscription.canceled': {
      const terms = await lockGate(tx, event.accountId, now);
      const current = await activeSubscription(tx, event.accountId);
      // Only the subscription the account is on ends its plan; one it left already changes nothing.
      if (current?.processorRef !== event.subscriptionRef || terms.planEnded) return 'ignored';
      await cancelPlan(tx, event.accountId, { now, immediately: true });
      return 'applied';
    }
    case 'payment.refunded':
    case 'payment.disputed':
    case 'payment.dispute_won':
      // Found by its payment, told before it or after, applied once per refund (payment-refunds.ts).
      return receiveRefund(tx, processor, refundNoticeOf(event)!, now);
    case 'payment.refund_failed':
      // What the refund took comes back, once; told before the refund, the refund then does nothing (refund-reversals.ts).
      return reverseRefund(tx, processor, event, now);
    case 'ignored':
      return 'ignored';
  }
}

/**
 * A second subscription paid (two checkout pages, both paid) moved the account off one still live
 * at the processor: it is ended there at once, or the processor would bill the customer for it
 * every month while its payments open nothing. A failure fails the event, and the retry ends it.
 */
async function endReplaced(
  ctx: Context, tx: Sql, processorName: string, account: Account, subscriptionRef: string, paid: { subscriptionRef: string; customerRef?: string },
): Promise<void> {
  const [row] = await tx.query<{ status: string }>('SELECT status FROM subscriptions WHERE processor = $1 AND processor_ref = $2', [processorName, subscriptionRef]);
  if (row?.status !== 'canceled') return; // still the account's: nothing replaced it
  // Named by data its payer could set (Paddle's custom data): another customer's subscription ends none of the account's.
  const [{ customer } = { customer: null }] = await tx.query<{ customer: string | null }>('SELECT processor_customer_id AS customer FROM accounts WHERE id = $1', [account.id]);
  if (paid.customerRef !== undefined && customer !== null && paid.customerRef !== customer) {
    throw new Error(
      `Subscription ${paid.subscriptionRef} at ${processorName} names account "${account.id}" but was paid by customer ${paid.customerRef}, not the account's customer (${customer}), ` +
        `and would replace its subscription ${subscriptionRef}: nothing was applied; cancel and refund it at the processor if it is not the account's`,
    );
  }
  const processor = ctx.processors.get(processorName)!; // it parsed this webhook
  const request = await checkoutRequest(tx, processor, account, { idempotencyKey: `replaced:${subscriptionRef}` });
  await processor.cancel({ ...request, immediately: true, subscriptionRef });
}

/**
 * A subscription's first payment that names the price it paid (priceRef: one whose plan only the
 * customer's data names) must have paid the plan's price: else (a price linked by hand that is
 * not its own, or one it sold at before its price changed) it is refused, recorded as failed for
 * an admin to see, never opened as the plan is now.
 */
function pricePaid(processor: string, event: { eventId: string; paymentRef: string; priceRef?: string }, price: string | undefined): void {
  if (event.priceRef === price) return;
  throw new Error(
    `Payment ${event.paymentRef} at ${processor} paid the price ${event.priceRef}, not the plan's price (${price ?? 'none'}), that of the plan it names ` +
      `(one it sold at before its price changed, or not its own): nothing was credited; refund it at the processor, or credit the account by hand`,
  );
}

/** Has the processor said this subscription ended (in any order with its other events)? */
async function ended(tx: Sql, processor: string, subscriptionRef: string): Promise<boolean> {
  const rows = await tx.query(
    `SELECT 1 FROM webhook_events WHERE processor = $1 AND object_ref = $2 AND type = 'subscription.canceled' AND status <> 'failed' LIMIT 1`,
    [processor, subscriptionRef],
  );
  return rows.length > 0;
}
