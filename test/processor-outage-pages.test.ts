/**
 * Stripe failing to answer, with the real SDK against the local fake of its API, under the hosted
 * billing page's and the admin panel's forms: the page says so, readably, and nothing changed; so
 * does a plan change asked while a cancel waits at Stripe, and one sent twice. The
 * admin's refund form drawn again keeps its key, so sending it again asks Stripe for the same
 * refund: one refund at Stripe, whatever the first attempt did there.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeProcessor } from '../src/index.ts';
import type { Processor } from '../src/engine/processor.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { AdminClient, text } from './support/admin-client.ts';
import { ENGINES } from './support/harness.ts';
import { useApi } from './support/http.ts';
import { StripeFake } from './support/stripe-fake.ts';

/** More failures in a row than the SDK retries (maxNetworkRetries: 2). */
const PAST_RETRIES = 3;

describe('Stripe failing under the billing page and the admin panel', () => {
  let stripe: StripeFake;
  const processors: Processor[] = [fakeProcessor()];
  beforeEach(async () => {
    stripe = await StripeFake.start();
    processors[1] = stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/ok' });
  });
  afterEach(async () => {
    await stripe.close();
  });
  const api = useApi(ENGINES[0]!, { processors });

  /** The checkout a pending answer opens, paid, and Stripe's webhooks applied. */
  async function pay(pending: unknown) {
    const from = stripe.events.length;
    await stripe.completeCheckout((pending as { checkoutUrl: string }).checkoutUrl.split('/').pop()!);
    for (const event of stripe.events.slice(from)) {
      const body = JSON.stringify(event);
      await api.billing.receiveWebhook('stripe', body, new Headers({ 'stripe-signature': stripe.sign(body) }));
    }
  }

  beforeEach(async () => {
    await api.billing.admin.applyPreset('subscription-plus-packs');
    await api.billing.admin.updatePlan('plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
    await api.billing.admin.updatePack('extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
    await api.billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme', processor: 'stripe' });
  });

  it("the billing page says the processor did not answer and nothing changed, in the customer's words", async () => {
    const reply = await api.call('POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/settings', role: 'owner' });
    const browser = new AdminClient(api.app);
    await browser.page(new URL(reply.body.url).pathname);
    await browser.page('/billing');
    // Its customer at Stripe made first (by the portal): a checkout whose session fails keeps the customer it made.
    await api.billing.portal('acme', { returnUrl: 'https://app.example/settings' });
    const before = await api.state();

    stripe.failNext('/v1/checkout/sessions', PAST_RETRIES, 503);
    expect((await browser.post('/billing/plan', { plan: 'plus', idempotencyKey: 'plan-1' })).status).toBe(303);
    const page = await browser.page('/billing');
    expect(page.status).toBe(200);
    expect(text(page.html)).toContain('The payment processor did not answer just now, so nothing changed: try again in a moment.');
    expect(await api.state()).toEqual(before);
    expect(stripe.sessions.size).toBe(0);
  });

  it("the billing page says another change is under way while a cancel waits at Stripe, and nothing changed; a change sent twice, that it is being made", async () => {
    await api.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 200_00, overage: 'credits' });
    await api.billing.admin.updatePlan('max', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 200_00, interval: 'month' }) } });
    await pay(await api.billing.subscribe('acme', 'plus'));
    const reply = await api.call('POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/settings', role: 'owner' });
    const browser = new AdminClient(api.app);
    await browser.page(new URL(reply.body.url).pathname);
    await browser.page('/billing');
    const ref = (await api.billing.sql.query<{ processor_ref: string }>(`SELECT processor_ref FROM subscriptions WHERE account_id = 'acme'`))[0]!.processor_ref;
    const held = stripe.holdNext(`/v1/subscriptions/${ref}`);
    const cancel = api.billing.cancel('acme');
    await held.reached;
    const before = await api.state();

    expect((await browser.post('/billing/plan', { plan: 'max', idempotencyKey: 'plan-1' })).status).toBe(303);
    const page = await browser.page('/billing');
    expect(text(page.html)).toContain('Another change to your plan is being made right now, so this one changed nothing: reload the page in a moment to see it.');
    expect(await api.state()).toEqual(before);
    held.release();
    expect(await cancel).toMatchObject({ plan: { slug: 'plus' }, endsAt: expect.any(Date) });

    // The plan's form sent twice (a double click): the second says the first is being made.
    const change = stripe.holdNext(`POST /v1/subscriptions/${ref}`);
    const first = browser.post('/billing/plan', { plan: 'max', idempotencyKey: 'plan-2' });
    await change.reached;
    expect((await browser.post('/billing/plan', { plan: 'max', idempotencyKey: 'plan-2' })).status).toBe(303);
    expect(text((await browser.page('/billing')).html)).toContain('That change is being made right now: reload the page in a moment to see it.');
    change.release();
    expect((await first).status).toBe(303);
    expect((await api.billing.balance('acme')).plan.slug).toBe('max');
  });

  it("the admin's refund form says Stripe failed, drawn again with the same key: sent again, Stripe refunds once", async () => {
    await pay(await api.billing.subscribe('acme', 'plus'));
    await pay(await api.billing.purchase('acme', 'extra-10'));
    const pack = (await api.billing.payments('acme')).find((p) => p.kind === 'pack')!;
    const admin = new AdminClient(api.app);
    await admin.login('admin-password-for-tests');
    const path = `/admin/accounts/acme/payments/${pack.id}/refund`;
    const keyOf = (html: string) => /name="idempotencyKey" value="([^"]+)"/.exec(html)![1]!;
    const key = keyOf((await admin.page(path)).html);

    // Stripe made the refund each time, but its answer never came back.
    stripe.loseAnswers = (method, at) => method === 'POST' && at === '/v1/refunds';
    const failed = await admin.post(path, { amount: '4.00', idempotencyKey: key });
    expect(failed.status).toBe(422);
    expect(text(failed.html)).toMatch(/Stripe failed to answer \(unreachable\): nothing was changed here; retry the request in a moment/);
    expect(keyOf(failed.html)).toBe(key);
    expect((await api.billing.payments('acme')).find((p) => p.id === pack.id)!.refundedCents).toBe(0);

    stripe.loseAnswers = undefined;
    expect((await admin.post(path, { amount: '4.00', idempotencyKey: keyOf(failed.html) })).status).toBe(303);
    expect(stripe.refunds.size).toBe(1);
    expect((await api.billing.payments('acme')).find((p) => p.id === pack.id)!.refundedCents).toBe(4_00);
  });

  it("the admin's refund form Stripe refused is drawn again with a new key: the amount corrected, it is refunded", async () => {
    await pay(await api.billing.subscribe('acme', 'plus'));
    await pay(await api.billing.purchase('acme', 'extra-10'));
    const pack = (await api.billing.payments('acme')).find((p) => p.kind === 'pack')!;
    // $8 of the $10 refunded in Stripe's dashboard, its webhooks not here yet: Stripe has $2 left to refund.
    const dashboard = await fetch(`${stripe.url}/v1/refunds`, {
      method: 'POST', headers: { authorization: `Bearer ${stripe.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `payment_intent=${pack.reference}&amount=800`,
    });
    expect(dashboard.status).toBe(200);
    const admin = new AdminClient(api.app);
    await admin.login('admin-password-for-tests');
    const path = `/admin/accounts/acme/payments/${pack.id}/refund`;
    const keyOf = (html: string) => /name="idempotencyKey" value="([^"]+)"/.exec(html)![1]!;
    const key = keyOf((await admin.page(path)).html);

    const refused = await admin.post(path, { amount: '4.00', idempotencyKey: key });
    expect(refused.status).toBe(422);
    expect(text(refused.html)).toMatch(/Stripe refused the refund: Refund amount \(\$4\.00\) is greater than unrefunded amount on charge \(\$2\.00\)/);
    // Refused is an answer: nothing was refunded under that key, and the next amount is another request, with a key of its own.
    expect(keyOf(refused.html)).not.toBe(key);
    expect((await admin.post(path, { amount: '2.00', idempotencyKey: keyOf(refused.html) })).status).toBe(303);
    expect([...stripe.refunds.values()].map((r) => r.amount)).toEqual([800, 200]);
  });
});
