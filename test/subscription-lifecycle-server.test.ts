/**
 * A subscription's life through the server, on Stripe and on Paddle: two workers on PostgreSQL,
 * the real SDKs talking to the local fakes, webhooks signed as the real services sign them. The
 * months pass: the fake's clock and the database's (which the server bills at) move on together,
 * and the running server's workers, measuring the database's clock every second, follow. Subscribe → renew twice (each renewal's allowance
 * opens only when the processor says it is paid) → upgrade → cancel at the period's end → back
 * on the default plan; and a renewal that fails → past due (refused with payment_past_due and
 * the billing portal; on the default plan's terms for a grace of days) → paid → active. Every
 * webhook of it, delivered again twice, concurrently and shuffled, changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { movableClock } from './support/database-clock.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

const DAY = 86_400_000;
const MONTH = 31 * DAY; // past the end of any month-long period begun now

/** What the scenario asks of a processor's fake: the customer's side, and the processor's clock. */
interface ProcessorWorld {
  name: 'stripe' | 'paddle';
  env: NodeJS.ProcessEnv;
  set webhookUrl(url: string);
  monthlyPrice(cents: number): string;
  /** The customer pays on the checkout page the server handed out. */
  checkout(checkoutUrl: string): Promise<number[]>;
  subscriptionOf(accountId: string): { id: string; customer: string };
  /** The period ends: the renewal is charged (and declined, if the card declines). */
  renew(subscriptionId: string): Promise<number[]>;
  declines(customerId: string, declines: boolean): void;
  /** The customer pays what is past due, in the portal. */
  payPastDue(subscriptionId: string): Promise<number[]>;
  advanceClock(ms: number): void;
  eventIds(): string[];
  deliver(eventId: string): Promise<number>;
  close(): Promise<void>;
}

async function stripeWorld(): Promise<ProcessorWorld> {
  const stripe = await StripeFake.start();
  const subscriptionOf = (accountId: string) => {
    const subscription = [...stripe.subscriptions.values()].find((s) => s.metadata.tollgate_account === accountId)!;
    return { id: subscription.id as string, customer: subscription.customer as string };
  };
  const statuses = (deliveries: { status: number }[]) => deliveries.map((d) => d.status);
  return {
    name: 'stripe',
    env: { TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url },
    set webhookUrl(url: string) {
      stripe.webhookUrl = url;
    },
    monthlyPrice: (cents) => stripe.addPrice({ unitAmount: cents, interval: 'month' }),
    checkout: async (url) => statuses(await stripe.completeCheckout(url.split('/c/pay/')[1]!)),
    subscriptionOf,
    renew: async (id) => statuses(await stripe.renew(id)),
    declines: (customer, declines) => void (declines ? stripe.declines.set(customer, 'card_declined') : stripe.declines.delete(customer)),
    payPastDue: async (id) => {
      const open = [...stripe.invoices.values()].find((invoice) => invoice.status === 'open' && invoice.parent.subscription_details.subscription === id)!;
      return statuses(await stripe.payOpenInvoice(open.id));
    },
    advanceClock: (ms) => stripe.advanceClock(ms),
    eventIds: () => stripe.events.map((event) => event.id as string),
    deliver: async (eventId) => (await stripe.deliver(eventId)).status,
    close: () => stripe.close(),
  };
}

