/**
 * Auto-recharge through the server, with Stripe: two workers on PostgreSQL, the real Stripe SDK
 * talking to the local fake of Stripe's API. Sixteen concurrent settles on one hot team account
 * cross its threshold together and make exactly one PaymentIntent and one credit, whatever
 * Stripe's webhooks then deliver; a declined card turns auto-recharge off, and the balance and
 * the gate's refusal over HTTP say so. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.skipIf(!POSTGRES_URL)(`auto-recharge through the server with Stripe${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: { sql: Sql; url?: string; drop(): Promise<void> };
  let stripe: StripeFake;
  let server: ServerProcess;

  const call = (method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: Json }> => server.call(method, path, body, key);
  const balance = async (id: string) => (await call('GET', `/v1/accounts/${id}/balance`)).body;
  const lastSession = () => [...stripe.sessions.keys()].at(-1)!;
  const rechargeIntents = () => [...stripe.paymentIntents.values()].filter((pi) => pi.metadata.tollgate_recharge);
  const customerOf = (accountId: string) => [...stripe.customers.values()].find((c) => c.metadata.tollgate_account === accountId)!.id as string;
  async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A team on Plus through Stripe Checkout, with a $10 pack bought there (which saves the card). */
  async function payingTeam(id: string) {
    expect((await call('PUT', `/v1/accounts/${id}`, { kind: 'team', name: id })).body.processor).toBe('stripe');
    expect((await call('POST', `/v1/accounts/${id}/subscription`, { plan: 'plus', successUrl: 'https://app.example/ok' }, `${id}-sub`)).status).toBe(202);
    await stripe.completeCheckout(lastSession());
    expect((await call('POST', `/v1/accounts/${id}/purchases`, { pack: 'extra-10', successUrl: 'https://app.example/ok' }, `${id}-pack`)).status).toBe(202);
    await stripe.completeCheckout(lastSession());
    expect(await balance(id)).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 30_000_000 });
  }

  const pair = async (accountId: string, key: string) => {
    const auth = await call('POST', `/v1/accounts/${accountId}/authorize`, { model: 'gpt-4o-mini', inputTokens: 100_000, maxOutputTokens: 1_000 });
    expect(auth.status, JSON.stringify(auth.body)).toBe(201);
    const settled = await call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 100_000, outputTokens: 1_000 } }, key);
    expect(settled.status, JSON.stringify(settled.body)).toBe(200);
    return settled.body as { valueMicros: number };
  };

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    stripe = await StripeFake.start();
    server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'stripe',
      STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url,
    });
    stripe.webhookUrl = `http://127.0.0.1:${server.port}/webhooks/stripe`;
    await server.ready(2);
    await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
    await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
  }, 60_000);

  afterAll(async () => {
    server?.kill();
    await server?.exited;
    await stripe?.close();
    await db?.drop();
  });

  it('auto-recharge under 16 concurrent settles on one hot team account makes exactly one charge and one credit', async () => {
    await payingTeam('hot');
    const { valueMicros: each } = await pair('hot', 'hot-first');
    const start = (await balance('hot')).availableMicros as number;
    // The threshold lies about four settles below: the sixteen cross it together.
    const threshold = start - 4 * each + Math.floor(each / 2);
    const set = await call('PUT', '/v1/accounts/hot/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: threshold, monthlyMaxCount: 5 });
    expect(set).toMatchObject({ status: 200, body: { enabled: true, pack: 'extra-10', thresholdMicros: threshold, state: 'on', off: null } });

    const charges = await Promise.all(Array.from({ length: 16 }, (_, i) => pair('hot', `hot-${i}`)));
    const spent = charges.reduce((sum, c) => sum + c.valueMicros, 0);
    // The workers run it: one PaymentIntent, one recharge, credited once.
    await until('the recharge', () => db.sql.query<{ status: string }>(`SELECT status FROM recharges WHERE account_id = 'hot'`), (rows) => rows.some((r) => r.status === 'succeeded'));
    // Stripe's webhook for it, delivered (the credit came from the charge's answer already), and again, concurrently.
    const delivered = await stripe.flush();
    const succeeded = delivered.filter((d) => d.event.type === 'payment_intent.succeeded');
    expect(succeeded).toHaveLength(1);
    const again = await Promise.all([stripe.deliver(succeeded[0]!.event.id), stripe.deliver(succeeded[0]!.event.id)]);
    expect([...delivered, ...again].map((d) => d.status)).toEqual([...delivered, ...again].map(() => 200));
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the workers' next runs find nothing to do

    expect(rechargeIntents()).toHaveLength(1);
    const intent = rechargeIntents()[0]!;
    expect(intent).toMatchObject({ amount: 10_00, customer: customerOf('hot'), status: 'succeeded', metadata: { tollgate_account: 'hot', tollgate_pack: 'extra-10' } });
    expect(stripe.requests.filter((r) => r.path === '/v1/payment_intents').every((r) => r.idempotencyKey === `recharge:hot:${intent.metadata.tollgate_recharge}`)).toBe(true);
    expect(await db.sql.query(`SELECT status, amount_cents::int AS amount, payment_ref FROM recharges WHERE account_id = 'hot'`)).toEqual([
      { status: 'succeeded', amount: 10_00, payment_ref: intent.id },
    ]);
    expect(await db.sql.query(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'hot' AND source = 'recharge'`)).toEqual([
      { amount: 10_000_000, reference: `payment:stripe:${intent.id}` },
    ]);
    const after = await balance('hot');
    expect(after.availableMicros).toBe(start - spent + 10_000_000);
    expect(after.autoRecharge).toMatchObject({ state: 'on', recharging: false });
    expect((await call('GET', '/v1/accounts/hot/reconciliation')).body.ok).toBe(true);
    const payments = (await call('GET', '/v1/accounts/hot/payments')).body.data as { kind: string; amountCents: number }[];
    expect(payments.filter((p) => p.kind === 'pack').map((p) => p.amountCents)).toEqual([10_00, 10_00]);
  }, 120_000);

  it('a declined card turns auto-recharge off, and the balance and the gate say so, with the remedy', async () => {
    await payingTeam('card');
    stripe.webhooksBeforeAnswer = true; // Stripe's payment_intent.payment_failed arrives before the answer's 402
    stripe.declines.set(customerOf('card'), 'card_declined');
    expect((await call('PUT', '/v1/accounts/card/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: 5_000_000 })).status).toBe(200);
    // A record that leaves $4 and change: under the threshold.
    const recorded = await call('POST', '/v1/accounts/card/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 85_000_000, outputTokens: 0 } }, 'card-big');
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    expect((await balance('card')).availableMicros).toBeLessThan(5_000_000);

    const off = await until('auto-recharge off', () => balance('card'), (b) => b.autoRecharge.state === 'off');
    expect(off.autoRecharge).toMatchObject({ enabled: true, state: 'off', recharging: false, off: { code: 'card_declined' } });
    expect(off.autoRecharge.off.message).toBe('the card on file was declined for the recharge of $10.00 (Your card was declined).');
    expect(rechargeIntents().filter((pi) => pi.customer === customerOf('card'))).toMatchObject([{ status: 'requires_payment_method' }]);
    expect(await db.sql.query(`SELECT status FROM recharges WHERE account_id = 'card'`)).toEqual([{ status: 'declined' }]);
    const failed = await db.sql.query<{ status: string }>(`SELECT status FROM webhook_events WHERE type = 'recharge.failed'`);
    expect(failed).toEqual([{ status: 'applied' }]);

    const refused = await call('POST', '/v1/accounts/card/authorize', { model: 'gpt-4o-mini', inputTokens: 40_000_000, maxOutputTokens: 0 });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({ type: 'refusal', code: 'insufficient_balance', remedy: { kind: 'update_payment_method' } });
    expect(refused.body.error.message).toMatch(/Auto-recharge is off: the card on file was declined for the recharge of \$10\.00 .*Update the card, then turn auto-recharge on again, or buy a credit pack\./);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(rechargeIntents().filter((pi) => pi.customer === customerOf('card'))).toHaveLength(1); // off: no more attempts

    // A card that works again, and auto-recharge set again: recharged, its webhook (first, this
    // time, before the charge's answer) and its answer crediting it once between them.
    stripe.declines.delete(customerOf('card'));
    expect((await call('PUT', '/v1/accounts/card/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: 5_000_000 })).body).toMatchObject({ state: 'on', off: null });
    const recharged = await until('recharged', () => db.sql.query<{ status: string }>(`SELECT status FROM recharges WHERE account_id = 'card' ORDER BY id`), (rows) => rows.at(-1)?.status === 'succeeded');
    expect(recharged.map((r) => r.status)).toEqual(['declined', 'succeeded']);
    const paid = rechargeIntents().filter((pi) => pi.customer === customerOf('card'));
    expect(paid.map((pi) => pi.status)).toEqual(['requires_payment_method', 'succeeded']);
    expect(await db.sql.query(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'card' AND source = 'recharge'`)).toEqual([
      { amount: 10_000_000, reference: `payment:stripe:${paid[1]!.id}` },
    ]);
    expect(await db.sql.query(`SELECT status FROM webhook_events WHERE object_ref = $1`, [paid[1]!.id])).toEqual([{ status: 'applied' }]);
    expect((await call('GET', '/v1/accounts/card/reconciliation')).body.ok).toBe(true);
  }, 120_000);
});
