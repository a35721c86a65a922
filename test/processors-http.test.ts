/**
 * Processors over the /v1 API, on both engines, with the real Stripe SDK against the local fake
 * of its API: the catalog sync is an admin call behind the secret key (made, then found; a
 * processor not configured is a 409; Stripe failing is a 502 that stores nothing), and an
 * account moves to another configured processor with PUT /v1/accounts/{id}, refused with a 4xx
 * that says why for a processor not configured here or while its subscription elsewhere has not
 * ended. Every answer is checked against the OpenAPI document.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeProcessor } from '../src/index.ts';
import type { Processor } from '../src/engine/processor.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ENGINES } from './support/harness.ts';
import { useApi } from './support/http.ts';
import { StripeFake } from './support/stripe-fake.ts';

for (const engine of ENGINES) {
  describe(`processors over HTTP on ${engine.name}`, () => {
    let stripe: StripeFake;
    const processors: Processor[] = [fakeProcessor()];
    beforeEach(async () => {
      stripe = await StripeFake.start();
      processors[1] = stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/done' });
    });
    afterEach(async () => {
      await stripe.close();
    });
    const api = useApi(engine, { processors });

    it('syncs the catalog behind the secret key: made, then found; a processor not configured is a 409', async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      const anonymous = await api.call('POST', '/v1/admin/processors/stripe/sync', undefined, { Authorization: null });
      expect(anonymous.status).toBe(401);
      expect((await api.call('POST', '/v1/admin/processors/stripe/sync', undefined, { Authorization: 'Bearer tg_sk_not_the_key' })).status).toBe(401);
      expect(stripe.prices.size).toBe(0);

      const first = await api.call('POST', '/v1/admin/processors/stripe/sync');
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ processor: 'stripe', created: 2, linked: 0, unchanged: 0, archived: 0 });
      expect(first.body.items.map((i: { slug: string; outcome: string }) => [i.slug, i.outcome])).toEqual([['plus', 'created'], ['extra-10', 'created']]);
      expect((await api.call('GET', '/v1/admin/plans/plus')).body.processorPrices).toEqual({ stripe: first.body.items[0].priceId });

      const second = await api.call('POST', '/v1/admin/processors/stripe/sync');
      expect(second.body).toMatchObject({ created: 0, unchanged: 2 });
      expect(stripe.prices.size).toBe(2);

      const unknown = await api.refused(409, 'processor_not_configured', 'POST', '/v1/admin/processors/paddle/sync');
      expect(unknown.body.error.message).toMatch(/No processor "paddle" is configured here: choose one of fake, stripe/);
    });

    it('answers a sync Stripe did not complete with a 502, storing nothing', async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      stripe.loseAnswers = (method, path) => method === 'POST' && path === '/v1/prices';
      const failed = await api.call('POST', '/v1/admin/processors/stripe/sync');
      expect(failed.status).toBe(502);
      expect(failed.body.error).toMatchObject({ code: 'processor_error', message: expect.stringMatching(/^stripe did not complete the catalog sync: .+ Nothing was stored/) });
      expect((await api.billing.admin.getPlan('plus')).processorPrices).toEqual({});
      stripe.loseAnswers = undefined;
      expect((await api.call('POST', '/v1/admin/processors/stripe/sync')).body).toMatchObject({ created: 1, linked: 1 });
      expect(stripe.prices.size).toBe(2);
    });

    it('moves an account to another configured processor, and refuses one not configured or a move that leaves a subscription elsewhere', async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      expect((await api.call('PUT', '/v1/accounts/acme', { kind: 'team' })).body.processor).toBe('fake');
      const unknown = await api.refused(409, 'processor_not_configured', 'PUT', '/v1/accounts/acme', { kind: 'team', processor: 'square' });
      expect(unknown.body.error.message).toMatch(/No processor "square" is configured here: choose one of fake, stripe/);
      await api.refused(400, 'invalid_input', 'PUT', '/v1/accounts/acme', { kind: 'team', processor: '' });

      // On a paid plan through the fake processor: a subscription there, which would not follow it.
      await api.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' });
      const refused = await api.refused(409, 'subscription_active', 'PUT', '/v1/accounts/acme', { kind: 'team', processor: 'stripe' });
      expect(refused.body.error.message).toMatch(/^Account "acme" has a subscription at fake \(fake_sub_[\w-]+\): cancel it first/);

      // Canceled at the period's end: still refused until it ends, saying when.
      await api.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' });
      const ending = await api.refused(409, 'subscription_active', 'PUT', '/v1/accounts/acme', { kind: 'team', processor: 'stripe' });
      expect(ending.body.error.message).toMatch(/which ends \d{4}-\d\d-\d\dT[\d:.]+Z: move it then, or cancel the subscription now/);
      await api.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-2' });

      const moved = await api.call('PUT', '/v1/accounts/acme', { kind: 'team', processor: 'stripe' });
      expect(moved.status).toBe(200);
      expect(moved.body.processor).toBe('stripe');
      expect((await api.call('GET', '/v1/accounts/acme')).body.processor).toBe('stripe');
      // The API's key holder is the server: it may put an account back on the fake processor.
      expect((await api.call('PUT', '/v1/accounts/acme', { kind: 'team', processor: 'fake' })).body.processor).toBe('fake');
    });
  });
}
