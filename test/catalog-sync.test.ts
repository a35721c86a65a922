/**
 * The catalog sync, on both engines, with the real Stripe and Paddle SDKs against the local fakes
 * of their APIs: the first run makes a price for each paid plan and pack on sale and stores its
 * id where checkout reads it; a second makes nothing; a price changed is a new price, the old one
 * archived, never edited; a sync that dies midway (the vendor made a price, the answer never came
 * back) stores nothing, and the next finds what was made; two syncs at once make one price per
 * item. The fake processor's sync names its prices after what they sell at.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing } from '../src/index.ts';
import type { Processor } from '../src/engine/processor.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { StripeFake } from './support/stripe-fake.ts';

/** A vendor's fake, as these tests look into it: the prices made for an item, the calls that made or changed things. */
interface Vendor {
  name: 'stripe' | 'paddle';
  start(): Promise<Processor>;
  close(): Promise<void>;
  /** The prices made for a plan or pack (by the slug their metadata names), oldest first. */
  prices(kind: 'plan' | 'pack', slug: string): { id: string; amountCents: number; monthly: boolean; active: boolean }[];
  /** The name of the product made for a plan or pack. */
  productName(kind: 'plan' | 'pack', slug: string): string | undefined;
  /** Calls since the last reset that made a product or a price. */
  creates(): string[];
  /** Calls since the last reset that would change a price's amount or interval in place. */
  priceEdits(): string[];
  resetRequests(): void;
  loseAnswers(lose: ((method: string, path: string) => boolean) | undefined): void;
  /** The price a checkout URL sells. */
  checkoutPrice(checkoutUrl: string): string;
}

function stripeVendor(): Vendor {
  let fake: StripeFake;
  return {
    name: 'stripe',
    async start() {
      fake = await StripeFake.start();
      return stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, successUrl: 'https://app.example/done' });
    },
    close: () => fake.close(),
    prices: (kind, slug) =>
      [...fake.prices.values()]
        .filter((p) => p.metadata[`tollgate_${kind}`] === slug)
        .map((p) => ({ id: p.id, amountCents: p.unit_amount, monthly: p.recurring?.interval === 'month' && p.recurring.interval_count === 1, active: p.active })),
    productName: (kind, slug) => [...fake.products.values()].find((p) => p.metadata[`tollgate_${kind}`] === slug)?.name,
    creates: () => fake.requests.filter((r) => r.method === 'POST' && (r.path === '/v1/prices' || r.path === '/v1/products')).map((r) => `${r.method} ${r.path}`),
    priceEdits: () => fake.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/prices/') && ('unit_amount' in r.params || 'recurring' in r.params || 'currency' in r.params)).map((r) => r.path),
    resetRequests: () => void (fake.requests.length = 0),
    loseAnswers: (lose) => void (fake.loseAnswers = lose),
    // Stripe keeps a session's line items apart from it: the request that made it says them.
    checkoutPrice: () => fake.requests.filter((r) => r.path === '/v1/checkout/sessions').at(-1)!.params.line_items[0].price,
  };
}

function paddleVendor(): Vendor {
  let fake: PaddleFake;
  return {
    name: 'paddle',
    async start() {
      fake = await PaddleFake.start();
      return paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url });
    },
    close: () => fake.close(),
    prices: (kind, slug) =>
      [...fake.prices.values()]
        .filter((p) => p.custom_data?.[`tollgate_${kind}`] === slug)
        .map((p) => ({ id: p.id, amountCents: Number(p.unit_price.amount), monthly: p.billing_cycle?.interval === 'month' && p.billing_cycle.frequency === 1, active: p.status === 'active' })),
    productName: (kind, slug) => [...fake.products.values()].find((p) => p.custom_data?.[`tollgate_${kind}`] === slug)?.name,
    creates: () => fake.requests.filter((r) => r.method === 'POST' && (r.path === '/prices' || r.path === '/products')).map((r) => `${r.method} ${r.path}`),
    priceEdits: () => fake.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/prices/') && (r.body?.unit_price !== undefined || r.body?.billing_cycle !== undefined)).map((r) => r.path),
    resetRequests: () => void (fake.requests.length = 0),
    loseAnswers: (lose) => void (fake.loseAnswers = lose),
    checkoutPrice: (checkoutUrl) => fake.transactionAt(checkoutUrl).items[0]!.price_id ?? '',
  };
}

/** The catalog these tests sell: Free and Plus ($20/month), a legacy plan, the $10 pack and a $50 one, an archived pack. */
async function catalog(billing: Billing) {
  await billing.admin.applyPreset('subscription-plus-packs');
  await billing.admin.createPlan({ slug: 'old', name: 'Old', priceCents: 15_00, status: 'legacy' });
  await billing.admin.createPack({ slug: 'big', name: 'Big pack', priceCents: 50_00 });
  await billing.admin.createPack({ slug: 'gone', name: 'Gone', priceCents: 5_00, status: 'archived' });
}
const ON_SALE = [['plan', 'plus', 20_00], ['pack', 'extra-10', 10_00], ['pack', 'big', 50_00]] as const;

