/**
 * A checkout, or the portal, asks the processor outside any transaction: while Stripe or Paddle
 * takes its time to answer, the account's gate, and every other account's in the process, go on
 * answering. Each processor call is held at the fake until the test lets it through, so what the
 * gate answers meanwhile is known to have been answered while the processor had not. On both
 * engines, with the real SDKs against the local fakes of their APIs.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';
import type { StripeFake } from './support/stripe-fake.ts';

/** Each vendor's paths its fake holds, and its way to pay the page a checkout answered. */
const VENDORS = [
  { name: 'stripe', use: useStripeBilling, pay: (fake: StripeFake, url: string) => fake.completeCheckout(url.split('/').pop()!), paths: { checkout: '/v1/checkout/sessions', customer: '/v1/customers', portal: () => '/v1/billing_portal/sessions' } },
  { name: 'paddle', use: usePaddleBilling, pay: (fake: PaddleFake, url: string) => fake.completeTransaction(fake.transactionAt(url).id), paths: { checkout: 'POST /transactions', customer: 'POST /customers', portal: (customer: string) => `POST /customers/${customer}/portal-sessions` } },
] as const;

for (const engine of ENGINES) {
  for (const vendor of VENDORS) {
    describe(`checkout at ${vendor.name} outside the gate, on ${engine.name}`, () => {
      const { t, fake, deliver } = (vendor.use as typeof useStripeBilling)(engine);
      const pay = vendor.pay as (fake: unknown, url: string) => Promise<unknown>;

      const setUp = async () => {
        await t.billing.admin.applyPreset('subscription-plus-packs');
        await t.billing.admin.syncCatalog(vendor.name);
        for (const id of ['acme', 'globex']) await t.billing.upsertAccount({ id, kind: 'team', processor: vendor.name });
      };
      const authorize = (accountId: string) => t.billing.authorize(accountId, { model: 'gpt-4o-mini', inputTokens: 1_000 });
      const customers = () => (fake() as { customers: Map<string, unknown> }).customers;

      it('answers authorizations, of the account and of another, while the checkout waits at the processor', async () => {
        await setUp();
        const held = fake().holdNext(vendor.paths.checkout);
        const checkout = t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' });
        await held.reached;
        expect(await authorize('globex')).toMatchObject({ ok: true });
        expect(await authorize('acme')).toMatchObject({ ok: true });
        held.release();
        expect(await checkout).toMatchObject({ status: 'pending', replayed: false });
        expect(await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' })).toEqual({ ...(await checkout), replayed: true });
      });

      it('answers authorizations while the portal waits at the processor', async () => {
        await setUp();
        const held = fake().holdNext(vendor.paths.portal(await customerOf('acme')));
        const portal = t.billing.portal('acme', { returnUrl: 'https://app.example/billing' });
        await held.reached;
        expect(await authorize('globex')).toMatchObject({ ok: true });
        expect(await authorize('acme')).toMatchObject({ ok: true });
        held.release();
        expect((await portal).url).toMatch(/^https?:\/\//);
      });

      it('makes one customer for two first checkouts at once, the second not waiting on the first', async () => {
        await setUp();
        const held = fake().holdNext(vendor.paths.customer);
        const first = t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' });
        await held.reached;
        const second = await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-2' });
        held.release();
        expect([await first, second]).toMatchObject([{ status: 'pending' }, { status: 'pending' }]);
        expect(customers().size).toBe(1);
        const [stored] = await t.sql.query<{ processor_customer_id: string }>(`SELECT processor_customer_id FROM accounts WHERE id = 'acme'`);
        expect(customers().has(stored!.processor_customer_id)).toBe(true);
      });

      it('refuses a checkout whose plan was archived while the processor answered, and stores nothing', async () => {
        await setUp();
        const held = fake().holdNext(vendor.paths.checkout);
        const checkout = t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' });
        await held.reached;
        await t.billing.admin.updatePlan('plus', { status: 'archived' });
        held.release();
        await expect(checkout).rejects.toMatchObject({ code: 'plan_not_available' });
        expect(await t.sql.query(`SELECT key FROM effect_keys WHERE key = 'sub-plus'`)).toEqual([]);
        expect((await t.billing.balance('acme')).plan.slug).not.toBe('plus');
      });

      it("answers authorizations while a pack's checkout waits at the processor; the pack archived meanwhile refuses it, storing nothing", async () => {
        await setUp();
        await subscribed('acme');
        await t.billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' }); // its plan's usage draws on credits only
        const held = fake().holdNext(vendor.paths.checkout);
        const checkout = t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-1' });
        await held.reached;
        expect(await authorize('globex')).toMatchObject({ ok: true });
        expect(await authorize('acme')).toMatchObject({ ok: true });
        await t.billing.admin.updatePack('extra-10', { status: 'archived' });
        held.release();
        await expect(checkout).rejects.toMatchObject({ code: 'pack_not_found' });
        expect(await t.sql.query(`SELECT key FROM effect_keys WHERE key = 'buy-1'`)).toEqual([]);
      });

      /** The account on the plan, its checkout paid and the processor's events handed to the engine. */
      async function subscribed(accountId: string): Promise<void> {
        const { checkoutUrl } = (await t.billing.subscribe(accountId, 'plus')) as { checkoutUrl: string };
        const from = fake().events.length;
        await pay(fake(), checkoutUrl);
        await deliver(from);
        expect((await t.billing.balance(accountId)).plan.slug).toBe('plus');
      }

      /** The account's customer at the processor, made by a first checkout. */
      async function customerOf(accountId: string): Promise<string> {
        await t.billing.subscribe(accountId, 'plus');
        const [row] = await t.sql.query<{ processor_customer_id: string }>('SELECT processor_customer_id FROM accounts WHERE id = $1', [accountId]);
        return row!.processor_customer_id;
      }
    });
  }
}
