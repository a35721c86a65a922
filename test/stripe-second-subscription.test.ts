/**
 * A second subscription paid at Stripe for an account already on a live one: two Checkout
 * Sessions opened before either was paid, then both paid. The account moves to the one paid last,
 * and the one it leaves is canceled at Stripe at once (under its own idempotency key), so Stripe
 * does not go on billing the customer for it. And told out of order (the second paid told before
 * the end of the first, which the customer canceled at Stripe in between), it moves the account to
 * the second at once: the first, ended at Stripe already, is what leaving it asks for, not a
 * failure that waits for Stripe's retry. On both engines, with the real Stripe SDK against the
 * local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { useStripeBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a second subscription paid at Stripe, on ${engine.name}`, () => {
    const { t, deliver, fake } = useStripeBilling(engine);

    /** acme on Stripe with two Checkout Sessions for Plus opened, neither paid: their ids. */
    async function twoSessions(): Promise<string[]> {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('stripe');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
      const sessions = [];
      for (const key of ['sub-1', 'sub-2']) {
        const { checkoutUrl } = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: key })) as { checkoutUrl: string };
        sessions.push(checkoutUrl.split('/').pop()!);
      }
      return sessions;
    }

    it('cancels the one the account left at Stripe, and its end changes nothing more', async () => {
      const sessions = await twoSessions();
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

    it('a second subscription paid, told before the end of the first (canceled at Stripe in between), moves the account to it at once', async () => {
      const sessions = await twoSessions();
      // The engine's clock a moment after Stripe's, as its webhooks come.
      const start = Date.now();
      await fake().completeCheckout(sessions[0]!);
      t.clock.set(new Date(start + 5_000).toISOString());
      await deliver(0);
      const first = fake().sessions.get(sessions[0]!)!.subscription as string;
      expect(await t.sql.query(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`)).toEqual([{ processor_ref: first }]);

      const ended = fake().events.length;
      fake().advanceClock(60_000);
      await fake().cancelNow(first); // in Stripe's dashboard: its customer.subscription.deleted is held back
      const paid = fake().events.length;
      await fake().completeCheckout(sessions[1]!);
      t.clock.set(new Date(start + 65_000).toISOString());
      const second = fake().sessions.get(sessions[1]!)!.subscription as string;
      await deliver(paid); // the second's events, before the first's end
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
      expect(await t.sql.query(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`)).toEqual([{ processor_ref: second }]);
      expect(await t.sql.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'failed'`)).toEqual([{ n: 0 }]);

      for (const event of fake().events.slice(ended, paid)) {
        const body = JSON.stringify(event);
        await t.billing.receiveWebhook('stripe', body, new Headers({ 'stripe-signature': fake().sign(body) }));
      }
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
      expect(fake().subscriptions.get(second)!.status).toBe('active');
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true, problems: [] });
    });
  });
}
