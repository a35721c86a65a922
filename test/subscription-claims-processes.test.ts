/**
 * Plan changes and cancels of one subscription asked at once from two processes on one PostgreSQL
 * database, at Stripe (its real SDK against the local fake of its API). Each asks Stripe outside
 * any transaction, under the account's claim on its subscription: while one is at Stripe, the
 * other process's is refused before it asks anything, so the plan the engine applied is always
 * the one Stripe bills. Skipped without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing } from '../src/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess, type Outcome } from './support/processes.ts';
import { StripeFake } from './support/stripe-fake.ts';

describe.skipIf(!POSTGRES_URL)(`a subscription's changes from two processes at Stripe${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let stripe: StripeFake;
  let here: Billing;
  let procs: BillingProcess[];
  let ref: string;

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    stripe = await StripeFake.start();
    const options = { secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url };
    here = await createBilling({ database: db.sql, processors: [fakeProcessor(), stripeProcessor({ ...options, successUrl: 'https://app.example/ok' })] });
    await here.admin.applyPreset('subscription-plus-packs');
    await here.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 200_00, overage: 'credits' });
    await here.admin.createPlan({ slug: 'pro', name: 'Pro', priceCents: 100_00, overage: 'credits' });
    await here.admin.syncCatalog('stripe');
    await here.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
    const from = stripe.events.length;
    await stripe.completeCheckout(((await here.subscribe('acme', 'plus')) as { checkoutUrl: string }).checkoutUrl.split('/').pop()!);
    for (const event of stripe.events.slice(from)) {
      const body = JSON.stringify(event);
      await here.receiveWebhook('stripe', body, new Headers({ 'stripe-signature': stripe.sign(body) }));
    }
    ref = (await db.sql.query<{ processor_ref: string }>(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme' AND status = 'active'`))[0]!.processor_ref;
    procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!, { stripe: options })));
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await here?.close();
    await stripe?.close();
    await db?.drop();
  });

  /** The plan of the price Stripe's subscription is on. */
  async function billedAtStripe(): Promise<string> {
    const price = (stripe.subscriptions.get(ref) as { items: { data: { price: { id: string } }[] } }).items.data[0]!.price.id;
    const [plan] = await db.sql.query<{ slug: string }>(`SELECT slug FROM plans WHERE processor_prices ->> 'stripe' = $1`, [price]);
    return plan!.slug;
  }
  const appliedHere = async () => (await here.balance('acme')).plan.slug;
  const codeOf = (o: Outcome) => (o.ok ? 'ok' : o.error.code);

  it("refuses one process's plan change while the other's is at Stripe, before asking Stripe anything; applies the first", async () => {
    const held = stripe.holdNext(`POST /v1/subscriptions/${ref}`);
    const toMax = procs[0]!.call('subscribe', 'acme', 'max', { idempotencyKey: 'held-max' });
    await held.reached;
    const asked = stripe.requests.length;
    expect(codeOf(await procs[1]!.call('subscribe', 'acme', 'pro', { idempotencyKey: 'held-pro' }))).toBe('change_in_progress');
    expect(codeOf(await procs[1]!.call('cancel', 'acme', { immediately: true }, { idempotencyKey: 'held-cancel' }))).toBe('change_in_progress');
    expect(stripe.requests.length).toBe(asked);
    held.release();
    expect(await toMax).toMatchObject({ ok: true, value: { plan: { slug: 'max' } } });
    expect(await appliedHere()).toBe('max');
    expect(await billedAtStripe()).toBe('max');
  });

  it('plan changes asked at once from both processes, round after round: the plan applied is the one Stripe bills', async () => {
    const slugs = ['plus', 'pro', 'max'];
    for (let round = 0; round < 6; round++) {
      const asks = (p: number) => slugs.map((slug) => ['acme', slug, { idempotencyKey: `round-${round}-${p}-${slug}` }]);
      const outcomes = (await Promise.all(procs.map((proc, p) => proc.burst('subscribe', asks(p))))).flat();
      // Each is made, refused while another is at Stripe, or refused for the plan it is on already.
      for (const outcome of outcomes) expect(['ok', 'change_in_progress', 'subscription_active'], JSON.stringify(outcome)).toContain(codeOf(outcome));
      expect(outcomes.filter((o) => o.ok).length).toBeGreaterThanOrEqual(1);
      expect(await appliedHere()).toBe(await billedAtStripe());
    }
    expect(await db.sql.query('SELECT account_id FROM subscription_claims')).toEqual([]);
  });
});
