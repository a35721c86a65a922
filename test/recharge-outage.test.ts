/**
 * Stripe or Paddle failing to answer an auto-recharge's off-session charge (a 5xx, a connection
 * cut), with the real SDKs against the local fakes of their APIs: unlike a declined card,
 * auto-recharge stays on, nothing is credited, and the recharge runs again later with the same
 * key and amount; once the processor answers, the card is charged once and the pack credited
 * once. On both engines.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, HOUR } from './support/harness.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`Stripe failing under an auto-recharge, on ${engine.name}`, () => {
    const { t, deliver, fake } = useStripeBilling(engine);

    /** The checkout a pending answer opens, paid, and its webhooks applied. */
    async function pay(pending: unknown) {
      const from = fake().events.length;
      await fake().completeCheckout((pending as { checkoutUrl: string }).checkoutUrl.split('/').pop()!);
      await deliver(from);
    }

    it('leaves auto-recharge on and runs it again later; once Stripe answers, one charge and one credit', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('stripe');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
      await pay(await t.billing.subscribe('acme', 'plus'));
      await pay(await t.billing.purchase('acme', 'extra-10')); // saves the card
      const before = (await t.billing.balance('acme')).availableMicros;
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: before + 1 });

      for (const how of [503, 'reset'] as const) {
        fake().failNext('/v1/payment_intents', 3, how);
        const [run] = await t.billing.runRecharges();
        expect(run).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/^Stripe failed to answer/) });
        expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ enabled: true, state: 'on' });
        expect((await t.billing.balance('acme')).availableMicros).toBe(before);
        // Not run again before its time.
        expect(await t.billing.runRecharges()).toEqual([]);
        t.clock.advance(HOUR);
      }

      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      const from = fake().events.length;
      await fake().flush();
      await deliver(from);
      const intents = [...fake().paymentIntents.values()].filter((pi) => pi.metadata.tollgate_recharge);
      expect(intents).toHaveLength(1);
      // Every try, the SDK's and the worker's, was the same request under the recharge's key.
      const charged = fake().requests.filter((r) => r.path === '/v1/payment_intents' && r.method === 'POST');
      expect(charged).toHaveLength(1);
      expect(fake().failed).toHaveLength(6);
      expect(new Set(fake().failed.map((r) => r.idempotencyKey))).toEqual(new Set([charged[0]!.idempotencyKey]));
      expect((await t.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });
  });

  describe(`Paddle failing under an auto-recharge, on ${engine.name}`, () => {
    const { t, deliver, fake } = usePaddleBilling(engine);

    it('leaves auto-recharge on and runs it again later; once Paddle answers, one charge and one credit', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const subscribing = (await t.billing.subscribe('acme', 'plus')) as { checkoutUrl: string };
      const from = fake().events.length;
      await fake().completeTransaction(fake().transactionAt(subscribing.checkoutUrl).id);
      await deliver(from);
      const subscription = [...fake().subscriptions.keys()][0]!;
      const before = (await t.billing.balance('acme')).availableMicros;
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: before + 1 });

      for (const how of [500, 503, 'reset'] as const) {
        fake().failNext(`/subscriptions/${subscription}/charge`, 1, how);
        expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'retry', reason: expect.stringMatching(/^Paddle failed to answer/) }]);
        expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ enabled: true, state: 'on' });
        expect((await t.billing.balance('acme')).availableMicros).toBe(before);
        t.clock.advance(HOUR);
      }

      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect([...fake().transactions.values()].filter((each) => each.origin === 'subscription_charge')).toHaveLength(1);
      expect((await t.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
