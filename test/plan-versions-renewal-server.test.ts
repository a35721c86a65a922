/**
 * A move at renewal whose write was lost, through the server: two workers on PostgreSQL, the real
 * Stripe SDK against the local fake. Pro's subscriber at $20; Pro made $100 and synced; then the
 * subscription's price at Stripe changed to $100 with nothing written here, as a process that
 * died after asking Stripe leaves it. A month on, the renewal Stripe charges $100 for, delivered
 * to both workers at once and again, opens the period on the $100 version, once. Skipped, with a
 * note, without TEST_DATABASE_URL.
 */
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { movableClock } from './support/database-clock.ts';
import { ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

const MONTH = 31 * 86_400_000; // past the end of any month-long period begun now
const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`a lost move at renewal through the server${skipped}`, () => {
  it('the renewal paid at the new price opens on the new version in two workers told at once, once', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const clock = await movableClock(db as { sql: typeof db.sql; url: string });
    const fake = await StripeFake.start();
    let server: ServerProcess | undefined;
    let webhookUrl = '';
    let keys = 0;
    /** A call to its API, each with an Idempotency-Key of its own. */
    const call = (method: string, path: string, body?: unknown) => server!.call(method, path, body, `key-${++keys}`);
    const balance = async () => (await call('GET', '/v1/accounts/acme/balance')).body as { plan: { slug: string; priceCents: number }; availableMicros: number };
    const allowances = async () =>
      (await db.sql.query<{ amount_micros: string }>(`SELECT amount_micros FROM buckets WHERE account_id = 'acme' AND source = 'allowance' AND plan_id = (SELECT id FROM plans WHERE slug = 'plus') ORDER BY starts_at`)).map((b) => Number(b.amount_micros));
    try {
      server = await ServerProcess.start({
        DATABASE_URL: clock.url, WEB_CONCURRENCY: '2', TOLLGATE_CLOCK_RESYNC_SECONDS: '1', TOLLGATE_PROCESSOR: 'stripe',
        STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: fake.webhookSecret, STRIPE_API_BASE: fake.url,
      });
      await server.ready(2);
      fake.webhookUrl = webhookUrl = `http://127.0.0.1:${server.port}/webhooks/stripe`;
      await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { stripe: fake.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      const pending = await call('POST', '/v1/accounts/acme/subscription', { plan: 'plus', successUrl: 'https://app.example/ok' });
      expect(pending.status, JSON.stringify(pending.body)).toBe(202);
      await fake.completeCheckout(pending.body.checkoutUrl.split('/c/pay/')[1]!);
      expect(await balance()).toMatchObject({ plan: { slug: 'plus', priceCents: 20_00 }, availableMicros: 20_000_000 });

      // Plus made $100 (version 2), its price at Stripe made by the sync.
      expect((await call('PATCH', '/v1/admin/plans/plus', { priceCents: 100_00 })).status).toBe(200);
      expect((await call('POST', '/v1/admin/processors/stripe/sync')).status).toBe(200);
      const hundred = (await call('GET', '/v1/admin/plans/plus')).body.processorPrices.stripe as string;
      // The move's call to Stripe, with nothing written after it: the subscription is at $100 there, the account on version 1 here.
      const stripe = new Stripe(fake.secretKey, { host: '127.0.0.1', port: new URL(fake.url).port, protocol: 'http' });
      const subscriptionId = [...fake.subscriptions.keys()][0]!;
      const item = (await stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!;
      await stripe.subscriptions.update(subscriptionId, { items: [{ id: item.id, price: hundred }], proration_behavior: 'none' });
      expect((await call('GET', '/v1/admin/plans/plus/versions')).body.behind).toMatchObject([{ accountId: 'acme', version: 1, waiting: null }]);

      // A month on (both workers of the running server measured the database's clock): Stripe renews at $100; its events, held back, go to both workers at once, four times each.
      fake.advanceClock(MONTH);
      await clock.advance(MONTH);
      await clock.measuredBy(server!.workers());
      fake.webhookUrl = undefined;
      const from = fake.events.length;
      await fake.renew(subscriptionId);
      fake.webhookUrl = webhookUrl;
      const renewal = fake.events.slice(from).map((e) => e.id as string);
      const told = await Promise.all(renewal.flatMap((id) => [1, 2, 3, 4].map(() => fake.deliver(id))));
      expect(told.map((d) => d.status)).toEqual(told.map(() => 200));

      expect(await balance()).toMatchObject({ plan: { slug: 'plus', priceCents: 100_00 }, availableMicros: 100_000_000 });
      expect(await allowances()).toEqual([20_000_000, 100_000_000]);
      expect((await db.sql.query<{ amount_cents: number }>(`SELECT amount_cents FROM payments WHERE account_id = 'acme' ORDER BY id`)).map((p) => Number(p.amount_cents))).toEqual([20_00, 100_00]);
      expect((await call('GET', '/v1/admin/plans/plus/versions')).body.behind).toEqual([]);
      expect(await db.sql.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'failed'`)).toEqual([{ n: 0 }]);
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
    } finally {
      server?.kill();
      await server?.exited;
      await fake.close();
      await db.drop();
    }
  }, 180_000);
});
