/**
 * Paddle end to end: the server with two workers on PostgreSQL, the real Paddle SDK talking to a
 * local fake of Paddle's API (PADDLE_API_BASE), and webhooks signed as Paddle signs them. A
 * checkout is a transaction's page to pay on, and nothing is granted until Paddle says the money
 * came in; every webhook delivered again, concurrently, changes nothing; a forged or stale one
 * stores nothing; a cancel at the period's end moves the account to the default plan when Paddle
 * says the subscription ended. Skipped, with a note, without TEST_DATABASE_URL, or while the
 * server does not take Paddle's configuration.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { SECRET_KEY, ServerProcess } from './support/server-process.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`Paddle through the server${skipped}`, () => {
  it('subscribes and buys a pack through transactions, credits each payment once whatever is delivered, and ends with the subscription', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const paddle = await PaddleFake.start();
    const server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'paddle',
      PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url,
    });
    const base = `http://127.0.0.1:${server.port}`;
    paddle.webhookUrl = `${base}/webhooks/paddle`;
    const call = async (method: string, path: string, body?: unknown, key?: string) => {
      const headers = { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) };
      const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const balance = async (id: string) => (await call('GET', `/v1/accounts/${id}/balance`)).body as { plan: { slug: string }; availableMicros: number };
    const stored = async () => (await db.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM webhook_events'))[0]!.count;
    try {
      await server.ready(2);
      await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 10_00 }) } });
      expect((await call('PUT', '/v1/accounts/acme', { kind: 'team', name: 'Acme' })).body.processor).toBe('paddle');

      // Two first checkouts at once make one Paddle customer for the account.
      const [first, second] = await Promise.all(['a', 'b'].map((k) => call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, `sub-${k}`)));
      expect([first!.status, second!.status]).toEqual([202, 202]);
      expect(first!.body).toEqual({ status: 'pending', checkoutUrl: expect.stringMatching(new RegExp(`^${paddle.url}/pay\\?_ptxn=txn_`)), replayed: false });
      expect(paddle.customers.size).toBe(1);
      expect([...paddle.customers.values()][0]!.custom_data).toEqual({ tollgate_account: 'acme' });
      expect((await balance('acme')).plan.slug).toBe('free');

      // Paid: Paddle's webhooks put the account on the plan.
      const subscribed = await paddle.completeTransaction(paddle.transactionAt(first!.body.checkoutUrl).id);
      expect(subscribed.map((d) => d.status)).toEqual(subscribed.map(() => 200));
      expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });

      // A pack: pending, then credited once, whatever is delivered again and however.
      const bought = await call('POST', '/v1/accounts/acme/purchases', { pack: 'extra-10' }, 'buy-1');
      expect(bought.status).toBe(202);
      expect((await balance('acme')).availableMicros).toBe(20_000_000);
      const paid = await paddle.completeTransaction(paddle.transactionAt(bought.body.checkoutUrl).id);
      expect((await balance('acme')).availableMicros).toBe(30_000_000);
      const again = await Promise.all([...subscribed, ...paid].flatMap((d) => [paddle.deliver(d.event.event_id), paddle.deliver(d.event.event_id)]));
      expect(again.map((d) => d.status)).toEqual(again.map(() => 200));
      expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 30_000_000 });

      // Forged or stale: refused, nothing stored.
      const before = await stored();
      const event = paid.at(-1)!.event.event_id;
      expect((await paddle.deliver(event, { secrets: ['pdl_ntfset_not_ours'] })).status).toBe(400);
      expect((await paddle.deliver(event, { timestamp: Date.now() - 3_600_000 })).status).toBe(400);
      expect(await stored()).toBe(before);

      // A renewal keeps the account on its plan.
      const subscriptionId = [...paddle.subscriptions.keys()][0]!;
      const renewed = await paddle.renew(subscriptionId);
      expect(renewed.map((d) => d.status)).toEqual(renewed.map(() => 200));
      expect((await balance('acme')).plan.slug).toBe('plus');

      // Canceled at the period's end through Tollgate: Paddle schedules it, and when the period
      // ends says the subscription ended; the account is back on the default plan, its pack kept.
      const canceled = await call('POST', '/v1/accounts/acme/subscription/cancel', { immediately: false }, 'cancel-1');
      expect(canceled.status).toBe(200);
      expect(paddle.subscriptions.get(subscriptionId)!.scheduled_change).toMatchObject({ action: 'cancel' });
      await paddle.flush();
      expect((await balance('acme')).plan.slug).toBe('plus');
      const ended = await paddle.renew(subscriptionId);
      expect(ended.map((d) => [d.event.event_type, d.status])).toEqual([['subscription.updated', 200], ['subscription.canceled', 200]]);
      const after = await balance('acme');
      expect(after.plan.slug).toBe('free');
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
      const outcomes = await db.sql.query<{ type: string; status: string }>(`SELECT type, status FROM webhook_events WHERE type NOT LIKE 'ignored:%' ORDER BY id`);
      expect(outcomes).toEqual([
        { type: 'subscription.paid', status: 'applied' },
        { type: 'payment.succeeded', status: 'applied' },
        { type: 'subscription.paid', status: 'applied' },
        { type: 'subscription.canceled', status: 'applied' },
      ]);
      expect(await db.sql.query(`SELECT 1 FROM webhook_events WHERE status = 'failed'`)).toEqual([]);
    } finally {
      server.kill();
      await server.exited;
      await paddle.close();
      await db.drop();
    }
  }, 120_000);
});
