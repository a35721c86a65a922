/**
 * The usage report over HTTP grouped by member, as the library groups it: a team's page shows
 * who used what of the pool. The route and the library take one query schema, and the report
 * says which grouping it answers.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { apiWorld, TEST_MODEL } from './support/api-world.ts';
import { useApi } from './support/http.ts';

for (const engine of ENGINES) {
  describe(`usage by member over HTTP on ${engine.name}`, () => {
    const api = useApi(engine);

    it('groups a team\'s usage by the member who made each call, usage that named none under "", and agrees with the library', async () => {
      await apiWorld(api.billing);
      const record = (key: string, inputTokens: number, userId?: string) =>
        api.call('POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, ...(userId && { userId }), usage: { inputTokens, outputTokens: 0 } }, { 'Idempotency-Key': key });
      expect((await record('a', 1_000, 'u_ann')).status).toBe(200);
      expect((await record('b', 2_000, 'u_bob')).status).toBe(200);
      expect((await record('c', 3_000, 'u_ann')).status).toBe(200);
      expect((await record('d', 500)).status).toBe(200);

      const byUser = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01&groupBy=user');
      expect(byUser.status).toBe(200);
      expect(byUser.body.groupBy).toBe('user');
      // test-model costs $1 per million input tokens: value is twice that at a 50% margin.
      expect(byUser.body.rows.map((r: { key: string; events: number; inputTokens: number; valueMicros: number }) => [r.key, r.events, r.inputTokens, r.valueMicros])).toEqual([
        ['', 1, 500, 1_000],
        ['u_ann', 2, 4_000, 8_000],
        ['u_bob', 1, 2_000, 4_000],
      ]);
      expect(byUser.body.total).toMatchObject({ key: 'total', events: 4, inputTokens: 6_500, valueMicros: 13_000 });
      const library = await api.billing.usage('acme', { from: '2026-03-01', to: '2026-04-01', groupBy: 'user' });
      expect(byUser.body.rows.map((r: { key: string; valueMicros: number }) => [r.key, r.valueMicros])).toEqual(library.rows.map((r) => [r.key, r.valueMicros]));
    });

    it('refuses a grouping it does not know with a 400 that lists the ones it does', async () => {
      await apiWorld(api.billing);
      const bad = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01&groupBy=member');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('invalid_input');
      expect(bad.body.error.message).toMatch(/model.*day.*user/);
    });

    it('documents the grouping once: the query and the report name the same three', async () => {
      const doc = (await api.call('GET', '/v1/openapi.json')).body;
      const query = doc.paths['/accounts/{accountId}/usage'].get.parameters.find((p: { name: string }) => p.name === 'groupBy');
      expect(query.schema.enum).toEqual(['model', 'day', 'user']);
      expect(doc.components.schemas.UsageReport.properties.groupBy.enum).toEqual(['model', 'day', 'user']);
    });
  });
}
