/**
 * A pack's checkout paid after the pack changed: the page was opened at the old price (a Stripe
 * Checkout Session lives a day, a Paddle transaction until it is paid), the admin raised the
 * price (its value and expiry with it) and synced the catalog, and then the customer paid the old
 * page. The sale is honoured as it was made: the payment is credited as the version of the pack
 * sold at the price paid, its value and its expiry, never the pack as it is now, and once however
 * often the processor tells of it; so too before the catalog is synced, while the pack still names
 * its old price at the processor, and when the pack changed at the same price, which the price
 * paid cannot tell apart: the page is credited as the version it was opened at. A price no
 * version of the pack was sold at (one linked by hand that is not its own) is still refused, and
 * kept as a failed event for an admin. On both engines, with each processor's real SDK against
 * the local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import type { PackChanges } from '../src/engine/catalog/catalog.ts';
import { DAY, ENGINES } from './support/harness.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import type { StripeFake } from './support/stripe-fake.ts';

/** Each processor's way to pay the page a checkout answered, and to make that page pay a $10 price of the seller's that is not the pack's. */
const VENDORS = [
  {
    name: 'stripe' as const,
    use: useStripeBilling,
    pay: (fake: StripeFake, url: string) => fake.completeCheckout(url.split('/').pop()!),
    // A session made with the API key elsewhere (the dashboard, another app) names the price it sells at.
    foreignPrice: (fake: StripeFake, url: string) => {
      fake.sessions.get(url.split('/').pop()!)!.metadata.tollgate_price = fake.addPrice({ unitAmount: 10_00 });
    },
  },
  {
    name: 'paddle' as const,
    use: usePaddleBilling,
    pay: (fake: PaddleFake, url: string) => fake.completeTransaction(fake.transactionAt(url).id),
    // Paddle.Checkout.open({ items: [a price of the seller's], customData: { the pack } }), from the browser.
    foreignPrice: (fake: PaddleFake, url: string) => {
      const item = fake.transactionAt(url).items[0]!;
      item.price = { ...item.price!, id: fake.addPrice({ unitAmount: 10_00 }), custom_data: null };
    },
  },
];

