/**
 * Auto-recharge through the server with Paddle Billing: two workers on PostgreSQL, the real
 * Paddle SDK talking to the local fake of Paddle's API. A recharge is a one-time charge on the
 * account's subscription (createOneTimeCharge), credited once by its answer and by
 * transaction.completed between them; a declined card turns auto-recharge off, and the gate says
 * so. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { ServerProcess } from './support/server-process.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`auto-recharge through the server with Paddle${skipped}`, () => {
  it('recharges through a one-time charge on the subscription, credited once whatever is delivered; a decline turns it off', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const paddle = await PaddleFake.start();
    const server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'paddle',
      PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url,
    });
    paddle.webhookUrl = `http://127.0.0.1:${server.port}/webhooks/paddle`;
    const call = server.call.bind(server);
    const balance = async () => (await call('GET', '/v1/accounts/acme/balance')).body;
    const recharges = () => db.sql.query<{ status: string; payment_ref: string | null }>(`SELECT status, payment_ref FROM recharges WHERE account_id = 'acme' ORDER BY id`);
    const until = async (what: string, done: (rows: { status: string }[]) => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!done(await recharges())) {
        if (Date.now() > deadline) throw new Error(`${what}: not within 20 s; ${JSON.stringify(await recharges())}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const oneTimeCharges = () => [...paddle.transactions.values()].filter((t) => t.origin === 'subscription_charge');
    try {
      await server.ready(2);
      await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 10_00 }) } });
      await call('PUT', '/v1/accounts/acme', { kind: 'team', name: 'Acme' });
      const subscribing = await call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, 'sub-1');
      await paddle.completeTransaction(paddle.transactionAt(subscribing.body.checkoutUrl).id);
      expect(await balance()).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
      const subscription = [...paddle.subscriptions.values()][0]!;

      expect((await call('PUT', '/v1/accounts/acme/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: 5_000_000 })).body).toMatchObject({ state: 'on' });
      expect((await call('POST', '/v1/accounts/acme/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 55_000_000, outputTokens: 0 } }, 'big-1')).status).toBe(200);
      const low = (await balance()).availableMicros as number;
      expect(low).toBeLessThan(5_000_000);

      await until('the recharge', (rows) => rows.some((r) => r.status === 'succeeded'));
      const [charge] = oneTimeCharges();
      expect(oneTimeCharges()).toHaveLength(1);
      expect(charge).toMatchObject({ status: 'completed', subscription_id: subscription.id, custom_data: { tollgate_account: 'acme' } });
      expect(charge!.items[0]!.price!.unit_price).toEqual({ amount: '1000', currency_code: 'USD' });
      expect(charge!.items[0]!.price!.custom_data).toMatchObject({ tollgate_account: 'acme', tollgate_pack: 'extra-10' });
      expect(await recharges()).toEqual([{ status: 'succeeded', payment_ref: charge!.id }]);
      expect((await balance()).availableMicros).toBe(low + 10_000_000);

      // Paddle's webhooks for it, and transaction.completed again, concurrently: credited once.
      const delivered = await paddle.flush();
      const completed = delivered.filter((d) => d.event.event_type === 'transaction.completed');
      expect(completed).toHaveLength(1);
      const again = await Promise.all([paddle.deliver(completed[0]!.event.event_id), paddle.deliver(completed[0]!.event.event_id)]);
      expect([...delivered, ...again].map((d) => d.status)).toEqual([...delivered, ...again].map(() => 200));
      expect(await db.sql.query(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'acme' AND source = 'recharge'`)).toEqual([
        { amount: 10_000_000, reference: `payment:paddle:${charge!.id}` },
      ]);
      expect(await db.sql.query(`SELECT type, status FROM webhook_events WHERE object_ref = $1`, [charge!.id])).toEqual([{ type: 'payment.succeeded', status: 'applied' }]);
      expect((await balance()).availableMicros).toBe(low + 10_000_000);

      // The card declines the next one: auto-recharge turns off, and the gate says so.
      paddle.declines.add(subscription.customer_id);
      expect((await call('POST', '/v1/accounts/acme/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 35_000_000, outputTokens: 0 } }, 'big-2')).status).toBe(200);
      await until('the decline', (rows) => rows.at(-1)?.status === 'declined');
      expect((await balance()).autoRecharge).toMatchObject({ state: 'off', off: { code: 'card_declined', message: 'the card on file was declined for the recharge of $10.00 (payment declined).' } });
      expect(oneTimeCharges()).toHaveLength(1);
      const refused = await call('POST', '/v1/accounts/acme/authorize', { model: 'gpt-4o-mini', inputTokens: 40_000_000, maxOutputTokens: 0 });
      expect(refused.status).toBe(402);
      expect(refused.body.error).toMatchObject({ code: 'insufficient_balance', remedy: { kind: 'update_payment_method' } });
      expect(refused.body.error.message).toMatch(/Auto-recharge is off: the card on file was declined/);
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
    } finally {
      server.kill();
      await server.exited;
      await paddle.close();
      await db.drop();
    }
  }, 120_000);
});
