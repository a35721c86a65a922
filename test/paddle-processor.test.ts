/**
 * The Paddle processor with the real SDK, pointed (PADDLE_API_BASE) at a local fake of Paddle's
 * HTTP API: what it asks Paddle for, and what Paddle's signed webhooks become in the engine's
 * words. The webhooks arrive at a small endpoint here that hands the raw body and headers to
 * parseWebhook, as the server's webhook route does.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BillingError } from '../src/core/errors.ts';
import { WebhookSignatureError, type Processor } from '../src/engine/processor.ts';
import { placeholderEmail } from '../src/processors/paddle/customer.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { PaddleFake, type Delivery } from './support/paddle-fake.ts';
import { accountOn, customerMaker, packAt, planAt, wireUp, type WebhookEndpoint } from './support/processor-fixtures.ts';

const account = (id: string) => accountOn('paddle', id);
const plan = (slug: string, price: string | undefined) => planAt('paddle', slug, price);
const pack = (slug: string, price: string | undefined) => packAt('paddle', slug, price);

describe('the Paddle processor, with the SDK against a fake of the API', () => {
  let fake: PaddleFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let planPrice: string;
  let packPrice: string;

  /** What the endpoint made of each delivery, with Paddle's event type. */
  const eventsOf = (deliveries: Delivery[]) =>
    deliveries.map((delivery) => {
      expect(delivery.status).toBe(200);
      return { paddleType: delivery.event.event_type, events: endpoint.parsed.get(delivery.event.event_id)! };
    });

  /** An account with its customer, as the engine makes it before a first checkout. */
  const customerFor = customerMaker(() => processor);

  const urlOf = (answer: unknown) => (answer as { checkoutUrl: string }).checkoutUrl;

  /** An account subscribed to a plan at Paddle, its checkout paid. */
  async function subscribed(id: string) {
    const { account: who, customerId } = await customerFor(id);
    const transaction = fake.transactionAt(urlOf(await processor.subscribe({ account: who, customerId, plan: plan('plus', planPrice) })));
    await fake.completeTransaction(transaction.id);
    return { account: who, customerId, subscriptionRef: transaction.subscription_id! };
  }

  beforeAll(async () => {
    fake = await PaddleFake.start();
    processor = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url });
    ({ endpoint, planPrice, packPrice } = await wireUp(fake, () => processor, (body) => body.event_id));
  });

  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });

  beforeEach(async () => {
    await fake.flush();
    fake.requests.length = 0;
    fake.taxRate = 0;
  });

  it("makes one customer per account, named after it and carrying its id, with a placeholder email made from the id", async () => {
    const who = account('team_customer');
    const first = await processor.ensureCustomer!(who, 'customer:team_customer');
    expect(first).toMatch(/^ctm_[a-z\d]{26}$/);
    expect(fake.customers.get(first)).toMatchObject({ name: 'Team team_customer', email: placeholderEmail('team_customer'), custom_data: { tollgate_account: 'team_customer' } });
    expect(placeholderEmail('team_customer')).toMatch(/^account-[0-9a-f]{32}@example\.com$/);

    // Paddle takes no idempotency key, but keeps one customer per email: made again (a retry after
    // a crash), Paddle refuses the second, and the processor finds the first.
    const again = await processor.ensureCustomer!(who, 'customer:team_customer');
    expect(again).toBe(first);
    expect(fake.requests.map((r) => [r.method, r.path])).toEqual([
      ['POST', '/customers'],
      ['POST', '/customers'],
      ['GET', '/customers'],
    ]);
    expect(fake.requests[2]!.query).toEqual({ email: placeholderEmail('team_customer') });
    expect([...fake.customers.values()].filter((c) => c.custom_data?.tollgate_account === 'team_customer')).toHaveLength(1);

    // Any id makes a valid address; different ids, different addresses.
    const odd = account(`Ünïcode / spaces & "quotes" ${'x'.repeat(180)}`);
    const oddCustomer = await processor.ensureCustomer!(odd, 'customer:odd');
    expect(fake.customers.get(oddCustomer)!.email).toBe(placeholderEmail(odd.id));
    expect(oddCustomer).not.toBe(first);
  });

  it("uses the app's own email for an account when it knows one, and the placeholder domain it names otherwise", async () => {
    const known = paddleProcessor({
      apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url,
      customerEmail: (who) => (who.id === 'team_known' ? 'owner@acme.example' : undefined),
      placeholderEmailDomain: 'billing.app.example',
    });
    const customer = await known.ensureCustomer!(account('team_known'), 'customer:team_known');
    expect(fake.customers.get(customer)!.email).toBe('owner@acme.example');
    const other = await known.ensureCustomer!(account('team_unknown'), 'customer:team_unknown');
    expect(fake.customers.get(other)!.email).toBe(placeholderEmail('team_unknown', 'billing.app.example'));
  });

  it("subscribes through a transaction for the plan's price, pending on its checkout URL", async () => {
    const { account: who, customerId } = await customerFor('team_sub');
    const answer = await processor.subscribe({ account: who, customerId, idempotencyKey: 'order_sub_1', plan: plan('plus', planPrice), successUrl: 'https://app.example/ok' });
    expect(answer).toEqual({ status: 'pending', checkoutUrl: expect.stringMatching(new RegExp(`^${fake.url}/pay\\?_ptxn=txn_[a-z\\d]{26}$`)), reference: expect.any(String) });
    const transaction = fake.transactionAt(urlOf(answer));
    // The checkout's reference is the transaction's id: its transaction.completed names it back.
    expect(answer).toMatchObject({ reference: transaction.id });
    expect(transaction).toMatchObject({
      status: 'draft',
      origin: 'api',
      customer_id: customerId,
      collection_mode: 'automatic',
      custom_data: { tollgate_account: who.id, tollgate_plan: 'plus' },
      subscription_id: null,
      items: [{ price_id: planPrice, quantity: 1 }],
    });
    expect(fake.requests.at(-1)).toEqual({
      method: 'POST',
      path: '/transactions',
      query: {},
      body: { items: [{ price_id: planPrice, quantity: 1 }], customer_id: customerId, custom_data: { tollgate_account: who.id, tollgate_plan: 'plus' }, collection_mode: 'automatic' },
    });
  });

  it('sells a pack through a transaction for its price; a checkout page of our own is passed to Paddle', async () => {
    const own = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, checkoutUrl: 'https://app.example/pay' });
    const { account: who, customerId } = await customerFor('team_pack');
    const answer = await own.purchase({ account: who, customerId, pack: pack('extra-10', packPrice) });
    expect(answer.status).toBe('pending');
    expect(urlOf(answer)).toMatch(/^https:\/\/app\.example\/pay\?_ptxn=txn_[a-z\d]{26}$/);
    const transaction = fake.transactionAt(urlOf(answer));
    expect(transaction.custom_data).toEqual({ tollgate_account: who.id, tollgate_pack: 'extra-10' });
    expect(fake.requests.at(-1)!.body).toMatchObject({ items: [{ price_id: packPrice, quantity: 1 }], checkout: { url: 'https://app.example/pay' } });
  });

  it('refuses a plan or pack with no Paddle price before asking Paddle, and says what Paddle refused', async () => {
    const { account: who, customerId } = await customerFor('team_unsynced');
    fake.requests.length = 0;
    const noPlanPrice = processor.subscribe({ account: who, customerId, plan: plan('pro', undefined) });
    await expect(noPlanPrice).rejects.toThrow(BillingError);
    await expect(noPlanPrice).rejects.toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('sync the catalog to Paddle') });
    await expect(processor.purchase({ account: who, customerId, pack: pack('big', undefined) })).rejects.toMatchObject({ code: 'processor_not_configured', details: { processor: 'paddle', pack: 'big' } });
    expect(fake.requests).toEqual([]);

    // A price Paddle does not know (synced in the other environment): a catalog to sync, not Paddle's 404 (an internal error over HTTP).
    await expect(processor.purchase({ account: who, customerId, pack: pack('big', 'pri_01h0000000000000000000000') })).rejects.toMatchObject({
      code: 'processor_not_configured',
      message: expect.stringMatching(/^The pack "big" has Paddle price pri_01h0000000000000000000000, which this Paddle account does not have .*: sync the catalog to Paddle/),
    });
  });

  it("a subscription's first payment and each renewal arrive as subscription.paid for the billing period they pay", async () => {
    const { account: who, customerId } = await customerFor('team_paid');
    const transaction = fake.transactionAt(urlOf(await processor.subscribe({ account: who, customerId, plan: plan('plus', planPrice) })));

    const delivered = eventsOf(await fake.completeTransaction(transaction.id));
    // transaction.created, sent a moment after the API answered, arrives with the rest.
    expect(delivered.map((d) => d.paddleType)).toEqual([
      'transaction.created', 'transaction.updated', 'transaction.paid', 'subscription.created', 'subscription.activated', 'transaction.updated', 'transaction.updated', 'transaction.completed',
    ]);
    const subscription = fake.subscriptions.get(transaction.subscription_id!)!;
    expect(subscription.custom_data).toEqual({ tollgate_account: who.id, tollgate_plan: 'plus' });
    // Everything before the completion is acknowledged for the account, and applies nothing.
    for (const each of delivered.slice(0, -1)) expect(each.events).toEqual([{ type: 'ignored', eventId: expect.stringMatching(/^evt_/), processorType: each.paddleType, accountId: who.id }]);
    const first = subscription.current_billing_period!;
    expect(delivered.at(-1)!.events).toEqual([
      {
        type: 'subscription.paid',
        eventId: expect.stringMatching(/^evt_[a-z\d]{26}$/),
        accountId: who.id,
        subscriptionRef: subscription.id,
        planSlug: 'plus',
        // A price with no Tollgate custom data (linked by hand): the engine checks it is the plan's.
        priceRef: planPrice,
        // The price paid, whatever names the plan: the period opens on the plan's version sold at it.
        pricePaid: planPrice,
        // Who paid: the account's customer, whose subscription may replace the account's own.
        customerRef: customerId,
        paymentRef: transaction.id,
        amountCents: 2000,
        periodStart: new Date(first.starts_at),
        periodEnd: new Date(first.ends_at),
        at: expect.any(Date),
      },
    ]);

    // A renewal: a new transaction, made by Paddle for the next period, carrying the subscription's custom data.
    fake.taxRate = 0.2;
    const renewal = eventsOf(await fake.renew(subscription.id));
    expect(renewal.map((d) => d.paddleType)).toEqual(['subscription.updated', 'transaction.created', 'transaction.billed', 'transaction.updated', 'transaction.paid', 'transaction.updated', 'transaction.completed']);
    const renewed = [...fake.transactions.values()].at(-1)!;
    expect(renewed).toMatchObject({ origin: 'subscription_recurring', subscription_id: subscription.id, status: 'completed', custom_data: { tollgate_account: who.id, tollgate_plan: 'plus' } });
    expect(renewal.at(-1)!.events).toEqual([
      {
        type: 'subscription.paid',
        eventId: expect.any(String),
        accountId: who.id,
        subscriptionRef: subscription.id,
        planSlug: 'plus',
        priceRef: planPrice,
        pricePaid: planPrice,
        customerRef: customerId,
        paymentRef: renewed.id,
        // What the customer was charged: the price and Paddle's tax on it.
        amountCents: 2400,
        periodStart: new Date(first.ends_at),
        periodEnd: new Date(subscription.current_billing_period!.ends_at),
        at: expect.any(Date),
      },
    ]);
    expect(new Date(subscription.current_billing_period!.ends_at).getTime()).toBeGreaterThan(new Date(first.ends_at).getTime());
  });

  it("a pack's completed transaction arrives as payment.succeeded for it, at what the customer paid", async () => {
    fake.taxRate = 0.25;
    const { account: who, customerId } = await customerFor('team_bought');
    const transaction = fake.transactionAt(urlOf(await processor.purchase({ account: who, customerId, pack: pack('extra-10', packPrice) })));

    const delivered = eventsOf(await fake.completeTransaction(transaction.id));
    expect(delivered.map((d) => d.paddleType)).toEqual(['transaction.created', 'transaction.updated', 'transaction.paid', 'transaction.updated', 'transaction.completed']);
    expect(transaction).toMatchObject({ status: 'completed', subscription_id: null, details: { totals: { subtotal: '1000', tax: '250', grand_total: '1250' } } });
    expect(delivered.at(-1)!.events).toEqual([
      { type: 'payment.succeeded', eventId: delivered.at(-1)!.events[0]!.eventId, accountId: who.id, paymentRef: transaction.id, packSlug: 'extra-10', checkoutRef: transaction.id, priceRef: packPrice, priceCents: 1000, amountCents: 1250, at: expect.any(Date) },
    ]);
  });

  it("the checkout URL opens the fake's checkout page, where paying completes the transaction", async () => {
    const { account: who, customerId } = await customerFor('team_page');
    const checkoutUrl = urlOf(await processor.purchase({ account: who, customerId, pack: pack('extra-10', packPrice) }));
    expect(await (await fetch(checkoutUrl)).text()).toContain('Pay: 10.00 USD');
    expect((await fetch(checkoutUrl, { method: 'POST' })).status).toBe(200);
    await expect.poll(() => endpoint.parsed.get(fake.events.at(-1)!.event_id)?.[0]?.type).toBe('payment.succeeded');
    expect(fake.transactionAt(checkoutUrl).status).toBe('completed');
  });

  it('a transaction made outside Tollgate is acknowledged as ignored, for no account', async () => {
    // As if made in Paddle's dashboard: no Tollgate custom data.
    const raw = await fetch(`${fake.url}/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ price_id: packPrice, quantity: 1 }] }),
    });
    expect(raw.status).toBe(201);
    const { data } = await raw.json();
    const delivered = eventsOf(await fake.completeTransaction(data.id));
    expect(delivered.at(-1)!.events).toEqual([{ type: 'ignored', eventId: expect.any(String), processorType: 'transaction.completed' }]);
  });

  it("a subscription's transaction that pays no period (a one-time charge, a payment method change, a proration) is ignored", async () => {
    const { account: who } = await subscribed('team_charge');
    const completed = fake.events.filter((e) => e.event_type === 'transaction.completed').at(-1)!;
    const parse = (origin: string) => {
      const body = JSON.stringify({ ...completed, event_id: `evt_${origin}`, data: { ...(completed.data as object), origin } });
      return processor.parseWebhook!(body, new Headers({ 'paddle-signature': fake.sign(body) }));
    };
    for (const origin of ['subscription_charge', 'subscription_payment_method_change', 'subscription_update']) {
      await expect(parse(origin)).resolves.toEqual([{ type: 'ignored', eventId: `evt_${origin}`, processorType: 'transaction.completed', accountId: who.id }]);
    }
    await expect(parse('subscription_recurring')).resolves.toMatchObject([{ type: 'subscription.paid' }]);
  });

  it('verifies the signature with our own code: any of several h1 (a secret being rotated), within the tolerance, in constant time', async () => {
    const { account: who, customerId } = await customerFor('team_signed');
    const transaction = fake.transactionAt(urlOf(await processor.purchase({ account: who, customerId, pack: pack('extra-10', packPrice) })));
    await fake.completeTransaction(transaction.id);
    const event = fake.events.at(-1)!;
    const body = JSON.stringify(event);
    const parse = (rawBody: string, signature?: string, on = processor) => on.parseWebhook!(rawBody, new Headers(signature === undefined ? {} : { 'paddle-signature': signature }));

    await expect(parse(body, fake.sign(body))).resolves.toMatchObject([{ type: 'payment.succeeded' }]);
    // While Paddle rotates the secret it signs with both, in either order: each endpoint's secret finds its own.
    const rotating = { secrets: ['pdl_ntfset_the_new_one', fake.webhookSecret] };
    await expect(parse(body, fake.sign(body, rotating))).resolves.toHaveLength(1);
    await expect(parse(body, fake.sign(body, { secrets: [fake.webhookSecret, 'pdl_ntfset_the_new_one'] }))).resolves.toHaveLength(1);
    const renewed = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: 'pdl_ntfset_the_new_one', apiBase: fake.url });
    await expect(parse(body, fake.sign(body, rotating), renewed)).resolves.toHaveLength(1);
    // The header written by hand: spaces and case as they may come.
    const ts = Math.floor(Date.now() / 1000);
    const h1 = createHmac('sha256', fake.webhookSecret).update(`${ts}:${body}`).digest('hex');
    await expect(parse(body, `ts=${ts}; h1=0000; h1=${h1.toUpperCase()}`)).resolves.toHaveLength(1);
    // The SDK's verifier would have kept only the last h1 here and refused it.
    await expect(parse(body, `ts=${ts};h1=${h1};h1=${'0'.repeat(64)}`)).resolves.toHaveLength(1);

    // Forged: a body changed after signing (100 cents claimed paid for a 1,000-cent pack), or signed with another secret, or under another timestamp.
    const forged = body.replace('"grand_total":"1000"', '"grand_total":"100"');
    expect(forged).not.toBe(body);
    await expect(parse(forged, fake.sign(body))).rejects.toThrow(WebhookSignatureError);
    await expect(parse(forged, fake.sign(forged, { secrets: ['pdl_ntfset_not_the_endpoints'] }))).rejects.toThrow(/no h1 signature matches/);
    await expect(parse(body, fake.sign(body).replace(/ts=\d+/, `ts=${ts - 1}`))).rejects.toThrow(WebhookSignatureError);
    // Unsigned, or not a signature.
    await expect(parse(body)).rejects.toThrow(/no Paddle-Signature header/);
    for (const garbage of ['garbage', `ts=${ts}`, `h1=${h1}`, `ts=soon;h1=${h1}`, `ts=${ts};h1=nothex`]) await expect(parse(body, garbage)).rejects.toThrow(WebhookSignatureError);

    // Stale (a replay) or from the future, past five minutes either way; within them, fine.
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() - 6 * 60_000 }))).rejects.toThrow(/more than 300 s from now/);
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() + 6 * 60_000 }))).rejects.toThrow(/more than 300 s from now/);
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() - 4 * 60_000 }))).resolves.toHaveLength(1);
    // The tolerance is a setting.
    const strict = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, webhookToleranceSeconds: 10 });
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() - 60_000 }), strict)).rejects.toThrow(/more than 10 s from now/);
    await expect(parse(body, fake.sign(body), strict)).resolves.toHaveLength(1);

    // Signed, but not an event: refused too.
    await expect(parse('not json', fake.sign('not json'))).rejects.toThrow(/not JSON/);
    await expect(parse('{"event_type":"x"}', fake.sign('{"event_type":"x"}'))).rejects.toThrow(/not an event/);

    // Over the wire, the endpoint answers 400 to each.
    expect((await fake.deliver(event.event_id, { secrets: ['pdl_ntfset_not_the_endpoints'] })).status).toBe(400);
    expect((await fake.deliver(event.event_id, { timestamp: Date.now() - 10 * 60_000 })).status).toBe(400);
    expect((await fake.deliver(event.event_id)).status).toBe(200);
  });

  it('cancels at the end of the billing period: Paddle schedules it, and says subscription.canceled when the period ends', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_leaving');

    const canceled = await processor.cancel({ account: who, customerId, idempotencyKey: `cancel_${who.id}`, immediately: false, subscriptionRef });
    expect(canceled).toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toEqual({ method: 'POST', path: `/subscriptions/${subscriptionRef}/cancel`, query: {}, body: { effective_from: 'next_billing_period' } });
    const subscription = fake.subscriptions.get(subscriptionRef)!;
    const periodEnd = subscription.current_billing_period!.ends_at;
    expect(subscription).toMatchObject({ status: 'active', scheduled_change: { action: 'cancel', effective_at: periodEnd } });
    expect(eventsOf(await fake.flush()).map((d) => [d.paddleType, d.events[0]!.type])).toEqual([['subscription.updated', 'ignored']]);

    const ended = eventsOf(await fake.renew(subscriptionRef));
    expect(ended.map((d) => d.paddleType)).toEqual(['subscription.updated', 'subscription.canceled']);
    expect(ended[1]!.events).toEqual([{ type: 'subscription.canceled', eventId: expect.any(String), accountId: who.id, subscriptionRef, at: new Date(periodEnd) }]);
  });

  it('cancels now; a cancel retried after it went through finds it done', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_gone');

    await expect(processor.cancel({ account: who, customerId, immediately: true, subscriptionRef })).resolves.toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: `/subscriptions/${subscriptionRef}/cancel`, body: { effective_from: 'immediately' } });
    expect(fake.subscriptions.get(subscriptionRef)).toMatchObject({ status: 'canceled', canceled_at: expect.any(String), scheduled_change: null });
    const ended = eventsOf(await fake.flush());
    expect(ended.map((d) => d.paddleType)).toEqual(['subscription.updated', 'subscription.canceled']);
    expect(ended[1]!.events).toEqual([{ type: 'subscription.canceled', eventId: expect.any(String), accountId: who.id, subscriptionRef, at: new Date(fake.subscriptions.get(subscriptionRef)!.canceled_at!) }]);

    // Paddle refuses to cancel a canceled subscription; the cancel asked for is done.
    await expect(processor.cancel({ account: who, customerId, immediately: false, subscriptionRef })).resolves.toEqual({ status: 'completed', reference: subscriptionRef });
    await expect(processor.cancel({ account: who, customerId, immediately: true, subscriptionRef: '' })).rejects.toMatchObject({ code: 'no_subscription' });
    await expect(processor.cancel({ account: who, customerId, immediately: true, subscriptionRef: 'sub_01h0000000000000000000000' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('changes the plan with the proration billed at once or nothing changed; a renewal that fails is subscription.past_due', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_moving');
    const proPrice = fake.addPrice({ unitAmount: 50_00, interval: 'month' });

    // Declined: Paddle's subscription_payment_declined, the subscription as it was.
    fake.declines.add(customerId!);
    await expect(processor.changePlan!({ account: who, customerId, plan: { ...plan('pro', proPrice), priceCents: 50_00 }, subscriptionRef })).rejects.toMatchObject({ code: 'payment_declined' });
    expect(fake.subscriptions.get(subscriptionRef)!.items[0]!.price.id).toBe(planPrice);
    fake.declines.delete(customerId!);

    await expect(processor.changePlan!({ account: who, customerId, plan: { ...plan('pro', proPrice), priceCents: 50_00 }, subscriptionRef })).resolves.toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toEqual({
      method: 'PATCH', path: `/subscriptions/${subscriptionRef}`, query: {},
      body: {
        items: [{ price_id: proPrice, quantity: 1 }], proration_billing_mode: 'prorated_immediately', on_payment_failure: 'prevent_change', scheduled_change: null,
        custom_data: { tollgate_account: who.id, tollgate_plan: 'pro' },
      },
    });
    const changed = eventsOf(await fake.flush());
    // The proration's transaction opens no period: the change was applied when Paddle answered.
    expect(changed.filter((d) => d.paddleType === 'transaction.completed').map((d) => d.events[0]!.type)).toEqual(['ignored']);

    fake.declines.add(customerId!);
    const failed = eventsOf(await fake.renew(subscriptionRef));
    const renewed = fake.subscriptions.get(subscriptionRef)!;
    expect(renewed.status).toBe('past_due');
    expect(failed.find((d) => d.paddleType === 'subscription.past_due')!.events).toEqual([
      { type: 'subscription.past_due', eventId: expect.any(String), accountId: who.id, subscriptionRef, periodEnd: new Date(renewed.current_billing_period!.ends_at), at: expect.any(Date) },
    ]);
    fake.declines.delete(customerId!);
    const paid = eventsOf(await fake.payPastDue(subscriptionRef));
    expect(paid.find((d) => d.paddleType === 'transaction.completed')!.events).toEqual([
      expect.objectContaining({ type: 'subscription.paid', planSlug: 'pro', periodEnd: new Date(renewed.current_billing_period!.ends_at) }),
    ]);
  });

  it("opens the customer portal for the account's customer, on its subscription", async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_portal');
    const { url } = await processor.portal!({ account: who, customerId, returnUrl: 'https://app.example/billing', subscriptionRef });
    expect(fake.requests.at(-1)).toEqual({ method: 'POST', path: `/customers/${customerId}/portal-sessions`, query: {}, body: { subscription_ids: [subscriptionRef] } });
    expect(url).toMatch(new RegExp(`^${fake.url}/portal/cpls_.*/overview$`));
    expect((await fetch(url)).status).toBe(200);
  });

  it('takes PADDLE_API_BASE as a URL, PADDLE_ENVIRONMENT as sandbox or production, and refuses half a configuration', async () => {
    const options = { apiKey: 'pdl_sdbx_apikey_x', webhookSecret: 'pdl_ntfset_x' };
    expect(() => paddleProcessor(options)).not.toThrow();
    expect(() => paddleProcessor({ ...options, environment: 'sandbox' })).not.toThrow();
    expect(() => paddleProcessor({ ...options, environment: 'staging' })).toThrow(/PADDLE_ENVIRONMENT must be sandbox or production/);
    expect(() => paddleProcessor({ ...options, apiBase: 'localhost:12112' })).toThrow(/http or https URL/);
    expect(() => paddleProcessor({ ...options, apiBase: 'http://127.0.0.1:12112/?x=1' })).toThrow(/no query/);
    expect(() => paddleProcessor({ ...options, apiKey: '' })).toThrow(/PADDLE_API_KEY/);
    expect(() => paddleProcessor({ ...options, webhookSecret: ' ' })).toThrow(/PADDLE_WEBHOOK_SECRET/);
    expect(() => paddleProcessor({ ...options, webhookToleranceSeconds: -1 })).toThrow(/tolerance/);
    expect(() => paddleProcessor({ ...options, checkoutUrl: 'app.example/pay' })).toThrow(/checkout URL/);

    // A trailing slash is the same base; a wrong key is Paddle's refusal.
    const slashed = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: `${fake.url}/` });
    await expect(slashed.ensureCustomer!(account('team_slash'), 'k')).resolves.toMatch(/^ctm_/);
    const wrongKey = paddleProcessor({ apiKey: 'pdl_sdbx_apikey_wrong', webhookSecret: fake.webhookSecret, apiBase: fake.url });
    await expect(wrongKey.ensureCustomer!(account('team_wrong_key'), 'k')).rejects.toMatchObject({ code: 'invalid_token' });
  });
});