for (const engine of ENGINES) {
  it(`0031 gives each pack its current version, and a change of what it sells the next one, on ${engine.name}`, async () => {
    const db = await engine.open({ through: '0030_recharge_value.sql' });
    try {
      await db.sql.exec(`INSERT INTO packs (id, slug, name, price_cents, expires_after_days, processor_prices) VALUES (1, 'extra-10', 'Extra', 1000, 90, '{"stripe":"price_10"}')`);
      await migrate(db.sql);
      const versions = () => db.sql.query('SELECT version, price_cents, value_micros, expires_after_days, processor_prices FROM pack_versions WHERE pack_id = 1 ORDER BY version');
      expect(await versions()).toEqual([{ version: 1, price_cents: 1000, value_micros: null, expires_after_days: 90, processor_prices: { stripe: 'price_10' } }]);
      // Its name, status or order change nothing it sells; its price, value or expiry does, and its processor prices are the current version's.
      await db.sql.exec(`UPDATE packs SET name = 'More', status = 'archived', sort = 2 WHERE id = 1`);
      await db.sql.exec(`UPDATE packs SET price_cents = 2000 WHERE id = 1`);
      await db.sql.exec(`UPDATE packs SET value_micros = 30000000, expires_after_days = NULL WHERE id = 1`);
      await db.sql.exec(`UPDATE packs SET processor_prices = '{"stripe":"price_20"}' WHERE id = 1`);
      expect(await versions()).toEqual([
        { version: 1, price_cents: 1000, value_micros: null, expires_after_days: 90, processor_prices: { stripe: 'price_10' } },
        { version: 2, price_cents: 2000, value_micros: null, expires_after_days: 90, processor_prices: { stripe: 'price_10' } },
        { version: 3, price_cents: 2000, value_micros: 30000000, expires_after_days: null, processor_prices: { stripe: 'price_20' } },
      ]);
      expect(await db.sql.query('SELECT version FROM packs')).toEqual([{ version: 3 }]);
    } finally {
      await db.drop();
    }
  });

  for (const vendor of VENDORS) {
    describe(`a pack's old checkout paid at ${vendor.name}, on ${engine.name}`, () => {
      const { t, deliver, fake } = (vendor.use as typeof useStripeBilling)(engine);
      const pay = vendor.pay as (fake: unknown, url: string) => Promise<unknown>;
      const urlOf = (checkout: unknown) => (checkout as { checkoutUrl: string }).checkoutUrl;
      /** Pays the page and hands its events to the engine: the index of the first, to hand them again. */
      const paid = async (checkout: unknown) => {
        const from = fake().events.length;
        await pay(fake(), urlOf(checkout));
        await deliver(from);
        return from;
      };
      const available = async () => (await t.billing.balance('acme')).availableMicros;
      /** The value and expiry of each pack bought, in order. */
      const packBuckets = () => t.sql.query<{ amount_micros: number; expires_at: Date | null }>(`SELECT amount_micros, expires_at FROM buckets WHERE source = 'pack' ORDER BY id`);
      const inDays = (days: number) => new Date(t.clock.now.getTime() + days * DAY);
      /** Pays the old page: credited as `bucket`, once however often the processor tells of it. */
      const paidOnce = async (old: unknown, before: number, bucket: { amount_micros: number; expires_at: Date | null }) => {
        const from = await paid(old);
        expect(await available()).toBe(before + bucket.amount_micros);
        expect(await packBuckets()).toEqual([bucket]);
        // The processor tells of it again: nothing more is credited.
        await deliver(from);
        expect(await available()).toBe(before + bucket.amount_micros);
        expect(await t.sql.query(`SELECT status, duplicates FROM webhook_events WHERE type = 'payment.succeeded'`)).toEqual([{ status: 'applied', duplicates: 1 }]);
      };
      /** acme on Plus, and a checkout of the $10 pack (as `changes` make it) opened: what acme had, and the checkout. */
      const oldCheckout = async (changes: PackChanges = {}) => {
        await t.billing.admin.applyPreset('subscription-plus-packs');
        await t.billing.admin.updatePack('extra-10', changes);
        await t.billing.admin.syncCatalog(vendor.name);
        await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: vendor.name });
        await paid(await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' }));
        const before = await available();
        return { before, old: await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-old' }) };
      };

      it('credits the payment at the old price as the pack sold at it, its value and expiry, once, and one at the new price as the pack is now', async () => {
        const { before, old } = await oldCheckout({ expiresAfterDays: 90 });
        await t.billing.admin.updatePack('extra-10', { priceCents: 20_00, valueMicros: 30_000_000, expiresAfterDays: 30 });
        await t.billing.admin.syncCatalog(vendor.name);
        await paidOnce(old, before, { amount_micros: 10_000_000, expires_at: inDays(90) });
        expect(await t.sql.query(`SELECT amount_cents FROM payments WHERE kind = 'pack'`)).toEqual([{ amount_cents: 10_00 }]);

        // A checkout at the new price buys the pack as it is now.
        await paid(await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-new' }));
        expect(await available()).toBe(before + 40_000_000);
        expect((await packBuckets())[1]).toEqual({ amount_micros: 30_000_000, expires_at: inDays(30) });
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('credits the old page as it was opened when the pack changed at the same price, once, and a new page as the pack is now', async () => {
        const { before, old } = await oldCheckout({ expiresAfterDays: 90 });
        // $10 for 1,000 credits becomes $10 for 800, for 30 days: the price paid cannot tell the two apart.
        await t.billing.admin.updatePack('extra-10', { valueMicros: 8_000_000, expiresAfterDays: 30 });
        await t.billing.admin.syncCatalog(vendor.name);
        await paidOnce(old, before, { amount_micros: 10_000_000, expires_at: inDays(90) });

        // A page opened now sells the pack as it is.
        await paid(await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-new' }));
        expect(await available()).toBe(before + 18_000_000);
        expect((await packBuckets())[1]).toEqual({ amount_micros: 8_000_000, expires_at: inDays(30) });
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('credits it as it sold too before the catalog is synced, while the pack still names its old price there', async () => {
        const { before, old } = await oldCheckout();
        await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 }); // $20 for 2,000 credits, not synced yet
        const from = await paid(old);
        await deliver(from);
        expect(await available()).toBe(before + 10_000_000);
        expect(await packBuckets()).toEqual([{ amount_micros: 10_000_000, expires_at: null }]);
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('refuses a payment at a price no version of the pack was sold at, changed since or not', async () => {
        const { before, old } = await oldCheckout();
        vendor.foreignPrice(fake() as never, urlOf(old));
        await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 });
        await t.billing.admin.syncCatalog(vendor.name);
        await expect(paid(old)).rejects.toThrow(/paid the price .* not the pack's price .* nor one a version of the pack "extra-10" was sold at .* nothing was credited/);
        expect(await t.sql.query(`SELECT status FROM webhook_events WHERE type = 'payment.succeeded'`)).toEqual([{ status: 'failed' }]);
        expect(await available()).toBe(before);
      });
    });
  }
}
