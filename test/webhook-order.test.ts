/**
 * A subscription's events as processors deliver them: late, out of order and more than once. A
 * scenario told in order to one account and out of order to another ends the same for both (plan,
 * value, debt, payments and their refunds, the ledger reconciled), and as it should: a refund of a
 * period's payment takes that period's allowance, never a later one's.
 */
import { describe, expect, it } from 'vitest';
import type { ProcessorEvent } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';
import { useSignedBilling } from './support/signed-processor.ts';
import { refunded } from './support/payment-events.ts';

const MARCH = new Date('2026-03-10T12:00:00Z');
const APRIL = new Date('2026-04-10T12:00:00Z');
const MAY = new Date('2026-05-10T12:00:00Z');

/** A period of the account's subscription paid by `paymentRef`, told when it was paid (its start). */
const periodPaid = (eventId: string, accountId: string, paymentRef: string, start: Date, end: Date): ProcessorEvent => ({
  type: 'subscription.paid', eventId, accountId, subscriptionRef: `sub_${accountId}`, planSlug: 'plus', paymentRef, amountCents: 20_00, periodStart: start, periodEnd: end, at: start,
});

for (const engine of ENGINES) {
  describe(`webhooks out of order on ${engine.name}`, () => {
    const { t, customers, receive } = useSignedBilling(engine);
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
      await customers('a', 'b');
      // The first period's payment told an hour into the second (retried since, or sent again from the dashboard).
      t.clock.set('2026-04-10T13:00:00Z');
      const scenario = (id: string) => [
        periodPaid(`${id}-1`, id, `in_${id}_1`, MARCH, APRIL),
        periodPaid(`${id}-2`, id, `in_${id}_2`, APRIL, MAY),
        refunded(`${id}-3`, `in_${id}_1`, `re_${id}_1`, 20_00),
      ];
      await tell(scenario, { a: [0, 1, 2], b: [1, 0, 0, 1, 2] });
      expect(await sameEnd('a', 'b')).toMatchObject({ plan: 'plus', availableMicros: 20_000_000 });
    });
  });
}
