/**
 * The /v1 API mounted in a host app under a prefix of its own (tollgate/hono's createApi), with
 * no error handler of the host's: it answers as the server does, in its one error shape, its
 * public routes need no key, and a charge's key is the charge's own.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createApi, loadCredentials } from '../src/hono/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';

const KEY = 'tg_sk_mounted_test_key';
const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };

for (const engine of ENGINES) {
  describe(`the API mounted under a host's prefix on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function host() {
      const app = new Hono();
      app.route('/billing/v1', createApi(t.billing, await loadCredentials(t.sql, { secretKey: KEY })));
      return async (method: string, path: string, body?: string, extra: Record<string, string> = {}) => {
        const response = await app.request(`/billing/v1${path}`, { method, headers: { ...headers, ...extra }, ...(body === undefined ? {} : { body }) });
        return { status: response.status, body: await response.json().catch(() => undefined) };
      };
    }

    it('answers errors in the API shape with their status, never a 500', async () => {
      const call = await host();
      expect(await call('GET', '/accounts/ghost')).toMatchObject({ status: 404, body: { error: { code: 'account_not_found' } } });
      expect(await call('POST', '/accounts/ghost/authorize', '{"model": 5}')).toMatchObject({
        status: 400, body: { error: { code: 'invalid_input', param: 'model', message: 'Invalid request: model: must be a string' } },
      });
      expect(await call('POST', '/accounts/ghost/authorize', '{"model": ')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
      expect(await call('POST', '/accounts/ghost/authorize', '{}', { 'Content-Type': 'text/plain' })).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
      expect(await call('GET', '/accounts/ghost', undefined, { Authorization: 'Bearer wrong' })).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      // A path no route serves: the API's not_found, not the host's own page.
      expect(await call('DELETE', '/accounts/ghost')).toEqual({
        status: 404, body: { error: { type: 'invalid_request_error', code: 'not_found', message: 'No route DELETE /billing/v1/accounts/ghost: see /billing/v1/docs' } },
      });
    });

    it('keeps no Idempotency-Key for a path no route serves: the request sent again to the right path runs under it', async () => {
      const call = await host();
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
      const request = JSON.stringify({ model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 });
      expect(await call('POST', '/accounts/acme/authorise', request, { 'Idempotency-Key': 'auth-1' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      expect(await call('POST', '/accounts/acme/authorize', request, { 'Idempotency-Key': 'auth-1' })).toMatchObject({ status: 201, body: { hold: { accountId: 'acme' } } });
    });

    it('serves the pricing table and its own documents without a key, the documents naming where it is mounted', async () => {
      await t.billing.admin.applyPreset('credit-packs');
      const app = new Hono();
      app.route('/billing/v1', createApi(t.billing, await loadCredentials(t.sql, { secretKey: KEY })));
      expect((await app.request('/billing/v1/pricing')).status).toBe(200);
      const doc = await app.request('/billing/v1/openapi.json');
      expect(doc.status).toBe(200);
      expect((await doc.json()).servers).toEqual([{ url: '/billing/v1' }]);
      const page = await (await app.request('/billing/v1/docs')).text();
      expect(page).toContain("url: 'openapi.json'"); // beside the page, wherever it is
      expect((await app.request('/billing/v1/docs/swagger-ui.css')).status).toBe(200);
    });

    it("keeps a charge's Idempotency-Key with the charge: the same key with other usage is the charge's idempotency_conflict", async () => {
      const call = await host();
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
      await t.billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'welcome' });
      const record = (outputTokens: number) =>
        call('POST', '/accounts/acme/usage-records', JSON.stringify({ model: 'gpt-4o-mini', usage: { inputTokens: 10, outputTokens } }), { 'Idempotency-Key': 'rec-1' });
      expect(await record(5)).toMatchObject({ status: 200, body: { replayed: false } });
      expect(await record(5)).toMatchObject({ status: 200, body: { replayed: true } });
      expect(await record(6)).toMatchObject({ status: 409, body: { error: { code: 'idempotency_conflict' } } });
      expect(await t.sql.query('SELECT key FROM api_idempotency')).toEqual([]);
    });
  });
}
