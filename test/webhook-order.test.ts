/**
 * A subscription's events as processors deliver them: late (retried for days), out of order and
 * more than once. Each scenario is told in order to one account and out of order to another, and
 * both must end the same: plan, value, debt, payments and their refunds, the ledger reconciled.
 */
import { describe, expect, it } from 'vitest';
import { fakeProcessor, type ProcessorEvent } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { addTestModel, mustCall } from './support/spend.ts';
import { disputed, refunded } from './support/payment-events.ts';

const MARCH = new Date('2026-03-10T12:00:00Z');
const APRIL = new Date('2026-04-10T12:00:00Z');
const MAY = new Date('2026-05-10T12:00:00Z');

/** A period of the account's subscription paid by `paymentRef`, told when it was paid (its start). */
const periodPaid = (eventId: string, accountId: string, paymentRef: string, start: Date, end: Date): ProcessorEvent => ({
  type: 'subscription.paid', eventId, accountId, subscriptionRef: `sub_${accountId}`, planSlug: 'plus', paymentRef, amountCents: 20_00, periodStart: start, periodEnd: end, at: start,
});
const pastDue = (eventId: string, accountId: string, periodEnd: Date, at: Date): ProcessorEvent =>
  ({ type: 'subscription.past_due', eventId, accountId, subscriptionRef: `sub_${accountId}`, periodEnd, at });
const canceled = (eventId: string, accountId: string, at: Date): ProcessorEvent =>
  ({ type: 'subscription.canceled', eventId, accountId, subscriptionRef: `sub_${accountId}`, at });

for (const engine of ENGINES) {
  describe(`webhooks out of order on ${engine.name}`, () => {
    const t = useBilling(engine, { processors: [fakeProcessor(), signedProcessor()] });

    async function subscribers(...ids: string[]) {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(t.billing);
      for (const id of ids) {
        await t.billing.upsertAccount({ id, kind: 'team' });
        await t.sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', [id, SIGNED]);
      }
    }
    const receive = (events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return t.billing.receiveWebhook(SIGNED, body, headers);
    };
    /** Each event of the scenario, for each account, in the order given by index. */
    async function tell(scenario: (id: string) => ProcessorEvent[], runs: Record<string, number[]>) {
      for (const [id, order] of Object.entries(runs)) {
        const events = scenario(id);
        for (const i of order) await receive([events[i]!]);
      }
    }
    async function standing(id: string) {
      const { plan, availableMicros, debtMicros } = await t.billing.balance(id);
      const payments = (await t.billing.payments(id))
        .map((p) => ({ reference: p.reference.replace(id, ''), status: p.status, refundedCents: p.refundedCents, refunds: p.refunds.map((r) => [r.kind, r.appliedCents]).sort() }))
        .sort((a, b) => a.reference.localeCompare(b.reference));
      return { plan: plan.slug, availableMicros, debtMicros, payments };
    }
    async function sameEnd(...ids: string[]) {
      const [first, ...others] = ids;
      const expected = await standing(first!);
      for (const id of others) expect(await standing(id), id).toEqual(expected);
      for (const id of ids) expect(await t.billing.reconcile(id), id).toMatchObject({ ok: true, problems: [] });
      return expected;
    }

    it('the first period told only after it ended (the renewal before it, or after), then refunded: it takes nothing of the renewal\'s allowance', async () => {
      await subscribers('a', 'b');
      t.clock.set('2026-04-10T13:00:00Z');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        periodPaid(`${id}-2`, id, `in_${id}_2`, APRIL, MAY),
        refunded(`${id}-3`, `in_${id}_1`, `re_${id}_1`, 20_00),
      ];
      await tell(scenario, { a: [0, 1, 2], b: [1, 0, 0, 1, 2] });
      expect(await sameEnd('a', 'b')).toMatchObject({ plan: 'plus', availableMicros: 20_000_000 });
    });

    it('a renewal told before the first payment, a call in between, then the renewal refunded: the same as in order', async () => {
      await subscribers('a', 'b');
      t.clock.set('2026-04-10T13:00:00Z');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        periodPaid(`${id}-2`, id, `in_${id}_2`, APRIL, MAY),
        refunded(`${id}-3`, `in_${id}_2`, `re_${id}_1`, 5_00),
      ];
      await tell(scenario, { a: [0, 1] });
      await mustCall(t.billing, 'a', 2_500_000);
      await tell(scenario, { a: [2], b: [1, 0] });
      await mustCall(t.billing, 'b', 2_500_000);
      await tell(scenario, { b: [2] });
      expect(await sameEnd('a', 'b')).toMatchObject({ plan: 'plus', availableMicros: 10_000_000 });
    });

    it('a cancel told before the last renewal\'s payment ends the plan as in order, the payment recorded', async () => {
      await subscribers('a', 'b');
      t.clock.set('2026-04-20T12:00:00Z');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        periodPaid(`${id}-2`, id, `in_${id}_2`, APRIL, MAY),
        canceled(`${id}-3`, id, new Date('2026-04-20T12:00:00Z')),
      ];
      await tell(scenario, { a: [0, 1, 2], b: [0, 2, 1, 1, 2] });
      expect(await sameEnd('a', 'b')).toMatchObject({ plan: 'free' });
    });

    it('a past due told after the payment that cured it leaves the account paid', async () => {
      await subscribers('a', 'b');
      t.clock.set('2026-04-12T12:00:00Z');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        pastDue(`${id}-2`, id, MAY, new Date('2026-04-10T13:00:00Z')),
        { ...periodPaid(`${id}-3`, id, `in_${id}_2`, APRIL, MAY), at: new Date('2026-04-12T12:00:00Z') } as ProcessorEvent,
      ];
      await tell(scenario, { a: [0, 1, 2], b: [0, 2, 1, 1] });
      expect(await sameEnd('a', 'b')).toMatchObject({ plan: 'plus', availableMicros: 20_000_000 });
      for (const id of ['a', 'b']) expect((await t.billing.getAccount(id)).pastDue, id).toBeNull();
    });

    it('a dispute lost after part of the same payment was refunded takes back no more than was paid, in either order', async () => {
      await subscribers('a', 'b');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        refunded(`${id}-2`, `in_${id}_1`, `re_${id}_1`, 5_00),
        disputed(`${id}-3`, `in_${id}_1`, `dp_${id}`, 15_00),
      ];
      await tell(scenario, { a: [0, 1, 2], b: [2, 1, 0, 2] });
      const end = await sameEnd('a', 'b');
      expect(end).toMatchObject({ availableMicros: 0, payments: [{ refundedCents: 20_00 }] });
    });
  });
}
