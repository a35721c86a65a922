/**
 * What a Paddle checkout's customer can change, and what the engine credits for it. Paddle.js
 * lets the customer's browser pass custom data and items to a checkout (Checkout.open, and
 * updateCheckout on one already open), and Paddle stores that custom data on the transaction:
 * the transaction's custom data is the customer's word. What was paid for is the price paid: a
 * price the catalog sync made names its plan or pack in its own custom data, which only the API
 * key sets; a price linked by hand must be the one the plan or pack sells at. On both engines,
 * with the real Paddle SDK against the local fake of its API.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a Paddle checkout's custom data on ${engine.name}`, () => {
    const { t, deliver, fake: paddle } = usePaddleBilling(engine);
    let fake: PaddleFake;
    beforeEach(() => {
      fake = paddle();
    });
    const available = async () => (await t.billing.balance('acme')).availableMicros;

    async function catalog() {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.createPack({ slug: 'big', name: 'Big pack', priceCents: 50_00 });
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
    }

    /** On Plus, paid as it should be: packs are its add-ons. */
    async function subscribed() {
      const pending = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-plus' })) as { checkoutUrl: string };
      const from = fake.events.length;
      await fake.completeTransaction(fake.transactionAt(pending.checkoutUrl).id);
      await deliver(from);
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
    }

    it("credits the pack whose price was paid, not the one the customer's custom data names", async () => {
      await catalog();
      await t.billing.admin.syncCatalog('paddle');
      await subscribed();
      const before = await available();
      const pending = (await t.billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-1' })) as { checkoutUrl: string };
      const transaction = fake.transactionAt(pending.checkoutUrl);
      // In the browser: Paddle.Checkout.updateCheckout({ customData }), stored on the transaction.
      transaction.custom_data = { tollgate_account: 'acme', tollgate_pack: 'big' };
      const from = fake.events.length;
      await fake.completeTransaction(transaction.id);
      await deliver(from);

      expect(await available()).toBe(before + 10_000_000); // the $10 pack's value, not the $50 one's
    });

    it("opens the plan whose price was paid, not the one the customer's custom data names", async () => {
      await catalog();
      await t.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 500_00, includedMicros: 900_000_000 });
      await t.billing.admin.syncCatalog('paddle');
      const pending = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      const transaction = fake.transactionAt(pending.checkoutUrl);
      transaction.custom_data = { tollgate_account: 'acme', tollgate_plan: 'max' };
      const from = fake.events.length;
      await fake.completeTransaction(transaction.id);
      await deliver(from);

      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
    });

    it("credits nothing for a price linked by hand that is not the pack's, whatever the custom data names", async () => {
      await catalog();
      const packPrice = fake.addPrice({ unitAmount: 50_00 });
      await t.billing.admin.updatePack('big', { processorPrices: { paddle: packPrice } });
      await t.billing.admin.updatePlan('plus', { processorPrices: { paddle: fake.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await subscribed();
      const before = await available();
      // Paddle.Checkout.open({ items: [a $1 price of the seller's], customData: { the big pack } }), from the browser.
      const cheap = fake.addPrice({ unitAmount: 1_00 });
      const made = await fetch(`${fake.url}/transactions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ price_id: cheap, quantity: 1 }], custom_data: { tollgate_account: 'acme', tollgate_pack: 'big' } }),
      });
      const { data } = (await made.json()) as { data: { id: string } };
      const from = fake.events.length;
      await fake.completeTransaction(data.id);
      // Refused and kept as failed, for an admin to see; the processor's retries are refused too.
      await expect(deliver(from)).rejects.toThrow(/paid the price .* not the pack's .* nothing was credited/);
      await expect(deliver(from)).rejects.toThrow(/nothing was credited/);
      expect(await t.sql.query(`SELECT status, attempts FROM webhook_events WHERE type = 'payment.succeeded'`)).toEqual([{ status: 'failed', attempts: 2 }]);
      expect(await available()).toBe(before);

      // The pack's own price, linked by hand, is credited as its custom data says.
      const paid = await fetch(`${fake.url}/transactions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ price_id: packPrice, quantity: 1 }], custom_data: { tollgate_account: 'acme', tollgate_pack: 'big' } }),
      });
      const next = fake.events.length;
      await fake.completeTransaction(((await paid.json()) as { data: { id: string } }).data.id);
      await deliver(next);
      expect(await available()).toBe(before + 50_000_000);
    });
  });
}
