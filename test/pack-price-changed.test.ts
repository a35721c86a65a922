/**
 * A pack's checkout paid after the pack's price changed: the page was opened at the old price
 * (a Stripe Checkout Session lives a day, a Paddle transaction until it is paid), the admin
 * raised the price and synced the catalog, and then the customer paid the old page. What a
 * payment bought is the price paid, and the pack no longer sells at it: the payment is refused,
 * kept as a failed event for an admin, and nothing is credited — never the pack as it is now,
 * twice the value for the old price; so too before the catalog is synced, while the pack still
 * names its old price at the processor. On both engines, with each processor's real SDK against
 * the local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import type { StripeFake } from './support/stripe-fake.ts';

/** Each processor's way to pay the page a checkout answered. */
const VENDORS = [
  { name: 'stripe' as const, use: useStripeBilling, pay: (fake: StripeFake, url: string) => fake.completeCheckout(url.split('/').pop()!) },
  { name: 'paddle' as const, use: usePaddleBilling, pay: (fake: PaddleFake, url: string) => fake.completeTransaction(fake.transactionAt(url).id) },
];

for (const engine of ENGINES) {
  for (const vendor of VENDORS) {
    describe(`a pack's old checkout paid at ${vendor.name}, on ${engine.name}`, () => {
      const { t, deliver, fake } = (vendor.use as typeof useStripeBilling)(engine);
      const pay = vendor.pay as (fake: unknown, url: string) => Promise<unknown>;
      /** Pays the page and hands its events to the engine. */
      const paid = async (checkout: unknown) => {
        const from = fake().events.length;
        await pay(fake(), (checkout as { checkoutUrl: string }).checkoutUrl);
        await deliver(from);
      };
      const available = async () => (await t.billing.balance('acme')).availableMicros;
      /** acme on Plus, and a checkout of the $10 pack opened: what acme had, and the checkout. */
      const oldCheckout = async () => {
        await t.billing.admin.applyPreset('subscription-plus-packs');
        await t.billing.admin.syncCatalog(vendor.name);
        await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: vendor.name });
        await paid(await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' }));
        const before = await available();
        return { before, old: await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-old' }) };
      };

      it('refuses the payment at the price the pack no longer sells at, and credits one at its price', async () => {
        const { before, old } = await oldCheckout();
        await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 });
        await t.billing.admin.syncCatalog(vendor.name);
        await expect(paid(old)).rejects.toThrow(/paid the price .* not the pack's price .* nothing was credited/);
        expect(await t.sql.query(`SELECT status FROM webhook_events WHERE type = 'payment.succeeded'`)).toEqual([{ status: 'failed' }]);
        expect(await available()).toBe(before);

        // A checkout at the new price buys the pack as it is now.
        await paid(await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-new' }));
        expect(await available()).toBe(before + 20_000_000);
      });

      it('refuses it too before the catalog is synced, while the pack still names its old price there', async () => {
        const { before, old } = await oldCheckout();
        await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 }); // $20 for 2,000 credits, not synced yet
        await expect(paid(old)).rejects.toThrow(/bought the pack "extra-10" at \$10\.00, and it sells at \$20\.00 now: nothing was credited/);
        expect(await t.sql.query(`SELECT status FROM webhook_events WHERE type = 'payment.succeeded'`)).toEqual([{ status: 'failed' }]);
        expect(await available()).toBe(before);
      });
    });
  }
}
