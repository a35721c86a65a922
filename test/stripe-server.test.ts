/**
 * Stripe end to end: the server with two workers on PostgreSQL, the real Stripe SDK talking to
 * a local fake of Stripe's API (STRIPE_API_BASE), and webhooks signed as Stripe signs them. A
 * checkout is a page to pay on, and nothing is granted until Stripe says the money came in;
 * every webhook delivered again, concurrently, changes nothing; a forged one stores nothing.
 * Skipped, with a note, without TEST_DATABASE_URL.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { SECRET_KEY, ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

describe.skipIf(!POSTGRES_URL)(`Stripe through the server${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('subscribes and buys a pack through Checkout, credits each payment once whatever is delivered, and ends with the subscription', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const stripe = await StripeFake.start();
    const server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'stripe',
      STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url,
    });
    const base = `http://127.0.0.1:${server.port}`;
    stripe.webhookUrl = `${base}/webhooks/stripe`;
    const call = async (method: string, path: string, body?: unknown, key?: string) => {
      const headers = { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) };
      const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const balance = async (id: string) => (await call('GET', `/v1/accounts/${id}/balance`)).body as { plan: { slug: string }; availableMicros: number };
    const lastSession = () => [...stripe.sessions.keys()].at(-1)!;
    try {
      await server.ready(2);
      await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
      expect((await call('PUT', '/v1/accounts/acme', { kind: 'team', name: 'Acme' })).body.processor).toBe('stripe');

      // Two first checkouts at once make one Stripe customer for the account.
      const [first, second] = await Promise.all(['a', 'b'].map((k) => call('POST', '/v1/accounts/acme/subscription', { plan: 'plus', successUrl: 'https://app.example/ok' }, `sub-${k}`)));
      expect([first!.status, second!.status]).toEqual([202, 202]);
      expect(first!.body).toEqual({ status: 'pending', checkoutUrl: expect.stringContaining(stripe.url), replayed: false });
      expect(stripe.customers.size).toBe(1);
      expect((await balance('acme')).plan.slug).toBe('free');

      // Paid: Stripe's webhooks put the account on the plan.
      const subscribed = await stripe.completeCheckout(lastSession());
      expect(subscribed.map((d) => d.status)).toEqual(subscribed.map(() => 200));
      expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });

      // A pack: pending, then credited once, whatever is delivered again and however.
      const bought = await call('POST', '/v1/accounts/acme/purchases', { pack: 'extra-10', successUrl: 'https://app.example/ok' }, 'buy-1');
      expect(bought.status).toBe(202);
      expect((await balance('acme')).availableMicros).toBe(20_000_000);
      const paid = await stripe.completeCheckout(lastSession());
      expect((await balance('acme')).availableMicros).toBe(30_000_000);
      const again = await Promise.all([...subscribed, ...paid].flatMap((d) => [stripe.deliver(d.event.id), stripe.deliver(d.event.id)]));
      expect(again.map((d) => d.status)).toEqual(again.map(() => 200));
      expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 30_000_000 });

      // Forged or stale: refused, nothing stored.
      const before = (await db.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM webhook_events'))[0]!.count;
      const event = paid[0]!.event.id as string;
      expect((await stripe.deliver(event, { secret: 'whsec_not_ours' })).status).toBe(400);
      expect((await stripe.deliver(event, { timestamp: Date.now() - 3_600_000 })).status).toBe(400);
      expect(await db.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM webhook_events')).toEqual([{ count: before }]);

      // The subscription ends at Stripe: the account is back on the default plan, its pack kept.
      const subscriptionId = [...stripe.subscriptions.keys()][0]!;
      await stripe.cancelNow(subscriptionId);
      const after = await balance('acme');
      expect(after.plan.slug).toBe('free');
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
      const outcomes = await db.sql.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM webhook_events GROUP BY status ORDER BY status');
      expect(outcomes.find((o) => o.status === 'failed')).toBeUndefined();
    } finally {
      server.kill();
      await server.exited;
      await stripe.close();
      await db.drop();
    }
  }, 120_000);
});
