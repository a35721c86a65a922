/**
 * Auto-recharge through the server with Paddle Billing: two workers on PostgreSQL, the real
 * Paddle SDK talking to the local fake of Paddle's API. A recharge is a one-time charge on the
 * account's subscription (createOneTimeCharge), credited once by its answer and by
 * transaction.completed between them; sixteen concurrent settles on one hot team account cross
 * its threshold together and make exactly one charge and one credit; a declined card turns
 * auto-recharge off, and the gate says so. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { ServerProcess } from './support/server-process.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`auto-recharge through the server with Paddle${skipped}`, () => {
  let db: { sql: Sql; url?: string; drop(): Promise<void> };
  let paddle: PaddleFake;
  let server: ServerProcess;

  const call = (method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: Json }> => server.call(method, path, body, key);
  const balance = async (id: string) => (await call('GET', `/v1/accounts/${id}/balance`)).body;
  const recharges = (id: string) => db.sql.query<{ status: string; payment_ref: string | null }>(`SELECT status, payment_ref FROM recharges WHERE account_id = $1 ORDER BY id`, [id]);
  const until = async (what: string, id: string, done: (rows: { status: string }[]) => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!done(await recharges(id))) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 20 s; ${JSON.stringify(await recharges(id))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const oneTimeCharges = (subscriptionId: string) => [...paddle.transactions.values()].filter((t) => t.origin === 'subscription_charge' && t.subscription_id === subscriptionId);

  /** A team on Plus through Paddle Checkout: its subscription is the card Paddle charges. */
  async function subscribedTeam(id: string) {
    expect((await call('PUT', `/v1/accounts/${id}`, { kind: 'team', name: id })).body.processor).toBe('paddle');
    const subscribing = await call('POST', `/v1/accounts/${id}/subscription`, { plan: 'plus' }, `${id}-sub`);
    await paddle.completeTransaction(paddle.transactionAt(subscribing.body.checkoutUrl).id);
    expect(await balance(id)).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
    return [...paddle.subscriptions.values()].find((s) => s.custom_data?.tollgate_account === id)!;
  }

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    paddle = await PaddleFake.start();
    server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_PROCESSOR: 'paddle',
      PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url,
    });
    paddle.webhookUrl = `http://127.0.0.1:${server.port}/webhooks/paddle`;
    await server.ready(2);
    await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
    await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 10_00 }) } });
  }, 60_000);

  afterAll(async () => {
    server?.kill();
    await server?.exited;
    await paddle?.close();
    await db?.drop();
  });

  it('recharges through a one-time charge on the subscription, credited once whatever is delivered; a decline turns it off', async () => {
    const subscription = await subscribedTeam('acme');
    expect((await call('PUT', '/v1/accounts/acme/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: 5_000_000 })).body).toMatchObject({ state: 'on' });
    expect((await call('POST', '/v1/accounts/acme/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 55_000_000, outputTokens: 0 } }, 'big-1')).status).toBe(200);
    const low = (await balance('acme')).availableMicros as number;
    expect(low).toBeLessThan(5_000_000);

    await until('the recharge', 'acme', (rows) => rows.some((r) => r.status === 'succeeded'));
    const [charge] = oneTimeCharges(subscription.id);
    expect(oneTimeCharges(subscription.id)).toHaveLength(1);
    expect(charge).toMatchObject({ status: 'completed', subscription_id: subscription.id, custom_data: { tollgate_account: 'acme' } });
    expect(charge!.items[0]!.price!.unit_price).toEqual({ amount: '1000', currency_code: 'USD' });
    expect(charge!.items[0]!.price!.custom_data).toMatchObject({ tollgate_account: 'acme', tollgate_pack: 'extra-10' });
    expect(await recharges('acme')).toEqual([{ status: 'succeeded', payment_ref: charge!.id }]);
    expect((await balance('acme')).availableMicros).toBe(low + 10_000_000);

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
    expect((await balance('acme')).availableMicros).toBe(low + 10_000_000);

    // The card declines the next one: auto-recharge turns off, and the gate says so.
    paddle.declines.add(subscription.customer_id);
    expect((await call('POST', '/v1/accounts/acme/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 35_000_000, outputTokens: 0 } }, 'big-2')).status).toBe(200);
    await until('the decline', 'acme', (rows) => rows.at(-1)?.status === 'declined');
    expect((await balance('acme')).autoRecharge).toMatchObject({ state: 'off', off: { code: 'card_declined', message: 'the card on file was declined for the recharge of $10.00 (payment declined).' } });
    expect(oneTimeCharges(subscription.id)).toHaveLength(1);
    const refused = await call('POST', '/v1/accounts/acme/authorize', { model: 'gpt-4o-mini', inputTokens: 40_000_000, maxOutputTokens: 0 });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({ code: 'insufficient_balance', remedy: { kind: 'update_payment_method' } });
    expect(refused.body.error.message).toMatch(/Auto-recharge is off: the card on file was declined/);
    expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
  }, 120_000);

  it('auto-recharge under 16 concurrent settles on one hot team account makes exactly one charge and one credit', async () => {
    const subscription = await subscribedTeam('hot');
    // Four members, one of them capped well above what the test spends: the team's pool pays for all.
    const members = ['u_1', 'u_2', 'u_3', 'u_4'];
    expect((await call('PUT', '/v1/accounts/hot/members/u_1/limits', { limits: [{ window: 'month', unit: 'usd', amount: 50_000_000 }] })).status).toBe(200);
    const pair = async (key: string, userId: string) => {
      const auth = await call('POST', '/v1/accounts/hot/authorize', { model: 'gpt-4o-mini', inputTokens: 100_000, maxOutputTokens: 1_000, userId });
      expect(auth.status, JSON.stringify(auth.body)).toBe(201);
      const settled = await call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 100_000, outputTokens: 1_000 } }, key);
      expect(settled.status, JSON.stringify(settled.body)).toBe(200);
      return settled.body as { valueMicros: number };
    };
    const { valueMicros: each } = await pair('hot-first', 'u_1');
    const start = (await balance('hot')).availableMicros as number;
    // The threshold lies about four settles below: the sixteen cross it together.
    const threshold = start - 4 * each + Math.floor(each / 2);
    const set = await call('PUT', '/v1/accounts/hot/auto-recharge', { enabled: true, pack: 'extra-10', thresholdMicros: threshold, monthlyMaxCount: 5 });
    expect(set).toMatchObject({ status: 200, body: { enabled: true, pack: 'extra-10', thresholdMicros: threshold, state: 'on', off: null } });
    await paddle.flush(); // the subscription's webhooks, delivered before the recharge's

    const charges = await Promise.all(Array.from({ length: 16 }, (_, i) => pair(`hot-${i}`, members[i % members.length]!)));
    const spent = charges.reduce((sum, c) => sum + c.valueMicros, 0);
    expect(spent).toBe(16 * each);
    // The workers run it: one one-time charge, one recharge, credited once.
    await until('the recharge', 'hot', (rows) => rows.some((r) => r.status === 'succeeded'));
    // Paddle's webhooks for it, delivered (the credit came from the charge's answer already), and transaction.completed again, concurrently.
    const delivered = await paddle.flush();
    const completed = delivered.filter((d) => d.event.event_type === 'transaction.completed');
    expect(completed).toHaveLength(1);
    const again = await Promise.all([paddle.deliver(completed[0]!.event.event_id), paddle.deliver(completed[0]!.event.event_id), paddle.deliver(completed[0]!.event.event_id)]);
    expect([...delivered, ...again].map((d) => d.status)).toEqual([...delivered, ...again].map(() => 200));
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the workers' next runs find nothing to do

    expect(oneTimeCharges(subscription.id)).toHaveLength(1);
    const [charge] = oneTimeCharges(subscription.id);
    expect(charge).toMatchObject({ status: 'completed', customer_id: subscription.customer_id, custom_data: { tollgate_account: 'hot' } });
    expect(charge!.items).toMatchObject([{ quantity: 1, price: { unit_price: { amount: '1000', currency_code: 'USD' }, custom_data: { tollgate_account: 'hot', tollgate_pack: 'extra-10' } } }]);
    expect(paddle.requests.filter((r) => r.method === 'POST' && r.path === `/subscriptions/${subscription.id}/charge`)).toHaveLength(1);
    expect(await recharges('hot')).toEqual([{ status: 'succeeded', payment_ref: charge!.id }]);
    expect(await db.sql.query(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'hot' AND source = 'recharge'`)).toEqual([
      { amount: 10_000_000, reference: `payment:paddle:${charge!.id}` },
    ]);
    expect(await db.sql.query(`SELECT type, status FROM webhook_events WHERE object_ref = $1`, [charge!.id])).toEqual([{ type: 'payment.succeeded', status: 'applied' }]);
    const after = await balance('hot');
    expect(after.availableMicros).toBe(start - spent + 10_000_000);
    expect(after.autoRecharge).toMatchObject({ state: 'on', recharging: false });
    expect(after.members).toMatchObject([{ userId: 'u_1', limits: [{ window: 'month', unit: 'usd', amount: 50_000_000, used: each + 4 * each }] }]);
    expect((await call('GET', '/v1/accounts/hot/reconciliation')).body.ok).toBe(true);
    const payments = (await call('GET', '/v1/accounts/hot/payments')).body.data as { kind: string; amountCents: number }[];
    expect(payments.filter((p) => p.kind === 'pack').map((p) => p.amountCents)).toEqual([10_00]);
  }, 120_000);
});
