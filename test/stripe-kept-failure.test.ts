/**
 * Stripe keeps the first answer to an idempotency key for a day, a 500 too, and gives it again to
 * every request under that key. A call whose repeat does no harm (the account's customer, a
 * checkout page, a catalog price, a cancel) is then asked once more under a key of its own, and
 * goes through at once instead of failing for a day. A call that moves money (a refund) is never
 * asked again under another key: the failure is said as Stripe keeps it, with what to do. A key
 * Stripe keeps for another request is the engine's idempotency_conflict. With the real SDK against
 * the local fake of Stripe's API; the engine is the same on both databases, so on the embedded one.
 */
import { describe, expect, it } from 'vitest';
import { BillingError } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';
import { useStripeBilling } from './support/processor-billing.ts';

const pglite = ENGINES.find((e) => e.name === 'pglite')!;
/** Stripe's 500 from inside the API, kept for the request's key. */
const KEPT = { kept: true };

describe('failures Stripe keeps for an idempotency key', () => {
  const { t, fake, deliver } = useStripeBilling(pglite);

  /** acme at Stripe, on a catalog that sells a plan and, to anyone, packs. */
  async function acmeOnStripe() {
    await t.billing.admin.applyPreset('credit-packs');
    await t.billing.admin.createPlan({ slug: 'plus', name: 'Plus', priceCents: 20_00, overage: 'credits', sort: 1 });
    await t.billing.admin.syncCatalog('stripe');
    await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
  }
  /** A checkout's page paid, and Stripe's events of it handed to the engine. */
  async function paid(checkout: Promise<unknown>) {
    const from = fake().events.length;
    await fake().completeCheckout((await checkout as { checkoutUrl: string }).checkoutUrl.split('/').pop()!);
    await deliver(from);
  }
  /** The keys Stripe was asked under at `path` after the failure, in order (its answers replayed to the SDK's retries among them). */
  const askedUnder = (path: string) => [...new Set(fake().requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.idempotencyKey))];

  it("makes the account's customer and its checkout page under keys of their own when Stripe kept a failure for theirs", async () => {
    await acmeOnStripe();
    fake().failNext('/v1/customers', 1, 500, KEPT);
    fake().failNext('/v1/checkout/sessions', 1, 500, KEPT);
    const checkout = (await t.billing.purchase('acme', 'credits-10', { idempotencyKey: 'buy-1' })) as { checkoutUrl: string };
    expect(checkout).toMatchObject({ status: 'pending', checkoutUrl: expect.stringMatching(/\/c\/pay\/cs_/) });
    // Each first asked under its own key, and failed; then made under a key of that attempt's.
    expect(fake().failed.map((f) => [f.path, f.idempotencyKey])).toEqual([['/v1/customers', 'customer:acme'], ['/v1/checkout/sessions', 'buy-1']]);
    expect(askedUnder('/v1/customers')).toEqual(['customer:acme', expect.stringMatching(/^customer:acme:[\da-f-]{36}$/)]);
    expect(askedUnder('/v1/checkout/sessions')).toEqual(['buy-1', expect.stringMatching(/^buy-1:[\da-f-]{36}$/)]);
    expect([fake().customers.size, fake().sessions.size]).toEqual([1, 1]);
    // The same purchase again is the page made, from the engine's own key: nothing more is asked of Stripe.
    expect(await t.billing.purchase('acme', 'credits-10', { idempotencyKey: 'buy-1' })).toMatchObject({ checkoutUrl: checkout.checkoutUrl, replayed: true });
    expect(fake().sessions.size).toBe(1);
  });

  it('syncs a price whose first creation Stripe kept as a failure', async () => {
    await t.billing.admin.applyPreset('subscription-plus-packs');
    fake().failNext('/v1/prices', 1, 500, KEPT);
    const synced = await t.billing.admin.syncCatalog('stripe');
    expect(synced.created).toBe(synced.items.length);
    expect(fake().failed.map((f) => f.path)).toEqual(['/v1/prices']);
    const plus = (await t.billing.admin.listPlans()).find((p) => p.slug === 'plus')!;
    expect(plus.processorPrices.stripe).toMatch(/^price_/);
  });

  it('cancels a subscription whose cancel Stripe kept as a failure', async () => {
    await acmeOnStripe();
    await paid(t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' }));
    const [subscription] = await t.sql.query<{ processor_ref: string }>(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`);
    fake().failNext(`/v1/subscriptions/${subscription!.processor_ref}`, 1, 500, KEPT);
    expect(await t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' })).toMatchObject({ replayed: false });
    expect(askedUnder(`/v1/subscriptions/${subscription!.processor_ref}`)).toEqual(['cancel-1', expect.stringMatching(/^cancel-1:[\da-f-]{36}$/)]);
    // The plan ends at the paid period's end, as asked.
    expect(await t.sql.query(`SELECT plan_ends_at IS NOT NULL AS ending FROM accounts WHERE id = 'acme'`)).toEqual([{ ending: true }]);
  });

  it('says a refund Stripe kept as a failure as it is, and never asks for it again under another key', async () => {
    await acmeOnStripe();
    await paid(t.billing.purchase('acme', 'credits-10', { idempotencyKey: 'buy-1' }));
    const [payment] = await t.billing.payments('acme');
    fake().failNext('/v1/refunds', 1, 500, KEPT);
    for (const attempt of [1, 2]) {
      const refused = await t.billing.refundPayment('acme', payment!.id, { amountCents: 5_00 }, { idempotencyKey: 'refund-1' }).catch((e: unknown) => e);
      expect(refused, `attempt ${attempt}`).toBeInstanceOf(BillingError);
      expect(refused).toMatchObject({
        code: 'processor_error',
        message: "Stripe failed the refund and gives that answer to its idempotency key for a day: nothing was changed here; see in Stripe's dashboard whether it was done before asking again, under another idempotency key",
      });
    }
    // Stripe made no refund, and was asked for it under no key but the one it kept the failure for.
    expect(fake().refunds.size).toBe(0);
    expect(askedUnder('/v1/refunds')).toEqual(fake().failed.map((f) => f.idempotencyKey));
    expect((await t.billing.payments('acme'))[0]).toMatchObject({ refundedCents: 0 });
  });

  it("says a key Stripe keeps for another request as the engine's idempotency_conflict: a subscribe refused at its second look, asked again under its key as a plan change", async () => {
    await acmeOnStripe();
    await t.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 200_00, overage: 'credits', sort: 2 });
    await t.billing.admin.syncCatalog('stripe');
    const plusPage = await t.billing.subscribe('acme', 'plus');
    // Max's checkout page is made at Stripe under its key while acme pays for Plus: its second look finds acme subscribed.
    const held = fake().holdNext('/v1/checkout/sessions');
    const toMax = t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' });
    await held.reached;
    await paid(Promise.resolve(plusPage));
    held.release();
    await expect(toMax).rejects.toMatchObject({ code: 'subscription_active' });
    // Asked again under the key, it is now a change of acme's subscription, which Stripe refuses under a key it keeps for the page.
    const again = await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(BillingError);
    expect(again).toMatchObject({ code: 'idempotency_conflict', message: expect.stringMatching(/^Stripe keeps this call's idempotency key for another request .*: nothing was changed here; a new request needs a key of its own$/) });
    // Under a key of its own, the change goes through.
    expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max-2' })).toMatchObject({ replayed: false });
    expect((await t.billing.balance('acme')).plan).toMatchObject({ slug: 'max' });
  });
});
