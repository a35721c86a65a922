/**
 * The money view's told story: two packs and a subscription paid through the signed processor,
 * a pack and an auto-recharge through the fake one, usage on two models with a usage refund, a
 * partial refund, a dispute lost and one won, and a payment either side of the range (2026-03-01 to
 * 2026-03-05, days included) — and its hand sums, in cents and micro-dollars.
 */
import { expect } from 'vitest';
import type { Billing, ProcessorEvent } from '../../src/index.ts';
import type { Sql } from '../../src/db/sql.ts';
import type { TestClock } from './harness.ts';
import { delivery, SIGNED } from './signed-processor.ts';
import { addTestModel, completed, mustCall } from './spend.ts';

const D0 = new Date('2026-02-28T23:59:00Z'); // the day before the range
const D1 = new Date('2026-03-02T10:00:00Z');
const D2 = new Date('2026-03-03T09:00:00Z');
const D3 = new Date('2026-03-04T15:00:00Z');
const D3_WON = new Date('2026-03-05T08:00:00Z');
const D4 = new Date('2026-03-06T00:00:00Z'); // the day after the range (2026-03-01 to 2026-03-05, days included)
export const RANGE = '?from=2026-03-01&to=2026-03-05';

/** The story's hand sums. Usage at a 50% margin: value is twice the provider's cost. */
export const TEST_MODEL_COST = 1_000_000 + (500_000 + 2 * 100_000); // acme 1M in; globex 500k in, 100k out ($1 and $2 per 1M)
export const MINI_COST = 15_000 + 12_000; // gpt-4o-mini, 100k in and 20k out at $0.15 and $0.60 per 1M tokens
export const USAGE_REFUND = 10_000;
export const HAND = {
  // Disputes: $10 of one pack, and the $6 left of the refunded one, won back.
  collected: { payments: 5, paidCents: 20_00 + 10_00 + 10_00 + 10_00 + 10_00, refundedCents: 4_00, disputedCents: 10_00 + 6_00 - 6_00, netCents: 46_00 },
  usage: {
    events: 3, chargedMicros: 2 * (TEST_MODEL_COST + MINI_COST), refundedMicros: USAGE_REFUND, valueMicros: 2 * (TEST_MODEL_COST + MINI_COST) - USAGE_REFUND,
    costMicros: TEST_MODEL_COST + MINI_COST, marginMicros: TEST_MODEL_COST + MINI_COST - USAGE_REFUND,
  },
};

const packPaid = (eventId: string, paymentRef: string, at: Date): ProcessorEvent =>
  ({ type: 'payment.succeeded', eventId, accountId: 'acme', paymentRef, packSlug: 'credits-10', amountCents: 10_00, at });

async function tell(billing: Billing, events: ProcessorEvent[]) {
  const { body, headers } = delivery(events);
  await billing.receiveWebhook(SIGNED, body, headers);
}

/** The story, told on an empty catalog; `fake` is the fake processor billing was made with. */
export async function moneyStory(billing: Billing, clock: TestClock, sql: Sql, fake: { charges: readonly { amountCents: number }[] }) {
  await billing.admin.applyPreset('credit-packs');
  await billing.admin.updatePlan('payg', { includedMicros: 0 });
  await billing.admin.createPlan({ slug: 'plus', name: 'Plus', priceCents: 20_00, overage: 'credits' });
  await billing.admin.updateSettings({ marginBps: 5000 });
  await addTestModel(billing);
  await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
  await billing.upsertAccount({ id: 'globex', kind: 'team', name: 'Globex' });
  await sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', ['acme', SIGNED]);

  clock.set(D0.toISOString());
  completed(await billing.purchase('globex', 'credits-10', { idempotencyKey: 'before' })); // paid before the range
  clock.set(D1.toISOString());
  const month = new Date(D1.getTime() + 31 * 86_400_000);
  await tell(billing, [
    { type: 'subscription.paid', eventId: 'evt_sub', accountId: 'acme', subscriptionRef: 'sub_acme', planSlug: 'plus', paymentRef: 'in_1', amountCents: 20_00, periodStart: D1, periodEnd: month, at: D1 },
    packPaid('evt_pack_1', 'pi_1', D1),
    packPaid('evt_pack_2', 'pi_2', D1),
  ]);
  completed(await billing.purchase('globex', 'credits-10', { idempotencyKey: 'pack' }));
  await billing.setAutoRecharge('globex', { enabled: true, pack: 'credits-10', thresholdMicros: 19_000_000 });

  clock.set(D2.toISOString());
  await mustCall(billing, 'acme', 1_000_000);
  const mini = await billing.record('acme', { model: 'gpt-4o-mini', usage: { inputTokens: 100_000, outputTokens: 20_000 } }, { idempotencyKey: 'mini' });
  await billing.refund(mini.usageEventId, { amountMicros: USAGE_REFUND });
  await mustCall(billing, 'globex', 500_000, 100_000); // under $19 available: a recharge
  const runs = await billing.runRecharges();
  expect(runs).toMatchObject([{ accountId: 'globex', outcome: 'succeeded' }]);
  expect(fake.charges.map((c) => c.amountCents)).toEqual([10_00]);

  clock.set(D3.toISOString());
  const pack1 = (await billing.payments('acme')).find((p) => p.reference === 'pi_1')!;
  expect(await billing.refundPayment('acme', pack1.id, { amountCents: 4_00 }, { idempotencyKey: 'partial' })).toMatchObject({ status: 'refunded', amountCents: 4_00 });
  await tell(billing, [
    { type: 'payment.disputed', eventId: 'evt_dispute', paymentRef: 'pi_2', disputeRef: 'dp_1', amountCents: 10_00, at: D3 },
    // The refunded pack disputed too: what is left of it ($6) is taken, and the next day won back.
    { type: 'payment.disputed', eventId: 'evt_dispute_2', paymentRef: 'pi_1', disputeRef: 'dp_2', amountCents: 10_00, at: D3 },
  ]);
  clock.set(D3_WON.toISOString());
  await tell(billing, [{ type: 'payment.dispute_won', eventId: 'evt_won', paymentRef: 'pi_1', disputeRef: 'dp_2:won', amountCents: 10_00, at: D3_WON }]);

  clock.set(D4.toISOString());
  completed(await billing.purchase('globex', 'credits-10', { idempotencyKey: 'after' })); // paid after the range
}
