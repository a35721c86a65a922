/**
 * A subscription through the fake processor, which charges nobody and sends no webhook, has its
 * payments as one through Stripe or Paddle has: its checkout's, then one per period as it begins,
 * each recorded once (a retried checkout, two processes opening the same period, the renewal job
 * and a call), so the account's payments and the money view show it beside its packs. The
 * renewal job records a period whether or not the account calls and whether or not its plan
 * includes usage, and none after the subscription ended or was left for another plan. Once a real
 * processor replaced the fake, its subscriptions end at their period's end instead of renewing
 * with nobody paying, and that end cannot be called off.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, mustCall, mustRefuse } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`a subscription's payments through the fake processor on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('its checkout and each renewal are a payment, once each, in the payments and the money view', async () => {
      const { billing, clock, sql } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      clock.set('2026-03-05T12:00:00Z');
      await billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' });
      await billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' }); // a retry: the same checkout
      await billing.purchase('acme', 'extra-10');
      const subscriptionPayments = async () => (await billing.payments('acme')).filter((p) => p.kind === 'subscription');
      expect(await subscriptionPayments()).toMatchObject([{ processor: 'fake', amountCents: 20_00, status: 'succeeded', createdAt: new Date('2026-03-05T12:00:00Z') }]);

      // A month on, two processes open the renewal at once: one payment.
      clock.set('2026-04-06T09:00:00Z');
      const other = await createBilling({ database: sql, clock: clock.read });
      try {
        await Promise.all([mustCall(billing, 'acme', 1_000), mustCall(other, 'acme', 1_000), mustCall(billing, 'acme', 1_000), mustCall(other, 'acme', 1_000)]);
      } finally {
        await other.close();
      }
      await mustCall(billing, 'acme', 1_000); // the same period again: nothing more
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'acme', payments: 0 }]); // the job finds the renewal the calls recorded
      const paid = await subscriptionPayments();
      expect(paid).toMatchObject([
        { amountCents: 20_00, createdAt: new Date('2026-04-05T12:00:00Z') },
        { amountCents: 20_00, createdAt: new Date('2026-03-05T12:00:00Z') },
      ]);
      expect(new Set(paid.map((p) => p.reference)).size).toBe(2);

      const money = await billing.admin.analytics({ from: '2026-03-01', to: '2026-05-01' });
      expect(money.sources).toContainEqual(expect.objectContaining({ processor: 'fake', kind: 'subscription', payments: 2, paidCents: 40_00 }));
      expect(money.sources).toContainEqual(expect.objectContaining({ processor: 'fake', kind: 'pack', payments: 1, paidCents: 10_00 }));
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    /** The account's subscription payments, oldest first: when each was made and for how much. */
    const paid = async (accountId: string) =>
      (await t.billing.payments(accountId)).filter((p) => p.kind === 'subscription').reverse().map((p) => ({ at: p.createdAt.toISOString(), cents: p.amountCents }));
    const at = (iso: string) => `${iso.slice(0, 19)}.000Z`;

    it('three months with no call: each renewal is a payment at its start, recorded once, whether the job runs each month or once after', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await billing.upsertAccount({ id: 'monthly', kind: 'team' });
      clock.set('2026-01-31T10:00:00Z');
      await billing.subscribe('monthly', 'plus');
      const renewals = ['2026-02-28T10:00:00Z', '2026-03-31T10:00:00Z', '2026-04-30T10:00:00Z'];
      for (const renewal of renewals) {
        clock.set(renewal);
        clock.advance(-1);
        expect(await billing.runClockRenewals()).toEqual([]); // not due a millisecond before
        clock.advance(1);
        expect(await billing.runClockRenewals()).toEqual([{ accountId: 'monthly', payments: 1 }]);
        expect(await billing.runClockRenewals()).toEqual([]);
      }
      expect(await paid('monthly')).toEqual(['2026-01-31T10:00:00Z', ...renewals].map((iso) => ({ at: at(iso), cents: 20_00 })));

      // A job that did not run for three months records each of them, dated at its start.
      await billing.upsertAccount({ id: 'caught_up', kind: 'team' });
      clock.set('2026-01-31T10:00:00Z');
      await billing.subscribe('caught_up', 'plus');
      clock.set('2026-05-15T00:00:00Z');
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'caught_up', payments: 3 }]);
      expect(await billing.runClockRenewals()).toEqual([]);
      expect(await paid('caught_up')).toEqual(await paid('monthly'));
      expect((await billing.reconcile('caught_up')).problems).toEqual([]);
    });

    it('a paid plan that includes no usage renews with a payment each month, and opens no allowance', async () => {
      const { billing, clock, sql } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await billing.admin.createPlan({ slug: 'seat', name: 'Seat', priceCents: 9_00, includedMicros: 0, overage: 'credits' });
      await billing.upsertAccount({ id: 'seated', kind: 'team' });
      clock.set('2026-03-05T12:00:00Z');
      await billing.subscribe('seated', 'seat');
      for (const month of ['04', '05', '06']) {
        clock.set(`2026-${month}-05T12:00:01Z`);
        expect(await billing.runClockRenewals()).toEqual([{ accountId: 'seated', payments: 1 }]);
      }
      expect(await paid('seated')).toEqual(['03', '04', '05', '06'].map((month) => ({ at: `2026-${month}-05T12:00:00.000Z`, cents: 9_00 })));
      expect(await sql.query(`SELECT 1 FROM buckets WHERE account_id = 'seated' AND source = 'allowance'`)).toEqual([]);
      const money = await billing.admin.analytics({ from: '2026-03-01', to: '2026-07-01' });
      expect(money.sources).toContainEqual(expect.objectContaining({ processor: 'fake', kind: 'subscription', payments: 4, paidCents: 36_00 }));
    });

    it('canceled at the period\'s end: no payment after it; a cancel called off renews on', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(billing);
      for (const id of ['leaving', 'staying']) {
        await billing.upsertAccount({ id, kind: 'team' });
        clock.set('2026-03-05T12:00:00Z');
        await billing.subscribe(id, 'plus');
        clock.set('2026-03-20T00:00:00Z');
        await billing.cancel(id);
      }
      await billing.subscribe('staying', 'plus'); // before the end: the cancel is called off

      clock.set('2026-04-05T12:00:00Z'); // the end of the period paid, and the renewal
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'leaving', payments: 0 }, { accountId: 'staying', payments: 1 }]);
      await mustRefuse(billing, 'leaving', 10_000_000); // on the default plan now, which a call writes down
      clock.set('2026-07-01T00:00:00Z');
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'staying', payments: 2 }]);
      expect(await paid('leaving')).toEqual([{ at: '2026-03-05T12:00:00.000Z', cents: 20_00 }]);
      expect(await paid('staying')).toEqual(['03', '04', '05', '06'].map((month) => ({ at: `2026-${month}-05T12:00:00.000Z`, cents: 20_00 })));

      // Canceled now, mid-period: nothing more either.
      await billing.cancel('staying', { immediately: true });
      clock.set('2026-09-01T00:00:00Z');
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'staying', payments: 0 }]);
      expect(await paid('staying')).toHaveLength(4);
    });

    it('once a real processor replaced the fake, its subscriptions end at their period\'s end, once each, and cannot be resumed', async () => {
      const { billing, clock, sql } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(billing);
      const teams = ['team_a', 'team_b', 'team_c'];
      for (const [i, id] of teams.entries()) {
        await billing.upsertAccount({ id, kind: 'team' });
        clock.set(`2026-03-0${i + 1}T12:00:00Z`);
        await billing.subscribe(id, 'plus');
      }
      await billing.upsertAccount({ id: 'leaving', kind: 'team' });
      await billing.subscribe('leaving', 'plus');
      const leavingEnds = (await billing.cancel('leaving')).endsAt;

      // The switch: two processes with the fake replaced run the job at the same moment.
      clock.set('2026-03-10T00:00:00Z');
      const switched = await Promise.all([0, 1].map(() => createBilling({ database: sql, clock: clock.read, processors: [fakeProcessor({ replacedBy: 'stripe' })] })));
      try {
        const runs = (await Promise.all(switched.map((b) => b.runClockRenewals()))).flat();
        expect(runs.sort((a, b) => a.accountId.localeCompare(b.accountId))).toEqual(
          teams.map((accountId, i) => ({ accountId, payments: 0, endsAt: new Date(`2026-04-0${i + 1}T12:00:00Z`) })),
        );
        expect(await switched[0]!.runClockRenewals()).toEqual([]); // each ended once
        expect((await switched[1]!.getAccount('leaving')).planEndsAt).toEqual(leavingEnds); // its own cancel, as it was

        // Until then the plan holds; its end cannot be called off.
        await mustCall(switched[0]!, 'team_a', 1_000);
        const plus = (await billing.admin.getPlan('plus')).id;
        await expect(switched[1]!.subscribe('team_a', 'plus')).rejects.toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('its plan ends as scheduled') });
        await expect(switched[1]!.purchase('team_a', 'extra-10')).rejects.toMatchObject({ code: 'processor_not_configured' });

        // A month on: no renewal is paid or opened, and the accounts are on the default plan.
        clock.set('2026-04-05T00:00:00Z');
        expect((await switched[0]!.runClockRenewals()).every((r) => r.payments === 0)).toBe(true);
        for (const id of teams) {
          expect(await paid(id)).toHaveLength(1);
          expect((await switched[0]!.balance(id)).plan.slug).toBe('free');
          expect((await switched[0]!.reconcile(id)).problems).toEqual([]);
        }
        const allowances = await sql.query<{ reference: string }>(`SELECT reference FROM buckets WHERE source = 'allowance' AND account_id = ANY ($1)`, [teams]);
        expect(allowances.filter((b) => b.reference.includes(`:${plus}:`)).map((b) => b.reference.slice(-24, -14)).sort()).toEqual(['2026-03-01', '2026-03-02', '2026-03-03']);
      } finally {
        await Promise.all(switched.map((b) => b.close()));
      }
    });

    it('a plan changed: the plan left is paid no more, and the new one renews from its own start', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await billing.admin.createPlan({ slug: 'seat', name: 'Seat', priceCents: 9_00, includedMicros: 0, overage: 'credits' });
      await billing.upsertAccount({ id: 'mover', kind: 'team' });
      clock.set('2026-03-05T12:00:00Z');
      await billing.subscribe('mover', 'plus');
      clock.set('2026-03-20T08:00:00Z');
      await billing.subscribe('mover', 'seat');
      clock.set('2026-04-10T00:00:00Z'); // past plus's renewal (Apr 5), before seat's (Apr 20)
      expect(await billing.runClockRenewals()).toEqual([]);
      clock.set('2026-04-20T08:00:00Z');
      expect(await billing.runClockRenewals()).toEqual([{ accountId: 'mover', payments: 1 }]);
      expect(await paid('mover')).toEqual([
        { at: '2026-03-05T12:00:00.000Z', cents: 20_00 },
        { at: '2026-03-20T08:00:00.000Z', cents: 9_00 },
        { at: '2026-04-20T08:00:00.000Z', cents: 9_00 },
      ]);
    });
  });
}
