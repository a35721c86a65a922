/**
 * The catalog sync through the server: two workers on PostgreSQL, the real Stripe and Paddle SDKs
 * talking to the local fakes of their APIs. Syncs sent to both workers at once make one price per
 * plan and pack at each processor (Paddle takes no idempotency key: only the sync's lock keeps
 * two from making two); checkout then sells at the price the sync stored, and the customer's
 * payment puts the account on its plan; a price changed is a new price, the old one archived and
 * no longer sold. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`the catalog sync through the server${skipped}`, () => {
  it('makes one price per item from syncs sent to two workers at once, and checkout sells at it', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const [stripe, paddle] = await Promise.all([StripeFake.start(), PaddleFake.start()]);
    const server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'paddle',
      STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url,
      PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url,
    });
    const base = `http://127.0.0.1:${server.port}`;
    paddle.webhookUrl = `${base}/webhooks/paddle`;
    const call = server.call.bind(server);
    const activePaddlePrices = (slug: string) => [...paddle.prices.values()].filter((p) => Object.values(p.custom_data ?? {}).includes(slug) && p.status === 'active');
    try {
      await server.ready(2);
      // The preset applied on the first start: Free, Plus ($20 a month) and a $10 pack.
      const syncs = await Promise.all(Array.from({ length: 8 }, (_, i) => call('POST', `/v1/admin/processors/${i % 2 ? 'stripe' : 'paddle'}/sync`)));
      expect(syncs.map((s) => s.status)).toEqual(syncs.map(() => 200));
      for (const name of ['stripe', 'paddle']) {
        const answers = syncs.filter((s) => s.body.processor === name).map((s) => s.body);
        expect(answers.map((a) => a.created).sort()).toEqual([0, 0, 0, 2]);
      }
      expect(stripe.prices.size).toBe(2);
      expect(paddle.prices.size).toBe(2);
      const plus = (await call('GET', '/v1/admin/plans/plus')).body;
      expect(Object.keys(plus.processorPrices).sort()).toEqual(['paddle', 'stripe']);
      expect(stripe.prices.get(plus.processorPrices.stripe)).toMatchObject({ unit_amount: 20_00, recurring: { interval: 'month' }, metadata: { tollgate_plan: 'plus' } });
      expect(paddle.prices.get(plus.processorPrices.paddle)).toMatchObject({ unit_price: { amount: '2000', currency_code: 'USD' }, billing_cycle: { interval: 'month', frequency: 1 } });

      // Checkout sells at the synced price, and Paddle's webhooks put the account on the plan.
      await call('PUT', '/v1/accounts/acme', { kind: 'team', name: 'Acme' });
      const pending = await call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, 'sub-1');
      expect(pending.status).toBe(202);
      const transaction = paddle.transactionAt(pending.body.checkoutUrl);
      expect(transaction.items[0]!.price_id).toBe(plus.processorPrices.paddle);
      const delivered = await paddle.completeTransaction(transaction.id);
      expect(delivered.map((d) => d.status)).toEqual(delivered.map(() => 200));
      expect((await call('GET', '/v1/accounts/acme/balance')).body.plan.slug).toBe('plus');

      // The pack costs $12 now: a new price, the $10 one archived and no longer sold.
      const oldPack = (await call('GET', '/v1/admin/packs/extra-10')).body.processorPrices.paddle;
      expect((await call('PATCH', '/v1/admin/packs/extra-10', { priceCents: 12_00 })).status).toBe(200);
      const changed = await call('POST', '/v1/admin/processors/paddle/sync');
      expect(changed.body).toMatchObject({ created: 1, unchanged: 1, archived: 1 });
      expect(paddle.prices.get(oldPack)!.status).toBe('archived');
      expect(activePaddlePrices('extra-10').map((p) => p.unit_price.amount)).toEqual(['1200']);
      const bought = await call('POST', '/v1/accounts/acme/purchases', { pack: 'extra-10' }, 'buy-1');
      expect(bought.status).toBe(202);
      expect(paddle.transactionAt(bought.body.checkoutUrl).items[0]!.price_id).toBe(activePaddlePrices('extra-10')[0]!.id);
    } finally {
      server.kill();
      await server.exited;
      await stripe.close();
      await paddle.close();
      await db.drop();
    }
  }, 120_000);
});
