/**
 * A second subscription paid for an account already on a live one at the same processor: two
 * checkout pages opened before either was paid, then both paid. The account moves to the one
 * paid last, as the engine always did, and the one it leaves is ended at the processor at once,
 * so it does not go on billing the customer each month for a period that opens nothing. A
 * subscription paid by another customer, whose custom data (the customer's browser can set it)
 * names the account, replaces nothing: it is refused, and the account's own goes on. On both
 * engines, with the real Paddle SDK against the local fake of its API.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a second subscription paid at Paddle, on ${engine.name}`, () => {
    const { t, deliver, fake } = usePaddleBilling(engine);

    it('ends the one the account left at Paddle, and its end changes nothing more', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      // Two checkout pages, opened before either was paid (two tabs, or a page kept from yesterday).
      const pages = [];
      for (const key of ['sub-1', 'sub-2']) pages.push((await t.billing.subscribe('acme', 'plus', { idempotencyKey: key })) as { checkoutUrl: string });
      const [first, second] = pages.map((page) => fake().transactionAt(page.checkoutUrl));
      let from = fake().events.length;
      await fake().completeTransaction(first!.id);
      await deliver(from);
      from = fake().events.length;
      await fake().completeTransaction(second!.id);
      await deliver(from);

      const firstSubscription = fake().subscriptions.get(first!.subscription_id!)!;
      const secondSubscription = fake().subscriptions.get(second!.subscription_id!)!;
      expect(secondSubscription.status).toBe('active');
      expect(firstSubscription.status).toBe('canceled'); // else Paddle bills it every month
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');

      // Paddle's word that it ended, and the second's renewal: the account stays on the second.
      from = fake().events.length;
      await fake().flush();
      await fake().renew(secondSubscription.id);
      await deliver(from);
      expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
      expect(await t.sql.query(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`)).toEqual([{ processor_ref: secondSubscription.id }]);
    });

    it("refuses a subscription another customer paid for the account's name, and the account's own goes on", async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const own = fake().transactionAt(((await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string }).checkoutUrl);
      let from = fake().events.length;
      await fake().completeTransaction(own.id);
      await deliver(from);

      // Someone else's checkout, from their browser: Paddle.Checkout.open({ items: [Plus], customData: { tollgate_account: 'acme' } }).
      const api = (path: string, body: unknown) =>
        fetch(`${fake().url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fake().apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
          .then(async (response) => ((await response.json()) as { data: { id: string } }).data);
      const stranger = await api('/customers', { email: 'mallory@example.net' });
      const plus = (await t.billing.admin.getPlan('plus')).processorPrices.paddle;
      const theirs = await api('/transactions', { items: [{ price_id: plus, quantity: 1 }], customer_id: stranger.id, custom_data: { tollgate_account: 'acme', tollgate_plan: 'plus' } });
      from = fake().events.length;
      await fake().completeTransaction(theirs.id);
      await expect(deliver(from)).rejects.toThrow(/not the account's customer/);

      expect(fake().subscriptions.get(own.subscription_id!)!.status).toBe('active');
      expect(await t.sql.query(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`)).toEqual([{ processor_ref: own.subscription_id }]);
    });
  });
}
