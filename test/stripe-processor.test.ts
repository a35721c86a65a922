/**
 * The Stripe processor with the real SDK, pointed (STRIPE_API_BASE) at a local fake of Stripe's
 * HTTP API: what it asks Stripe for, and what Stripe's signed webhooks become in the engine's
 * words. The webhooks arrive at a small endpoint here that hands the raw body and headers to
 * parseWebhook, as the server's webhook route does.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BillingError } from '../src/core/errors.ts';
import { WebhookSignatureError, type Processor } from '../src/engine/processor.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { StripeFake, type Delivery } from './support/stripe-fake.ts';
import { accountOn, customerMaker, packAt, planAt, wireUp, type WebhookEndpoint } from './support/processor-fixtures.ts';

const SUCCESS = 'https://app.example/billing/done';

const account = (id: string) => accountOn('stripe', id);
const plan = (slug: string, price: string | undefined) => planAt('stripe', slug, price);
const pack = (slug: string, price: string | undefined) => packAt('stripe', slug, price);

describe('the Stripe processor, with the SDK against a fake of the API', () => {
  let fake: StripeFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let planPrice: string;
  let packPrice: string;

  /** What the endpoint made of each delivery, by event type. */
  const eventsOf = (deliveries: Delivery[]) =>
    deliveries.map((delivery) => {
      expect(delivery.status).toBe(200);
      return { stripeType: delivery.event.type as string, events: endpoint.parsed.get(delivery.event.id)! };
    });

  /** An account with its customer, as the engine makes it before a first checkout. */
  const customerFor = customerMaker(() => processor);

  /** The session a checkout URL opens. */
  const sessionAt = (checkoutUrl: string) => fake.sessions.get(checkoutUrl.split('/').pop()!)!;

  /** An account subscribed to a plan at Stripe, its checkout paid. */
  async function subscribed(id: string) {
    const { account: who, customerId } = await customerFor(id);
    const answer = await processor.subscribe({ account: who, customerId, plan: plan('plus', planPrice) });
    const session = sessionAt((answer as { checkoutUrl: string }).checkoutUrl);
    await fake.completeCheckout(session.id);
    return { account: who, customerId, subscriptionRef: session.subscription as string };
  }

  beforeAll(async () => {
    fake = await StripeFake.start();
    processor = stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, successUrl: SUCCESS });
    ({ endpoint, planPrice, packPrice } = await wireUp(fake, () => processor, (body) => body.id));
  });

  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });

  beforeEach(() => {
    fake.requests.length = 0;
  });

  it('makes one customer per key, named after the account and carrying its id', async () => {
    const who = account('team_customer');
    const first = await processor.ensureCustomer!(who, 'customer:team_customer');
    const again = await processor.ensureCustomer!(who, 'customer:team_customer');
    expect(again).toBe(first);
    expect(first).toMatch(/^cus_/);
    expect(fake.customers.get(first)).toMatchObject({ object: 'customer', name: 'Team team_customer', metadata: { tollgate_account: 'team_customer' } });
    expect(fake.requests.map((r) => [r.method, r.path, r.idempotencyKey])).toEqual([
      ['POST', '/v1/customers', 'customer:team_customer'],
      ['POST', '/v1/customers', 'customer:team_customer'],
    ]);
    expect([...fake.customers.values()].filter((c) => c.metadata.tollgate_account === 'team_customer')).toHaveLength(1);

    const other = await processor.ensureCustomer!(who, 'customer:team_customer:2');
    expect(other).not.toBe(first);
  });

  it('subscribes through a Checkout Session in subscription mode, pending on its page', async () => {
    const { account: who, customerId } = await customerFor('team_sub');
    const answer = await processor.subscribe({ account: who, customerId, idempotencyKey: 'order_sub_1', plan: plan('plus', planPrice), cancelUrl: 'https://app.example/pricing' });
    expect(answer).toEqual({ status: 'pending', checkoutUrl: expect.stringMatching(/\/c\/pay\/cs_test_/), reference: expect.any(String) });
    const session = sessionAt((answer as { checkoutUrl: string }).checkoutUrl);
    // The checkout's reference is the session's id: its checkout.session.completed names it back.
    expect(answer).toMatchObject({ reference: session.id });
    expect(session).toMatchObject({
      object: 'checkout.session',
      mode: 'subscription',
      status: 'open',
      customer: customerId,
      client_reference_id: who.id,
      metadata: { tollgate_account: who.id, tollgate_plan: 'plus' },
      success_url: SUCCESS,
      cancel_url: 'https://app.example/pricing',
      amount_total: 2000,
    });
    const request = fake.requests.find((r) => r.path === '/v1/checkout/sessions')!;
    expect(request.idempotencyKey).toBe('order_sub_1');
    expect(request.params).toMatchObject({
      line_items: [{ price: planPrice, quantity: '1' }],
      subscription_data: { metadata: { tollgate_account: who.id, tollgate_plan: 'plus' } },
    });

    // The same key is the same request at Stripe: the same page, no second session.
    const sessions = fake.sessions.size;
    const retried = await processor.subscribe({ account: who, customerId, idempotencyKey: 'order_sub_1', plan: plan('plus', planPrice), cancelUrl: 'https://app.example/pricing' });
    expect(retried).toEqual(answer);
    expect(fake.sessions.size).toBe(sessions);
    // And, as at Stripe, the key reused for another request is refused, as the engine's idempotency_conflict.
    await expect(processor.subscribe({ account: who, customerId, idempotencyKey: 'order_sub_1', plan: plan('plus', planPrice) })).rejects.toMatchObject({
      code: 'idempotency_conflict', message: expect.stringMatching(/^Stripe keeps this call's idempotency key for another request/),
    });
  });

  it('sells a pack through a Checkout Session in payment mode that saves the card for off-session charges', async () => {
    const { account: who, customerId } = await customerFor('team_pack');
    const answer = await processor.purchase({ account: who, customerId, idempotencyKey: 'order_pack_1', pack: pack('extra-10', packPrice), successUrl: 'https://app.example/thanks' });
    expect(answer.status).toBe('pending');
    const session = sessionAt((answer as { checkoutUrl: string }).checkoutUrl);
    expect(session).toMatchObject({ mode: 'payment', customer: customerId, client_reference_id: who.id, success_url: 'https://app.example/thanks', cancel_url: null, amount_total: 1000 });
    // The session names the price it sells at and its amount (its payment is credited as the pack sold at them); the payment intent does not.
    expect(session.metadata).toEqual({ tollgate_account: who.id, tollgate_pack: 'extra-10', tollgate_price: packPrice, tollgate_price_cents: '1000' });
    const request = fake.requests.find((r) => r.path === '/v1/checkout/sessions')!;
    expect(request.idempotencyKey).toBe('order_pack_1');
    expect(request.params).toMatchObject({
      line_items: [{ price: packPrice, quantity: '1' }],
      payment_intent_data: { setup_future_usage: 'off_session', metadata: { tollgate_account: who.id, tollgate_pack: 'extra-10' } },
    });
  });

  it('refuses a plan or pack with no Stripe price, and a checkout with no success page, before asking Stripe', async () => {
    const { account: who, customerId } = await customerFor('team_unsynced');
    fake.requests.length = 0;
    const noPlanPrice = processor.subscribe({ account: who, customerId, plan: plan('pro', undefined) });
    await expect(noPlanPrice).rejects.toThrow(BillingError);
    await expect(noPlanPrice).rejects.toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('sync the catalog to Stripe') });
    await expect(processor.purchase({ account: who, customerId, pack: pack('big', undefined) })).rejects.toMatchObject({ code: 'processor_not_configured' });

    const bare = stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url });
    await expect(bare.subscribe({ account: who, customerId, plan: plan('plus', planPrice) })).rejects.toMatchObject({ code: 'invalid_input', details: { issues: ['successUrl: required by Stripe Checkout'] } });
    expect(fake.requests).toEqual([]);
  });

  it('refuses a price Stripe does not have (made with other keys: test mode before live) as a catalog to sync, not an internal error', async () => {
    const { account: who, customerId } = await customerFor('team_other_keys');
    const answer = processor.subscribe({ account: who, customerId, plan: plan('plus', 'price_made_in_test_mode') });
    await expect(answer).rejects.toThrow(BillingError);
    await expect(answer).rejects.toMatchObject({
      code: 'processor_not_configured',
      message: expect.stringMatching(/^The plan "plus" has Stripe price price_made_in_test_mode, which this Stripe account does not have .*: sync the catalog to Stripe/),
    });
  });

  it("a subscription's first payment and each renewal arrive as subscription.paid for the period they pay", async () => {
    const { account: who, customerId } = await customerFor('team_paid');
    const answer = await processor.subscribe({ account: who, customerId, idempotencyKey: `order_${who.id}`, plan: plan('plus', planPrice) });
    const session = sessionAt((answer as { checkoutUrl: string }).checkoutUrl);

    const delivered = eventsOf(await fake.completeCheckout(session.id));
    expect(delivered.map((d) => d.stripeType)).toEqual(['customer.subscription.created', 'invoice.paid', 'checkout.session.completed']);
    const subscription = fake.subscriptions.get(session.subscription)!;
    const firstInvoice = fake.invoices.get(subscription.latest_invoice)!;
    const item = subscription.items.data[0];
    expect(delivered[0]!.events).toEqual([{ type: 'ignored', eventId: expect.stringMatching(/^evt_/), processorType: 'customer.subscription.created', accountId: who.id }]);
    expect(delivered[1]!.events).toEqual([
      {
        type: 'subscription.paid',
        eventId: expect.stringMatching(/^evt_/),
        accountId: who.id,
        subscriptionRef: subscription.id,
        planSlug: 'plus',
        paymentRef: firstInvoice.id,
        amountCents: 2000,
        periodStart: new Date(item.current_period_start * 1000),
        periodEnd: new Date(item.current_period_end * 1000),
        at: expect.any(Date),
        // The price the line billed: the period opens on the plan's version sold at it.
        pricePaid: item.price.id,
      },
    ]);
    // The subscription's checkout moves no money by itself: its invoice did.
    expect(delivered[2]!.events).toEqual([{ type: 'ignored', eventId: expect.any(String), processorType: 'checkout.session.completed', accountId: who.id }]);

    const firstEnd = item.current_period_end;
    const renewal = eventsOf(await fake.renew(subscription.id));
    expect(renewal.map((d) => d.stripeType)).toEqual(['customer.subscription.updated', 'invoice.paid']);
    const paid = renewal[1]!.events[0]!;
    const secondInvoice = fake.invoices.get(subscription.latest_invoice)!;
    // Stripe's invoice names the period that ended; the line, the period paid for.
    expect(secondInvoice.period_end).toBe(firstEnd);
    expect(paid).toMatchObject({ type: 'subscription.paid', paymentRef: secondInvoice.id, planSlug: 'plus', periodStart: new Date(firstEnd * 1000), pricePaid: item.price.id });
    expect((paid as { periodEnd: Date }).periodEnd.getTime()).toBe(subscription.items.data[0].current_period_end * 1000);
    expect((paid as { periodEnd: Date }).periodEnd.getTime()).toBeGreaterThan(firstEnd * 1000);
  });

  it("a pack's completed checkout arrives as payment.succeeded for its payment intent", async () => {
    const { account: who, customerId } = await customerFor('team_bought');
    const answer = await processor.purchase({ account: who, customerId, idempotencyKey: `order_${who.id}`, pack: pack('extra-10', packPrice) });
    const session = sessionAt((answer as { checkoutUrl: string }).checkoutUrl);

    const delivered = eventsOf(await fake.completeCheckout(session.id));
    expect(delivered.map((d) => d.stripeType)).toEqual(['payment_intent.succeeded', 'checkout.session.completed']);
    const paymentIntent = fake.paymentIntents.get(session.payment_intent)!;
    expect(paymentIntent).toMatchObject({ setup_future_usage: 'off_session', customer: customerId, metadata: { tollgate_account: who.id, tollgate_pack: 'extra-10' } });
    expect(delivered[0]!.events).toEqual([{ type: 'ignored', eventId: expect.any(String), processorType: 'payment_intent.succeeded', accountId: who.id }]);
    expect(delivered[1]!.events).toEqual([
      { type: 'payment.succeeded', eventId: delivered[1]!.events[0]!.eventId, accountId: who.id, paymentRef: paymentIntent.id, packSlug: 'extra-10', checkoutRef: session.id, priceRef: packPrice, priceCents: 1000, amountCents: 1000, at: expect.any(Date) },
    ]);
  });

  it("the checkout URL opens the fake's page, where paying completes the session and goes back to the success page", async () => {
    const { account: who, customerId } = await customerFor('team_page');
    const answer = await processor.purchase({ account: who, customerId, pack: pack('extra-10', packPrice), successUrl: 'https://app.example/done?session={CHECKOUT_SESSION_ID}' });
    const { checkoutUrl } = answer as { checkoutUrl: string };
    const session = sessionAt(checkoutUrl);
    expect(await (await fetch(checkoutUrl)).text()).toContain('Pay: 10.00 USD');
    const paid = await fetch(checkoutUrl, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`https://app.example/done?session=${session.id}`);
    expect(session).toMatchObject({ status: 'complete', payment_status: 'paid', payment_intent: expect.stringMatching(/^pi_/) });
    await expect.poll(() => endpoint.parsed.get(fake.events.at(-1)!.id)?.[0]?.type).toBe('payment.succeeded');
  });

  it('a checkout made outside Tollgate is acknowledged as ignored, for no account', async () => {
    const { customerId } = await customerFor('team_elsewhere');
    // As if made in Stripe's dashboard: no Tollgate metadata.
    const raw = await fetch(`${fake.url}/v1/checkout/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ mode: 'payment', customer: customerId, 'line_items[0][price]': packPrice, 'line_items[0][quantity]': '1', success_url: SUCCESS }),
    });
    const session = await raw.json();
    const delivered = eventsOf(await fake.completeCheckout(session.id));
    expect(delivered[1]!.events).toEqual([{ type: 'ignored', eventId: expect.any(String), processorType: 'checkout.session.completed' }]);
  });

  it('refuses a forged, re-signed, unsigned or stale webhook with WebhookSignatureError', async () => {
    const { account: who, customerId } = await customerFor('team_forged');
    const answer = await processor.purchase({ account: who, customerId, pack: pack('extra-10', packPrice) });
    await fake.completeCheckout(sessionAt((answer as { checkoutUrl: string }).checkoutUrl).id);
    const event = fake.events.at(-1)!;
    const body = JSON.stringify(event, null, 2);
    const parse = (rawBody: string, signature?: string) => processor.parseWebhook!(rawBody, new Headers(signature === undefined ? {} : { 'stripe-signature': signature }));

    await expect(parse(body, fake.sign(body))).resolves.toMatchObject([{ type: 'payment.succeeded' }]);
    // A body changed after signing: 2,000 cents claimed for a 1,000-cent pack.
    const forged = body.replace('"amount_total": 1000', '"amount_total": 2000');
    expect(forged).not.toBe(body);
    await expect(parse(forged, fake.sign(body))).rejects.toThrow(WebhookSignatureError);
    await expect(parse(forged, fake.sign(forged, { secret: 'whsec_not_the_endpoints' }))).rejects.toThrow(WebhookSignatureError);
    await expect(parse(body)).rejects.toThrow(WebhookSignatureError);
    await expect(parse(body, 'garbage')).rejects.toThrow(WebhookSignatureError);
    // Signed more than five minutes ago: a replay.
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() - 6 * 60_000 }))).rejects.toThrow(/Timestamp outside the tolerance zone/);
    await expect(parse(body, fake.sign(body, { timestamp: Date.now() - 4 * 60_000 }))).resolves.toHaveLength(1);
    // Signed but not JSON: refused as Paddle's is (400, never retried into a 500 for ever), not a 500 "not applied".
    await expect(parse('not json', fake.sign('not json'))).rejects.toThrow(new WebhookSignatureError('Stripe webhook verified but its body is not JSON'));

    // Over the wire, the endpoint answers 400 to each.
    expect((await fake.deliver(event.id, { secret: 'whsec_not_the_endpoints' })).status).toBe(400);
    expect((await fake.deliver(event.id, { timestamp: Date.now() - 10 * 60_000 })).status).toBe(400);
    expect((await fake.deliver(event.id)).status).toBe(200);
  });

  it('cancels at the end of the paid period: the period ends, the subscription is deleted, and the engine hears subscription.canceled', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_leaving');

    const canceled = await processor.cancel({ account: who, customerId, idempotencyKey: `cancel_${who.id}`, immediately: false, subscriptionRef });
    expect(canceled).toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: `/v1/subscriptions/${subscriptionRef}`, params: { cancel_at_period_end: 'true' }, idempotencyKey: `cancel_${who.id}` });
    const subscription = fake.subscriptions.get(subscriptionRef)!;
    expect(subscription).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: subscription.items.data[0].current_period_end });
    expect(eventsOf(await fake.flush()).map((d) => d.events[0]!.type)).toEqual(['ignored']);

    const ended = eventsOf(await fake.renew(subscriptionRef));
    expect(ended.map((d) => d.stripeType)).toEqual(['customer.subscription.deleted']);
    expect(ended[0]!.events).toEqual([{ type: 'subscription.canceled', eventId: expect.any(String), accountId: who.id, subscriptionRef, at: new Date(subscription.ended_at * 1000) }]);
  });

  it('cancels now: Stripe deletes the subscription at once', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_gone');

    await expect(processor.cancel({ account: who, customerId, idempotencyKey: `cancel_${who.id}`, immediately: true, subscriptionRef })).resolves.toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/subscriptions/${subscriptionRef}`, idempotencyKey: `cancel_${who.id}` });
    expect(fake.subscriptions.get(subscriptionRef)).toMatchObject({ status: 'canceled', ended_at: expect.any(Number) });
    const ended = eventsOf(await fake.flush());
    expect(ended[0]!.events).toEqual([{ type: 'subscription.canceled', eventId: expect.any(String), accountId: who.id, subscriptionRef, at: expect.any(Date) }]);

    await expect(processor.cancel({ account: who, customerId, immediately: true, subscriptionRef: '' })).rejects.toMatchObject({ code: 'no_subscription' });
  });

  it('changes the plan by swapping the price, the proration invoiced and paid at once or nothing changed; a renewal that fails is subscription.past_due', async () => {
    const { account: who, customerId, subscriptionRef } = await subscribed('team_moving');
    const proPrice = fake.addPrice({ unitAmount: 50_00, interval: 'month' });
    const item = fake.subscriptions.get(subscriptionRef)!.items.data[0];

    // Declined: Stripe's card_error, the subscription as it was.
    fake.declines.set(customerId!, 'card_declined');
    await expect(processor.changePlan!({ account: who, customerId, idempotencyKey: `change_${who.id}_1`, plan: { ...plan('pro', proPrice), priceCents: 50_00 }, subscriptionRef }))
      .rejects.toMatchObject({ code: 'payment_declined' });
    expect(fake.subscriptions.get(subscriptionRef)!.items.data[0].price.id).toBe(planPrice);
    fake.declines.delete(customerId!);

    await expect(processor.changePlan!({ account: who, customerId, idempotencyKey: `change_${who.id}_2`, plan: { ...plan('pro', proPrice), priceCents: 50_00 }, subscriptionRef }))
      .resolves.toEqual({ status: 'completed', reference: subscriptionRef });
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'POST', path: `/v1/subscriptions/${subscriptionRef}`, idempotencyKey: `change_${who.id}_2`,
      params: { items: [{ id: item.id, price: proPrice }], proration_behavior: 'always_invoice', payment_behavior: 'error_if_incomplete', cancel_at_period_end: 'false', metadata: { tollgate_plan: 'pro' } },
    });
    const changed = eventsOf(await fake.flush());
    expect(changed.map((d) => d.stripeType)).toEqual(['customer.subscription.updated', 'invoice.paid']);
    // The proration's invoice: a period paid, from the change to the period's end, on the new plan.
    expect(changed[1]!.events).toEqual([expect.objectContaining({ type: 'subscription.paid', planSlug: 'pro', subscriptionRef, periodEnd: new Date(item.current_period_end * 1000) })]);

    fake.declines.set(customerId!, 'card_declined');
    const failed = eventsOf(await fake.renew(subscriptionRef));
    expect(failed.map((d) => d.stripeType)).toEqual(['customer.subscription.updated', 'invoice.payment_failed']);
    const renewed = fake.subscriptions.get(subscriptionRef)!;
    expect(renewed.status).toBe('past_due');
    expect(failed[1]!.events).toEqual([
      { type: 'subscription.past_due', eventId: expect.any(String), accountId: who.id, subscriptionRef, periodEnd: new Date(renewed.items.data[0].current_period_end * 1000), at: expect.any(Date) },
    ]);
    fake.declines.delete(customerId!);
    const paid = eventsOf(await fake.payOpenInvoice(renewed.latest_invoice));
    expect(paid.map((d) => d.stripeType)).toEqual(['customer.subscription.updated', 'invoice.paid']);
    expect(paid[1]!.events).toEqual([expect.objectContaining({ type: 'subscription.paid', planSlug: 'pro', periodEnd: new Date(renewed.items.data[0].current_period_end * 1000) })]);
  });

  it("opens the customer portal for the account's customer, back to the app's page", async () => {
    const { account: who, customerId } = await customerFor('team_portal');
    const { url } = await processor.portal!({ account: who, customerId, returnUrl: 'https://app.example/billing' });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/billing_portal/sessions', params: { customer: customerId, return_url: 'https://app.example/billing' } });
    expect(url).toMatch(new RegExp(`^${fake.url}/p/session/bps_`));
    expect(await (await fetch(url)).text()).toContain('href="https://app.example/billing"');
  });

  it('takes STRIPE_API_BASE as a scheme, host and port only', () => {
    const options = { secretKey: 'sk_test_x', webhookSecret: 'whsec_x' };
    expect(() => stripeProcessor({ ...options, apiBase: 'http://127.0.0.1:12111' })).not.toThrow();
    expect(() => stripeProcessor({ ...options, apiBase: 'localhost:12111' })).toThrow(/http or https URL/);
    expect(() => stripeProcessor({ ...options, apiBase: 'http://127.0.0.1:12111/v1' })).toThrow(/scheme, host and port only/);
    expect(() => stripeProcessor({ ...options, webhookSecret: ' ' })).toThrow(/STRIPE_WEBHOOK_SECRET/);
  });
});
