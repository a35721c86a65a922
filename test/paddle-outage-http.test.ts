/**
 * Paddle failing (its 500, a gateway's 502 page, a connection cut, a 429), with the real SDK
 * against the local fake of its API, under each call the API makes of it: the customer, a
 * checkout, the portal, a plan change, a cancel, an admin's refund. The SDK retries nothing:
 * each is a 502 processor_error at once, saying the request may be retried, that changed nothing
 * here, and the library's is a BillingError; the same request again, once Paddle answers, asks
 * Paddle once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BillingError } from '../src/core/errors.ts';
import { fakeProcessor } from '../src/index.ts';
import type { Processor } from '../src/engine/processor.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { ENGINES } from './support/harness.ts';
import { useApi } from './support/http.ts';
import { PaddleFake } from './support/paddle-fake.ts';

const OK = 'https://app.example/ok';

for (const engine of ENGINES) {
  describe(`Paddle failing under the API on ${engine.name}`, () => {
    let paddle: PaddleFake;
    const processors: Processor[] = [fakeProcessor()];
    beforeEach(async () => {
      paddle = await PaddleFake.start();
      processors[1] = paddleProcessor({ apiKey: paddle.apiKey, webhookSecret: paddle.webhookSecret, apiBase: paddle.url });
    });
    afterEach(async () => {
      await paddle.close();
    });
    const api = useApi(engine, { processors });

    /** Paddle's events since `from`, handed to the engine as Paddle signs them. */
    async function deliver(from: number) {
      for (const event of paddle.events.slice(from)) {
        const body = JSON.stringify(event);
        await api.billing.receiveWebhook('paddle', body, new Headers({ 'paddle-signature': paddle.sign(body) }));
      }
    }
    /** The checkout a pending answer opens, paid, and its webhooks applied. */
    async function pay(checkoutUrl: string) {
      const from = paddle.events.length;
      await paddle.completeTransaction(paddle.transactionAt(checkoutUrl).id);
      await deliver(from);
    }
    const retryable = (why: string) => new RegExp(`^Paddle failed to answer \\(${why}\\): nothing was changed here; retry the request in a moment, with the same idempotency key$`);
    const posted = (path: string) => paddle.requests.filter((r) => r.method !== 'GET' && r.path === path);

    beforeEach(async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      await api.billing.admin.updatePlan('plus', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await api.billing.admin.updatePack('extra-10', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 10_00 }) } });
      await api.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 50_00, overage: 'credits', sort: 2 });
      await api.billing.admin.updatePlan('max', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 50_00, interval: 'month' }) } });
      await api.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
    });

    it('a checkout while Paddle fails is a 502 (a BillingError in the library) that changed nothing; once it answers, one checkout', async () => {
      const refused = await api.refusals();
      paddle.failNext('/customers', 1, 500);
      const down = await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect(down.body.error).toMatchObject({ type: 'api_error', message: expect.stringMatching(retryable('internal_error')) });
      expect(paddle.customers.size).toBe(0);

      // The customer Paddle made is stored before the transaction is asked for, and kept: nothing else changes.
      paddle.failNext('/transactions', 1, 502);
      const gateway = await api.call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect({ status: gateway.status, code: gateway.body.error.code }).toEqual({ status: 502, code: 'processor_error' });
      expect(gateway.body.error.message).toMatch(retryable("an answer that is not its API's"));
      expect(paddle.customers.size).toBe(1);
      const refusedAgain = await api.refusals();
      paddle.failNext('/transactions', 1, 'reset');
      expect((await refusedAgain(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' })).body.error.message).toMatch(retryable('unreachable'));
      paddle.failNext('/transactions', 1, 429);
      const limited = await api.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' }).catch((error: unknown) => error);
      expect(limited).toBeInstanceOf(BillingError);
      expect(limited).toMatchObject({ code: 'processor_error', message: expect.stringMatching(retryable('too many requests')) });
      expect(paddle.transactions.size).toBe(0);
      expect(paddle.failed).toHaveLength(4);

      const opened = await api.call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect(opened.status).toBe(202);
      expect((await api.call('POST', '/v1/accounts/acme/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' })).body).toEqual({ ...opened.body, replayed: true });
      expect(paddle.customers.size).toBe(1);
      expect(paddle.transactions.size).toBe(1);
    });

    it('the portal, a plan change, a refund and a cancel while Paddle fails are 502s that changed nothing; each goes through once it answers', async () => {
      await api.billing.subscribe('acme', 'plus').then((pending) => pay((pending as { checkoutUrl: string }).checkoutUrl));
      const subscription = [...paddle.subscriptions.keys()][0]!;
      const customer = [...paddle.customers.keys()][0]!;
      const refused = await api.refusals();

      paddle.failNext(`/customers/${customer}/portal-sessions`, 1, 503);
      await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/portal', { returnUrl: OK });
      expect((await api.call('POST', '/v1/accounts/acme/portal', { returnUrl: OK })).status).toBe(200);

      paddle.failNext(`/subscriptions/${subscription}`, 1, 500);
      await refused(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription', { plan: 'max' }, { 'Idempotency-Key': 'up-1' });
      expect(posted(`/subscriptions/${subscription}`)).toHaveLength(0);
      expect((await api.call('POST', '/v1/accounts/acme/subscription', { plan: 'max' }, { 'Idempotency-Key': 'up-1' })).status).toBe(200);
      expect((await api.billing.balance('acme')).plan.slug).toBe('max');
      expect(posted(`/subscriptions/${subscription}`)).toHaveLength(1);

      const payment = (await api.call('GET', '/v1/accounts/acme/payments')).body.data[0];
      const refund = `/v1/accounts/acme/payments/${payment.id}/refund`;
      // Paddle failing is no refusal of the refund, whichever of its calls it fails.
      const before = await api.state();
      for (const path of ['GET /adjustments', 'POST /adjustments']) {
        paddle.failNext(path, 1, 500);
        const down = await api.call('POST', refund, { amountCents: 5_00 }, { 'Idempotency-Key': 'refund-1' });
        expect({ status: down.status, code: down.body.error.code, message: down.body.error.message }).toEqual({ status: 502, code: 'processor_error', message: expect.stringMatching(retryable('internal_error')) });
        const after = await api.state();
        expect({ ...after.rows, effect_keys: null }).toEqual({ ...before.rows, effect_keys: null });
      }
      expect(paddle.adjustments.size).toBe(0);
      expect((await api.call('POST', refund, { amountCents: 5_00 }, { 'Idempotency-Key': 'refund-1' })).status).toBe(201);
      expect(paddle.adjustments.size).toBe(1);

      const refusedAgain = await api.refusals();
      paddle.failNext(`/subscriptions/${subscription}/cancel`, 1, 'reset');
      await refusedAgain(502, 'processor_error', 'POST', '/v1/accounts/acme/subscription/cancel', {}, { 'Idempotency-Key': 'end-1' });
      expect(paddle.subscriptions.get(subscription)!.scheduled_change).toBeNull();
      expect((await api.call('POST', '/v1/accounts/acme/subscription/cancel', {}, { 'Idempotency-Key': 'end-1' })).status).toBe(200);
      expect(paddle.subscriptions.get(subscription)!.scheduled_change).toMatchObject({ action: 'cancel' });
    });
  });
}