for (const engine of ENGINES) {
  for (const vendor of [stripeVendor(), paddleVendor()]) {
    describe(`the catalog sync to ${vendor.name} on ${engine.name}`, () => {
      // A fresh fake of the vendor for each test, before the harness makes the facade on it.
      const processors: Processor[] = [fakeProcessor()];
      beforeEach(async () => {
        processors[1] = await vendor.start();
      });
      afterEach(async () => {
        await vendor.close();
      });
      const t = useBilling(engine, { processors });
      const stored = async (kind: 'plan' | 'pack', slug: string) =>
        (kind === 'plan' ? await t.billing.admin.getPlan(slug) : await t.billing.admin.getPack(slug)).processorPrices[vendor.name];

      it('makes a price for each paid plan and pack on sale and stores it; run again, it makes nothing', async () => {
        await catalog(t.billing);
        const first = await t.billing.admin.syncCatalog(vendor.name);
        expect(first).toMatchObject({ processor: vendor.name, created: 3, linked: 0, unchanged: 0, archived: 0 });
        expect(first.items.map((i) => [i.kind, i.slug, i.priceCents, i.outcome])).toEqual(ON_SALE.map(([kind, slug, cents]) => [kind, slug, cents, 'created']));
        for (const [kind, slug, cents] of ON_SALE) {
          const made = vendor.prices(kind, slug);
          expect(made).toEqual([{ id: expect.any(String), amountCents: cents, monthly: kind === 'plan', active: true }]);
          expect(await stored(kind, slug)).toBe(made[0]!.id);
          expect(first.items.find((i) => i.slug === slug)).toMatchObject({ priceId: made[0]!.id, previousPriceId: null, archived: [] });
        }
        // Nothing for the free plan, the legacy plan or the archived pack.
        for (const [kind, slug] of [['plan', 'free'], ['plan', 'old'], ['pack', 'gone']] as const) {
          expect(vendor.prices(kind, slug)).toEqual([]);
          expect(await stored(kind, slug)).toBeUndefined();
        }
        expect(vendor.creates()).toHaveLength(6); // a product and a price each

        vendor.resetRequests();
        const second = await t.billing.admin.syncCatalog(vendor.name);
        expect(second).toMatchObject({ created: 0, linked: 0, unchanged: 3, archived: 0 });
        expect(vendor.creates()).toEqual([]);
        for (const [kind, slug] of ON_SALE) expect(vendor.prices(kind, slug)).toHaveLength(1);
        expect((await t.billing.admin.catalogSyncs()).find((s) => s.processor === vendor.name)).toMatchObject({ last: { unchanged: 3, syncedAt: second.syncedAt }, failure: null });

        // Checkout sells at the price the sync stored.
        await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: vendor.name });
        const pending = await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' });
        expect(pending).toMatchObject({ status: 'pending' });
        expect(vendor.checkoutPrice((pending as { checkoutUrl: string }).checkoutUrl)).toBe(await stored('plan', 'plus'));
      });

      it('sells a changed price as a new price and archives the old one, never editing a price', async () => {
        await catalog(t.billing);
        await t.billing.admin.syncCatalog(vendor.name);
        const old = (await stored('plan', 'plus'))!;
        await t.billing.admin.updatePlan('plus', { priceCents: 25_00, name: 'Plus+' });
        await t.billing.admin.createPack({ slug: 'new', name: 'New pack', priceCents: 7_00 });
        vendor.resetRequests();

        const changed = await t.billing.admin.syncCatalog(vendor.name);
        expect(changed).toMatchObject({ created: 2, linked: 0, unchanged: 2, archived: 1 });
        const plus = vendor.prices('plan', 'plus');
        expect(plus).toEqual([
          { id: old, amountCents: 20_00, monthly: true, active: false },
          { id: expect.any(String), amountCents: 25_00, monthly: true, active: true },
        ]);
        expect(await stored('plan', 'plus')).toBe(plus[1]!.id);
        expect(changed.items.find((i) => i.slug === 'plus')).toMatchObject({ outcome: 'created', priceId: plus[1]!.id, previousPriceId: old, archived: [old] });
        expect(vendor.prices('pack', 'new')).toEqual([{ id: await stored('pack', 'new'), amountCents: 7_00, monthly: false, active: true }]);
        expect(vendor.priceEdits()).toEqual([]);
        expect(vendor.productName('plan', 'plus')).toBe('Plus+'); // a product is renamed with its plan

        // Back to $20: a price of its own again, the $25 one archived; run again, nothing more.
        await t.billing.admin.updatePlan('plus', { priceCents: 20_00 });
        const back = await t.billing.admin.syncCatalog(vendor.name);
        expect(back.items.find((i) => i.slug === 'plus')).toMatchObject({ outcome: 'created', archived: [plus[1]!.id] });
        expect(vendor.prices('plan', 'plus').filter((p) => p.active)).toEqual([{ id: await stored('plan', 'plus'), amountCents: 20_00, monthly: true, active: true }]);
        expect(await t.billing.admin.syncCatalog(vendor.name)).toMatchObject({ created: 0, archived: 0, unchanged: 4 });
        expect(vendor.priceEdits()).toEqual([]);
      });

      it('refuses a checkout at a price changed since the last sync, until the catalog is synced again', async () => {
        await catalog(t.billing);
        await t.billing.admin.syncCatalog(vendor.name);
        await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: vendor.name });
        await t.billing.admin.updatePlan('plus', { priceCents: 100_00 });
        vendor.resetRequests();

        // The stored price still sells at $20 at the vendor: no page is made.
        await expect(t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-stale' })).rejects.toMatchObject({
          code: 'processor_not_configured',
          message: expect.stringMatching(/plan "plus" costs \$100\.00 here but sells at \$20\.00 at (Stripe|Paddle): sync the catalog/),
        });
        expect(vendor.creates()).toEqual([]);

        // Synced, it sells at its new amount.
        await t.billing.admin.syncCatalog(vendor.name);
        const pending = await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-synced' });
        const price = vendor.checkoutPrice((pending as { checkoutUrl: string }).checkoutUrl);
        expect(vendor.prices('plan', 'plus').find((p) => p.id === price)).toMatchObject({ amountCents: 100_00, active: true });
      });

      it('stores nothing from a sync that dies midway, and the next finds what it made', async () => {
        await catalog(t.billing);
        // The second price is made at the vendor, and its answer never comes back (nor any after it).
        let prices = 0;
        vendor.loseAnswers((method, path) => method === 'POST' && /^(\/v1)?\/prices$/.test(path) && ++prices >= 2);
        const failed = await t.billing.admin.syncCatalog(vendor.name).catch((error: unknown) => error);
        expect(failed).toMatchObject({ code: 'processor_error', message: expect.stringContaining(vendor.name) });
        expect(vendor.prices('plan', 'plus')).toHaveLength(1);
        expect(vendor.prices('pack', 'extra-10')).toHaveLength(1);
        for (const [kind, slug] of ON_SALE) expect(await stored(kind, slug)).toBeUndefined();
        expect((await t.billing.admin.catalogSyncs()).find((s) => s.processor === vendor.name)).toMatchObject({ last: null, failure: { error: expect.stringContaining('did not complete') } });

        vendor.loseAnswers(undefined);
        const rerun = await t.billing.admin.syncCatalog(vendor.name);
        expect(rerun.items.map((i) => [i.slug, i.outcome])).toEqual([['plus', 'linked'], ['extra-10', 'linked'], ['big', 'created']]);
        for (const [kind, slug] of ON_SALE) {
          const made = vendor.prices(kind, slug);
          expect(made).toHaveLength(1);
          expect(await stored(kind, slug)).toBe(made[0]!.id);
        }
        expect((await t.billing.admin.catalogSyncs()).find((s) => s.processor === vendor.name)).toMatchObject({ last: { linked: 2, created: 1 } });
      });

      it('makes one price per item when two syncs run at once, from two facades on the database', async () => {
        await catalog(t.billing);
        const other = await createBilling({ database: t.sql, clock: t.clock.read, processors });
        try {
          const results = await Promise.all([t.billing.admin.syncCatalog(vendor.name), other.admin.syncCatalog(vendor.name), t.billing.admin.syncCatalog(vendor.name)]);
          expect(results.map((r) => r.created).sort()).toEqual([0, 0, 3]);
          for (const [kind, slug] of ON_SALE) {
            const made = vendor.prices(kind, slug);
            expect(made).toHaveLength(1);
            expect(await stored(kind, slug)).toBe(made[0]!.id);
          }
          expect(vendor.creates()).toHaveLength(6);
        } finally {
          await other.close();
        }
      });
    });
  }

  describe(`the catalog sync to the fake processor on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('names each price after what it sells at: the same again, or a new one for another amount, the old archived', async () => {
      await catalog(t.billing);
      const first = await t.billing.admin.syncCatalog('fake');
      expect(first).toMatchObject({ created: 3, unchanged: 0, archived: 0 });
      expect((await t.billing.admin.getPlan('plus')).processorPrices).toEqual({ fake: 'fake_price_plan_plus_2000_per_month' });
      expect((await t.billing.admin.getPack('big')).processorPrices).toEqual({ fake: 'fake_price_pack_big_5000' });
      expect(await t.billing.admin.syncCatalog('fake')).toMatchObject({ created: 0, unchanged: 3 });
      await t.billing.admin.updatePack('big', { priceCents: 40_00 });
      const changed = await t.billing.admin.syncCatalog('fake');
      expect(changed.items.find((i) => i.slug === 'big')).toMatchObject({ outcome: 'created', priceId: 'fake_price_pack_big_4000', archived: ['fake_price_pack_big_5000'] });
    });

    it('refuses a processor that is not configured, or a name that is none', async () => {
      await catalog(t.billing);
      await expect(t.billing.admin.syncCatalog('stripe')).rejects.toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('fake') });
      await expect(t.billing.admin.syncCatalog('')).rejects.toMatchObject({ code: 'invalid_input' });
      expect(await t.billing.admin.catalogSyncs()).toEqual([]);
    });
  });
}
