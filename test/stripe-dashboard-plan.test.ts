/**
 * A plan changed at Stripe without Tollgate (the dashboard, or a customer portal set up to switch
 * plans): the subscription's price is another plan's, its metadata still the first plan's. The
 * period paid is the plan whose price was paid, as the catalog sync made it (its product is the
 * plan's own), not the plan the metadata remembers. On both engines, with the real Stripe SDK
 * against the local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { stripeClient } from '../src/processors/stripe/client.ts';
import { ENGINES } from './support/harness.ts';
import { useStripeBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a plan changed in Stripe's dashboard, on ${engine.name}`, () => {
    const { t, deliver, fake } = useStripeBilling(engine);

    it("opens the plan whose price was paid, whatever the subscription's metadata says", async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 200_00, overage: 'credits' });
      await t.billing.admin.syncCatalog('stripe');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
      const { checkoutUrl } = (await t.billing.subscribe('acme', 'max', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      const session = checkoutUrl.split('/').pop()!;
      let from = fake().events.length;
      await fake().completeCheckout(session);
      await deliver(from);
      expect((await t.billing.balance('acme')).plan.slug).toBe('max');

      // In Stripe's dashboard: the subscription moved to Plus's price; its metadata untouched.
      const subscriptionId = fake().sessions.get(session)!.subscription as string;
      const stripe = stripeClient(fake().secretKey, fake().url);
      const subscription = await stripe.subscriptions.retrieve(subscriptionId);
      await stripe.subscriptions.update(subscriptionId, { items: [{ id: subscription.items.data[0]!.id, price: (await t.billing.admin.getPlan('plus')).processorPrices.stripe! }], proration_behavior: 'none' });
      from = fake().events.length;
      await fake().renew(subscriptionId);
      await deliver(from);
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus'); // $20 paid: Plus, not the $200 Max
    });
  });
}