async function paddleWorld(): Promise<ProcessorWorld> {
  const paddle = await PaddleFake.start();
  const subscriptionOf = (accountId: string) => {
    const subscription = [...paddle.subscriptions.values()].find((s) => (s.custom_data as { tollgate_account?: string } | null)?.tollgate_account === accountId)!;
    return { id: subscription.id, customer: subscription.customer_id };
  };
  const statuses = (deliveries: { status: number }[]) => deliveries.map((d) => d.status);
  return {
    name: 'paddle',
    env: { TOLLGATE_PROCESSOR: 'paddle', PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url },
    set webhookUrl(url: string) {
      paddle.webhookUrl = url;
    },
    monthlyPrice: (cents) => paddle.addPrice({ unitAmount: cents, interval: 'month' }),
    checkout: async (url) => statuses(await paddle.completeTransaction(paddle.transactionAt(url).id)),
    subscriptionOf,
    renew: async (id) => statuses(await paddle.renew(id)),
    declines: (customer, declines) => void (declines ? paddle.declines.add(customer) : paddle.declines.delete(customer)),
    payPastDue: async (id) => statuses(await paddle.payPastDue(id)),
    advanceClock: (ms) => paddle.advanceClock(ms),
    eventIds: () => paddle.events.map((event) => event.event_id),
    deliver: async (eventId) => (await paddle.deliver(eventId)).status,
    close: () => paddle.close(),
  };
}

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`a subscription's life through the server${skipped}`, () => {
  // The two stories run at once: each has a database, a server and a fake of its own, and most of
  // their time is waiting for the workers to measure a moved clock.
  for (const makeWorld of [stripeWorld, paddleWorld]) {
    it.concurrent(`on ${makeWorld.name.replace('World', '')}: renewals open when paid, an upgrade, a cancel at the period's end; a failed renewal past due, then paid`, async () => {
      const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
      const clock = await movableClock(db as { sql: typeof db.sql; url: string });
      const world = await makeWorld();
      let server: ServerProcess | undefined;
      /** A while later: the processor's clock and the database's move on, and both workers have measured the database's. */
      const later = async (ms: number) => {
        world.advanceClock(ms);
        await clock.advance(ms);
        await clock.measuredBy(server!.workers());
      };
        let keys = 0;
      /** A call to its API, each with an Idempotency-Key of its own. */
      const call = (method: string, path: string, body?: unknown) => server!.call(method, path, body, `key-${++keys}`);
      const balance = async (id: string) => (await call('GET', `/v1/accounts/${id}/balance`)).body as { plan: { slug: string }; availableMicros: number; period: { end: string } };
      const authorize = (id: string) => call('POST', `/v1/accounts/${id}/authorize`, { model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 500 });
      const allowed = async (id: string) => {
        const answer = await authorize(id);
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        await call('POST', `/v1/holds/${answer.body.hold.id}/release`);
      };
      const ok = (statuses: number[]) => expect(statuses).toEqual(statuses.map(() => 200));
      try {
        server = await ServerProcess.start({ DATABASE_URL: clock.url, WEB_CONCURRENCY: '2', TOLLGATE_CLOCK_RESYNC_SECONDS: '1', ...world.env });
        await server.ready(2);
        world.webhookUrl = `http://127.0.0.1:${server.port}/webhooks/${world.name}`;
        await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { [world.name]: world.monthlyPrice(20_00) } });
        expect((await call('POST', '/v1/admin/plans', { slug: 'pro', name: 'Pro', priceCents: 50_00, overage: 'credits', processorPrices: { [world.name]: world.monthlyPrice(50_00) } })).status).toBe(201);
        for (const id of ['acme', 'beta']) {
          await call('PUT', `/v1/accounts/${id}`, { kind: 'team' });
          const pending = await call('POST', `/v1/accounts/${id}/subscription`, { plan: 'plus', successUrl: 'https://app.example/ok' });
          expect(pending.status, JSON.stringify(pending.body)).toBe(202);
          ok(await world.checkout(pending.body.checkoutUrl));
          expect(await balance(id)).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
        }
        const acme = world.subscriptionOf('acme');
        const beta = world.subscriptionOf('beta');

        // A month on: the period ran out and its renewal is not paid yet, so the default plan's terms apply.
        await later(MONTH);
        expect(await balance('acme')).toMatchObject({ plan: { slug: 'free' }, availableMicros: 500_000 });
        ok(await world.renew(acme.id));
        expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });

        // beta's renewal fails: past due, refused at once with the billing portal as the remedy.
        world.declines(beta.customer, true);
        ok(await world.renew(beta.id));
        const refused = await authorize('beta');
        expect(refused).toMatchObject({ status: 402, body: { error: { code: 'payment_past_due', remedy: { kind: 'billing_portal' } } } });
        const portal = await call('POST', '/v1/accounts/beta/portal', { returnUrl: 'https://app.example/billing' });
        expect(portal).toMatchObject({ status: 200, body: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//) } });
        expect((await fetch(portal.body.url)).status).toBe(200);
        // With two days of grace, the default plan's terms until they are over.
        expect((await call('PATCH', '/v1/admin/settings', { pastDueGraceDays: 2 })).body.pastDueGraceDays).toBe(2);
        await allowed('beta');
        expect((await balance('beta')).plan.slug).toBe('free');
        await later(3 * DAY);
        expect(await authorize('beta')).toMatchObject({ status: 402, body: { error: { code: 'payment_past_due' } } });
        // Paid in the portal: the period opens.
        world.declines(beta.customer, false);
        ok(await world.payPastDue(beta.id));
        expect(await balance('beta')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
        await allowed('beta');

        // The second renewal, then an upgrade through the processor: Pro at once, its allowance in proportion to the month left.
        await later(MONTH - 3 * DAY);
        expect((await balance('acme')).plan.slug).toBe('free');
        ok(await world.renew(acme.id));
        expect(await balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
        await later(10 * DAY);
        const upgraded = await call('POST', '/v1/accounts/acme/subscription', { plan: 'pro' });
        expect(upgraded).toMatchObject({ status: 200, body: { plan: { slug: 'pro' }, endsAt: null } });
        const pro = await balance('acme');
        expect(pro.plan.slug).toBe('pro');
        expect(pro.availableMicros).toBeGreaterThan(50_000_000 * (17 / 31));
        expect(pro.availableMicros).toBeLessThan(50_000_000 * (22 / 31));

        // Canceled at the period's end: Pro until then, and the processor's end of the subscription changes nothing more.
        const canceled = await call('POST', '/v1/accounts/acme/subscription/cancel', {});
        expect(canceled).toMatchObject({ status: 200, body: { plan: { slug: 'pro' }, endsAt: pro.period.end } });
        expect((await balance('acme')).plan.slug).toBe('pro');
        await later(MONTH - 10 * DAY);
        expect((await balance('acme')).plan.slug).toBe('free');
        ok(await world.renew(acme.id));
        expect((await balance('acme')).plan.slug).toBe('free');

        // Every webhook again, twice, concurrently and shuffled: nothing changes.
        const end = { acme: await balance('acme'), beta: await balance('beta') };
        const payments = await db.sql.query('SELECT account_id, processor_ref, amount_cents FROM payments ORDER BY id');
        const ids = world.eventIds();
        const twice = [...ids, ...ids].map((id, i) => ({ id, order: (i * 7919) % (2 * ids.length) })).sort((a, b) => a.order - b.order);
        const again = await Promise.all(twice.map(({ id }) => world.deliver(id)));
        ok(again);
        expect({ acme: await balance('acme'), beta: await balance('beta') }).toEqual(end);
        expect(await db.sql.query('SELECT account_id, processor_ref, amount_cents FROM payments ORDER BY id')).toEqual(payments);
        expect(await db.sql.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'failed'`)).toEqual([{ n: 0 }]);
        for (const id of ['acme', 'beta']) expect((await call('GET', `/v1/accounts/${id}/reconciliation`)).body.ok).toBe(true);
      } finally {
        server?.kill();
        await server?.exited;
        await world.close();
        await db.drop();
      }
    }, 180_000);
  }
});
