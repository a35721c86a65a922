/**
 * Stripe failing (a 5xx, a connection cut, a 429), with the real SDK against the local fake of its
 * API, under each call the API makes of it: the customer, a plan's and a pack's checkout, the
 * portal, a plan change, a cancel, an admin's refund. Each is a 502 processor_error saying the
 * request may be retried, that changed nothing here; the same request again, once Stripe
 * answers, asks Stripe once, under the same key.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeProcessor } from '../src/index.ts';
import type { Processor } from '../src/engine/processor.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ENGINES } from './support/harness.ts';
import { useApi } from './support/http.ts';
import { StripeFake } from './support/stripe-fake.ts';

const OK = 'https://app.example/ok';
/** More failures in a row than the SDK retries (maxNetworkRetries: 2). */
const PAST_RETRIES = 3;

for (const engine of ENGINES) {
  describe(`Stripe failing under the API on ${engine.name}`, () => {
    let stripe: StripeFake;
    const processors: Processor[] = [fakeProcessor()];
    beforeEach(async () => {
      stripe = await StripeFake.start();
      processors[1] = stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: OK });
    });
    afterEach(async () => {
      await stripe.close();
    });
    const api = useApi(engine, { processors });

    /** Stripe's events since `from`, handed to the engine as Stripe signs them. */
    async function deliver(from: number) {
      for (const event of stripe.events.slice(from)) {
        const body = JSON.stringify(event);
        await api.billing.receiveWebhook('stripe', body, new Headers({ 'stripe-signature': stripe.sign(body) }));
      }
    }
    /** The checkout a pending answer opens, paid, and its webhooks applied. */
    async function pay(checkoutUrl: string) {
      const from = stripe.events.length;
      await stripe.completeCheckout(checkoutUrl.split('/').pop()!);
      await deliver(from);
    }
    const asked = (path: string) => stripe.requests.filter((r) => r.method === 'POST' && r.path.startsWith(path));
    const retryable = (why: string) => new RegExp(`^Stripe failed to answer \\(${why}\\): nothing was changed here; retry the request in a moment, with the same idempotency key$`);

    beforeEach(async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      await api.billing.admin.updatePlan('plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await api.billing.admin.updatePack('extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
      await api.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 50_00, overage: 'credits', sort: 2 });
      await api.billing.admin.updatePlan('max', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 50_00, interval: 'month' }) } });
      await api.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
    });

    it('a checkout while Stripe fails is a 502 that changed nothing; once it answers, the same key opens one checkout', async () => {
      const refused = await api.refusals();
      const subscribe = () => api.call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });

      // The customer's creation: Stripe answers 503 to every try the SDK makes.
      stripe.failNext('/v1/customers', PAST_RETRIES, 503);
      const down = await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect(down.body.error).toMatchObject({ type: 'api_error', message: expect.stringMatching(retryable('error 503')) });
      expect(stripe.customers.size).toBe(0);

      // The session's: the connection is cut each time. The customer Stripe made is stored before the
      // session is asked for, and kept: a retry finds the same one by its key. Nothing else changes.
      stripe.failNext('/v1/checkout/sessions', PAST_RETRIES, 'reset');
      const customerKept = await subscribe();
      expect({ status: customerKept.status, code: customerKept.body.error.code }).toEqual({ status: 502, code: 'processor_error' });
      expect(stripe.customers.size).toBe(1);
      const refusedAgain = await api.refusals();
      stripe.failNext('/v1/checkout/sessions', PAST_RETRIES, 'reset');
      const cut = await refusedAgain(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect(cut.body.error.message).toMatch(retryable('unreachable'));
      expect(stripe.sessions.size).toBe(0);

      const opened = await subscribe();
      expect(opened.status).toBe(202);
      expect((await subscribe()).body).toEqual({ ...opened.body, replayed: true });
      expect(stripe.customers.size).toBe(1);
      expect(stripe.sessions.size).toBe(1);
      expect(new Set(asked('/v1/checkout/sessions').map((r) => r.idempotencyKey))).toEqual(new Set(['sub-1']));
    });

    it('a pack checkout refused for the rate is a 502 that changed nothing (the SDK does not retry a 429); the retry buys once', async () => {
      await api.billing.subscribe('acme', 'plus').then((pending) => pay((pending as { checkoutUrl: string }).checkoutUrl));
      const before = (await api.billing.balance('acme')).availableMicros;
      stripe.failNext('/v1/checkout/sessions', 1, 429);
      const limited = await api.refused(502, 'processor_error', 'POST', '/v1/accounts/acme/purchases', { pack: 'extra-10' }, { 'Idempotency-Key': 'buy-1' });
      expect(limited.body.error.message).toMatch(retryable('too many requests'));
      expect(stripe.failed).toHaveLength(1);

      const bought = await api.call('POST', '/v1/accounts/acme/purchases', { pack: 'extra-10' }, { 'Idempotency-Key': 'buy-1' });
      expect(bought.status).toBe(202);
      await pay(bought.body.checkoutUrl);
      expect((await api.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
      expect(asked('/v1/checkout/sessions').filter((r) => r.idempotencyKey === 'buy-1')).toHaveLength(1);
    });

    it('the portal, a plan change and a cancel while Stripe fails are 502s that changed nothing; each goes through once it answers', async () => {
      await api.billing.subscribe('acme', 'plus').then((pending) => pay((pending as { checkoutUrl: string }).checkoutUrl));
      const subscription = [...stripe.subscriptions.keys()][0]!;
      const refused = await api.refusals();

      stripe.failNext('/v1/billing_portal/sessions', PAST_RETRIES, 500);
      expect((await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/portal', { returnUrl: OK })).body.error.message).toMatch(retryable('error 500'));
      expect((await api.call('POST', '/v1/accounts/acme/portal', { returnUrl: OK })).status).toBe(200);

      stripe.failNext(`/v1/subscriptions/${subscription}`, PAST_RETRIES, 503);
      await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'max' }, { 'Idempotency-Key': 'up-1' });
      expect(stripe.subscriptions.get(subscription)!.items.data[0].price.unit_amount).toBe(20_00);
      expect((await api.call('POST', '/v1/accounts/acme/subscription', { plan: 'max' }, { 'Idempotency-Key': 'up-1' })).status).toBe(200);
      expect((await api.billing.balance('acme')).plan.slug).toBe('max');
      expect(asked(`/v1/subscriptions/${subscription}`)).toHaveLength(1);

      stripe.failNext(`/v1/subscriptions/${subscription}`, PAST_RETRIES, 'reset');
      const before = await api.state();
      const cancel = await api.call('POST', '/v1/accounts/acme/subscription/cancel', {}, { 'Idempotency-Key': 'end-1' });
      expect({ status: cancel.status, code: cancel.body.error.code }).toEqual({ status: 502, code: 'processor_error' });
      expect(await api.state()).toEqual(before);
      expect(stripe.subscriptions.get(subscription)!.cancel_at_period_end).toBe(false);
      expect((await api.call('POST', '/v1/accounts/acme/subscription/cancel', {}, { 'Idempotency-Key': 'end-1' })).status).toBe(200);
      expect(stripe.subscriptions.get(subscription)!.cancel_at_period_end).toBe(true);
    });

    it("an admin's refund while Stripe fails is a 502 that stored no refund; the retry refunds once", async () => {
      await api.billing.subscribe('acme', 'plus').then((pending) => pay((pending as { checkoutUrl: string }).checkoutUrl));
      await api.billing.purchase('acme', 'extra-10').then((pending) => pay((pending as { checkoutUrl: string }).checkoutUrl));
      const pack = (await api.call('GET', '/v1/accounts/acme/payments')).body.data.find((p: { kind: string }) => p.kind === 'pack');
      const refund = `/v1/accounts/acme/payments/${pack.id}/refund`;

      const before = await api.state();
      stripe.failNext('/v1/refunds', PAST_RETRIES, 503);
      const down = await api.call('POST', refund, {}, { 'Idempotency-Key': 'refund-1' });
      expect({ status: down.status, code: down.body.error.code }).toEqual({ status: 502, code: 'processor_error' });
      expect(down.body.error.message).toMatch(retryable('error 503'));
      expect(stripe.refunds.size).toBe(0);
      // Nothing moved; what was asked is kept, so that the retry asks for the same refund.
      const after = await api.state();
      expect({ ...after.rows, effect_keys: null }).toEqual({ ...before.rows, effect_keys: null });
      expect(after.balances).toEqual(before.balances);
      expect(after.rows.effect_keys).toEqual([expect.stringMatching(/^\(refund_payment_asked:refund-1,/)]);

      const refunded = await api.call('POST', refund, {}, { 'Idempotency-Key': 'refund-1' });
      expect(refunded.status).toBe(201);
      expect((await api.call('POST', refund, {}, { 'Idempotency-Key': 'refund-1' })).body).toEqual({ ...refunded.body, replayed: true });
      expect(stripe.refunds.size).toBe(1);
      expect((await api.billing.balance('acme')).availableMicros).toBe((before.balances.acme as { availableMicros: number }).availableMicros - 10_000_000);
    });
  });
}
