/**
 * A second subscription paid at Stripe for an account already on a live one: two Checkout
 * Sessions opened before either was paid, then both paid. The account moves to the one paid last,
 * and the one it leaves is canceled at Stripe at once (under its own idempotency key), so Stripe
 * does not go on billing the customer for it. On both engines, with the real Stripe SDK against
 * the local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { useStripeBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a second subscription paid at Stripe, on ${engine.name}`, () => {
    const { t, deliver, fake } = useStripeBilling(engine);

    it('cancels the one the account left at Stripe, and its end changes nothing more', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('stripe');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
      const sessions = [];
      for (const key of ['sub-1', 'sub-2']) {
        const { checkoutUrl } = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: key })) as { checkoutUrl: string };
        sessions.push(checkoutUrl.split('/').pop()!);
      }
      for (const session of sessions) {
        const from = fake().events.length;
        await fake().completeCheckout(session);
        await deliver(from);
      }
      const [first, second] = sessions.map((session) => fake().subscriptions.get(fake().sessions.get(session)!.subscription as string)!);
      expect(second!.status).toBe('active');
      expect(first!.status).toBe('canceled');

      const from = fake().events.length;
      await fake().flush();
      await deliver(from); // customer.subscription.deleted for the first
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
      expect(await t.sql.query(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`)).toEqual([{ processor_ref: second!.id }]);
    });
  });
}
