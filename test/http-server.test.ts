/**
 * What every request meets before its route: the secret key (401, and nothing runs), what
 * needs no key (the pricing table, the API's documents, /healthz), the body's size and type,
 * the one error shape, and Idempotency-Key's rules (a key in use, a key taken over, input
 * refused before anything ran is not kept).
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { apiWorld, TEST_MODEL } from './support/api-world.ts';
import { API_KEY, useApi } from './support/http.ts';

for (const engine of ENGINES) {
  describe(`the server's rules on ${engine.name}`, () => {
    const api = useApi(engine);

    it('needs the secret key as a Bearer token everywhere but the pricing table, the documents and /healthz', async () => {
      await apiWorld(api.billing);
      const anonymous = { Authorization: null };
      expect((await api.call('GET', '/v1/pricing', undefined, anonymous)).status).toBe(200);
      expect((await api.call('GET', '/v1/pricing', undefined, { Authorization: 'Bearer wrong' })).status).toBe(200);
      const doc = await api.call('GET', '/v1/openapi.json', undefined, anonymous);
      expect(doc.status).toBe(200);
      const page = await api.app.request('/v1/docs');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("url: 'openapi.json'"); // /v1/openapi.json, beside the page
      const css = await api.app.request('/v1/docs/swagger-ui.css');
      expect([css.status, css.headers.get('content-type')]).toEqual([200, 'text/css']);
      expect(await (await api.app.request('/healthz')).json()).toEqual({ ok: true });

      for (const authorization of [null, '', 'Bearer', 'Bearer ', `bearer ${API_KEY}`, `Bearer ${API_KEY}x`, `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}`]) {
        const reply = await api.refused(401, 'unauthorized', 'POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, usage: { inputTokens: 1, outputTokens: 0 } }, {
          Authorization: authorization, 'Idempotency-Key': 'k',
        });
        expect(reply.body.error).toEqual({ type: 'authentication_error', code: 'unauthorized', message: 'Send the secret key as "Authorization: Bearer <key>"' });
      }
      // A refused key claimed nothing: the same Idempotency-Key then runs.
      expect((await api.call('POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, usage: { inputTokens: 1, outputTokens: 0 } }, { 'Idempotency-Key': 'k' })).status).toBe(200);
    });

    it('answers a path it does not serve with a 404 in the one error shape, and tags every answer with a request id', async () => {
      const reply = await api.call('GET', '/v1/nothing-here');
      expect(reply.status).toBe(404);
      expect(reply.body).toEqual({ error: { type: 'invalid_request_error', code: 'not_found', message: 'No route GET /v1/nothing-here: see /v1/docs' } });
      expect(reply.headers.get('x-request-id')).toMatch(/\S{8,}/);
      expect((await api.call('DELETE', '/v1/accounts/acme')).status).toBe(404);
    });

    it('trims an account id wherever it is given, as the account was stored: a PUT of " x " makes "x", which " x " then finds', async () => {
      await apiWorld(api.billing);
      const made = await api.call('PUT', '/v1/accounts/%20spaced%20', { kind: 'team' });
      expect(made.body).toMatchObject({ id: 'spaced' });
      for (const path of ['/v1/accounts/%20spaced%20', '/v1/accounts/spaced%20/balance', '/v1/accounts/%20spaced/payments']) {
        expect((await api.call('GET', path)).status, path).toBe(200);
      }
      expect(await api.billing.getAccount(' spaced ')).toMatchObject({ id: 'spaced' });
      const batch = await api.billing.recordBatch([{ accountId: 'spaced ', model: 'test-model', usage: { inputTokens: 0, outputTokens: 0 }, idempotencyKey: 'b1' }]);
      expect(batch).toHaveLength(1);
      await expect(api.billing.getAccount('   ')).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('refuses a body larger than 16 MiB with a 413, before reading it', async () => {
      await apiWorld(api.billing);
      const huge = JSON.stringify({ items: [{ accountId: 'acme', model: 'test-model', usage: { inputTokens: 1, outputTokens: 0 }, idempotencyKey: 'x', metadata: { pad: 'x'.repeat(17 * 1024 * 1024) } }] });
      const reply = await api.refused(413, 'payload_too_large', 'POST', '/v1/usage-records/batch', huge, { 'Idempotency-Key': 'huge' });
      expect(reply.body.error.message).toMatch(/16 MiB/);
    });

    it('keeps no answer for input refused before anything ran: the same key then runs the fixed request', async () => {
      await apiWorld(api.billing);
      const key = { 'Idempotency-Key': 'fix-me' };
      const bad = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: '5' }, key);
      expect(bad.status).toBe(400);
      const notJson = await api.call('POST', '/v1/accounts/acme/authorize', '{"model": "test-model",', key);
      expect(notJson.body.error.code).toBe('invalid_json');
      const good = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 5 }, key);
      expect(good.status).toBe(201);
      // What ran is kept, a 404 too: the key answers it again, and another body under it is a 409.
      const ghost = await api.call('POST', '/v1/accounts/ghost/authorize', TEST_MODEL, { 'Idempotency-Key': 'ghost' });
      expect(ghost.status).toBe(404);
      const replay = await api.call('POST', '/v1/accounts/ghost/authorize', TEST_MODEL, { 'Idempotency-Key': 'ghost' });
      expect([replay.status, replay.headers.get('Idempotent-Replayed')]).toEqual([404, 'true']);
    });

    it('answers a key whose first request is still being answered with a 409, and takes over one left for over a minute', async () => {
      await apiWorld(api.billing);
      const body = { ...TEST_MODEL, inputTokens: 1_000 };
      const first = await api.call('POST', '/v1/accounts/acme/authorize', body, { 'Idempotency-Key': 'probe' });
      expect(first.status).toBe(201);
      // A process that claimed the key for the same request and has not answered yet.
      await api.sql.query("INSERT INTO api_idempotency (key, request_hash) SELECT 'busy', request_hash FROM api_idempotency WHERE key = 'probe'");
      const busy = await api.refused(409, 'idempotency_key_in_use', 'POST', '/v1/accounts/acme/authorize', body, { 'Idempotency-Key': 'busy' });
      expect(busy.body.error.type).toBe('idempotency_error');
      // One that died: after a minute its key is taken over, and the request runs.
      await api.sql.query("UPDATE api_idempotency SET updated_at = now() - interval '2 minutes' WHERE key = 'busy'");
      const taken = await api.call('POST', '/v1/accounts/acme/authorize', body, { 'Idempotency-Key': 'busy' });
      expect(taken.status).toBe(201);
      expect(taken.body.hold.id).not.toBe(first.body.hold.id);
      const keyTooLong = await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/authorize', TEST_MODEL, { 'Idempotency-Key': 'k'.repeat(256) });
      expect(keyTooLong.body.error.param).toBe('Idempotency-Key');
    });

    it('answers a money-moving request again after a crash lost its stored answer: the effect found by its key, never made twice', async () => {
      await apiWorld(api.billing);
      const charge = await api.call('POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, usage: { inputTokens: 1_000_000, outputTokens: 0 } }, { 'Idempotency-Key': 'c1' });
      const requests: [string, unknown][] = [
        ['/v1/refunds', { usageEventId: charge.body.usageEventId, amountMicros: 1_000 }],
        ['/v1/accounts/acme/credits', { source: 'bonus', amountMicros: 1_000, reference: 'gift-after-crash' }],
        ['/v1/accounts/solo/subscription', { plan: 'plus' }],
        ['/v1/accounts/solo/purchases', { pack: 'extra-10' }],
        ['/v1/accounts/solo/subscription/cancel', {}],
      ];
      for (const [path, body] of requests) {
        const key = { 'Idempotency-Key': `crash-${path}` };
        const first = await api.call('POST', path, body, key);
        expect(first.status, JSON.stringify(first.body)).toBeLessThan(300);
        // The process died after the effect committed and before any answer was stored or sent.
        await api.sql.query('DELETE FROM api_idempotency');
        const before = await api.state();
        const retry = await api.call('POST', path, body, key);
        expect([retry.status, retry.headers.get('Idempotent-Replayed')]).toEqual([first.status, 'true']);
        expect(retry.body).toEqual({ ...first.body, replayed: true });
        expect(await api.state()).toEqual(before);
      }
    });

    it('never answers a 500 for strings PostgreSQL cannot store, wherever they are', async () => {
      await apiWorld(api.billing);
      const strange = ['\u0000', '\ud800', '\udfff', 'a\ud800b', '\u0000\ud83d'];
      for (const [i, s] of strange.entries()) {
        const key = { 'Idempotency-Key': `strange-${i}` };
        await api.refused(400, 'invalid_input', 'PUT', `/v1/accounts/acme`, { kind: 'team', name: `Acme${s}` });
        await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, [`x${s}`]: 1 }, key);
        await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, usage: { inputTokens: 1, outputTokens: 0 }, metadata: { [`k${s}`]: 'v' } }, key);
        await api.refused(400, 'invalid_input', 'POST', '/v1/usage-records/batch', { items: [{ accountId: `acme${s}`, ...TEST_MODEL, usage: { inputTokens: 1, outputTokens: 0 }, idempotencyKey: 'i' }] }, key);
        await api.refused(400, 'invalid_input', 'GET', `/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01${s.replace(/\u0000/g, '%00')}`);
      }
    });
  });
}
