/**
 * A subscription through the fake processor, which charges nobody and sends no webhook, has its
 * payments as one through Stripe or Paddle has: its checkout's, then one per period as the clock
 * opens it, each recorded once (a retried checkout, two processes opening the same period), so
 * the account's payments and the money view show it beside its packs.
 */
import { describe, expect, it } from 'vitest';
import { createBilling } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, mustCall } from './support/spend.ts';

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
  });
}
