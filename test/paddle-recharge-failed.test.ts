/**
 * A Paddle recharge whose payment fails after Paddle answered: the one-time charge comes back
 * billed (its payment still going through), so the recharge waits for it; then the payment fails
 * (transaction.payment_failed, read in test/paddle-recharge.test.ts). On both engines, the
 * recharge is declined and auto-recharge turns off with the reason, as a charge declined at once
 * does, and the next recharge is no longer blocked. Should Paddle collect it after all, it is
 * credited once. With the real Paddle SDK against the local fake.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a Paddle recharge whose payment fails after it was billed, through the engine on ${engine.name}`, () => {
    const { t, deliver, fake } = usePaddleBilling(engine);
    const oneTimeCharges = () => [...fake().transactions.values()].filter((each) => each.origin === 'subscription_charge');

    it('is declined, auto-recharge turns off with the reason, and the next recharge is no longer blocked', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const subscribing = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      let from = fake().events.length;
      await fake().completeTransaction(fake().transactionAt(subscribing.checkoutUrl).id);
      await deliver(from);
      const customerId = [...fake().subscriptions.values()][0]!.customer_id;

      // Under the threshold; Paddle answers before the card's payment goes through.
      const { availableMicros } = await t.billing.balance('acme');
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: availableMicros + 1 });
      fake().paysLater.add(customerId);
      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'pending' }]);
      const [charge] = oneTimeCharges();
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', recharging: true });
      expect(await t.billing.runRecharges()).toEqual([]); // waiting for its payment: nothing more charged
      expect(oneTimeCharges()).toHaveLength(1);

      // The payment fails: declined, and auto-recharge off, saying why; told twice, once.
      from = fake().events.length;
      await fake().failPayment(charge!.id);
      await deliver(from);
      await deliver(from);
      expect(await t.sql.query(`SELECT status, payment_ref, reason FROM recharges WHERE account_id = 'acme'`)).toEqual([
        { status: 'declined', payment_ref: charge!.id, reason: `card_declined: the payment of the one-time charge ${charge!.id} failed: declined` },
      ]);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({
        state: 'off', recharging: false,
        off: { code: 'card_declined', message: `the card on file was declined for the recharge of $10.00 (the payment of the one-time charge ${charge!.id} failed: declined).` },
      });
      expect(await t.sql.query(`SELECT type, status FROM webhook_events WHERE object_ref = $1`, [charge!.id])).toEqual([{ type: 'recharge.failed', status: 'applied' }]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(availableMicros);
      expect(await t.billing.runRecharges()).toEqual([]); // off: no more attempts

      // Turned on again with a card that pays at once: the next recharge runs and is credited.
      fake().paysLater.delete(customerId);
      expect(await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: availableMicros + 1 })).toMatchObject({ state: 'on', off: null });
      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect(oneTimeCharges()).toHaveLength(2);
      expect((await t.billing.balance('acme')).availableMicros).toBe(availableMicros + 10_000_000);

      // Paddle collects the failed one after all: its payment is credited, once.
      from = fake().events.length;
      await fake().payBilled(charge!.id);
      await deliver(from);
      await deliver(from);
      expect((await t.billing.balance('acme')).availableMicros).toBe(availableMicros + 20_000_000);
      expect(await t.sql.query(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'acme' AND source = 'recharge' ORDER BY reference`)).toEqual(
        oneTimeCharges().map((each) => ({ amount: 10_000_000, reference: `payment:paddle:${each.id}` })).sort((a, b) => a.reference.localeCompare(b.reference)),
      );
      expect((await t.billing.reconcile('acme')).ok).toBe(true);
    });
  });
}
