/**
 * An auto-recharge at Paddle for an account whose subscription ended: Paddle charges a saved card
 * only through a live subscription, so the recharge is said to have no card to charge, and
 * auto-recharge turns off with its remedy, rather than asking Paddle to charge the ended
 * subscription again and again. On both engines, with the real Paddle SDK against the local fake.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`an auto-recharge at Paddle after the subscription ended, on ${engine.name}`, () => {
    const { t, deliver, fake } = usePaddleBilling(engine);

    it('is declined for want of a card Paddle will charge, and auto-recharge turns off', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      // Packs for sale on the free plan too, whose usage may draw on them.
      await t.billing.admin.updatePlan('free', { overage: 'credits' });
      await t.billing.admin.updatePack('extra-10', { requiresPlan: false });
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const pending = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      let from = fake().events.length;
      await fake().completeTransaction(fake().transactionAt(pending.checkoutUrl).id);
      await deliver(from);

      // Ended at Paddle (its dashboard, or its last retry): the account is on the free plan.
      from = fake().events.length;
      await fake().cancelNow([...fake().subscriptions.keys()][0]!);
      await deliver(from);
      expect((await t.billing.balance('acme')).plan.slug).toBe('free');

      const { availableMicros } = await t.billing.balance('acme');
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: availableMicros + 1 });
      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'declined' }]);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', off: { code: 'no_payment_method' }, recharging: false });
      expect([...fake().transactions.values()].filter((each) => each.origin === 'subscription_charge')).toEqual([]);
    });
  });
}
