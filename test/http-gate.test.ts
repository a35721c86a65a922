/**
 * The gate over HTTP: authorize, settle and release, record and record batches, refunds and
 * usage reports, with the numbers they charge; a refusal as a 402 that carries it; and a
 * charge's Idempotency-Key as the charge's own key, so that no retry charges twice.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { apiWorld, TEST_MODEL } from './support/api-world.ts';
import { useApi } from './support/http.ts';

for (const engine of ENGINES) {
  describe(`the gate over HTTP on ${engine.name}`, () => {
    const api = useApi(engine);

    it('authorizes a call, settles what it used and frees the rest, and reports it in the balance and usage', async () => {
      await apiWorld(api.billing);
      const before = await api.call('GET', '/v1/accounts/acme/balance');
      expect(before.body).toMatchObject({ accountId: 'acme', plan: { slug: 'plus' }, availableMicros: 25_000_000, heldMicros: 0, debtMicros: 0 });

      // 1,000 input and at most 500 output tokens: $0.002 of cost, $0.004 of value at a 50% margin.
      const auth = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 500, userId: 'u_7' }, { 'Idempotency-Key': 'auth-1' });
      expect(auth.status).toBe(201);
      expect(auth.body.hold).toMatchObject({ accountId: 'acme', model: 'test-model', provider: 'test', amountMicros: 4_000, tokens: 1_500 });
      expect(Date.parse(auth.body.hold.expiresAt)).toBeGreaterThan(api.clock.now.getTime());
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 24_996_000, heldMicros: 4_000 });

      const settled = await api.call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 1_000, outputTokens: 200 }, metadata: { chat: 'c1' } }, { 'Idempotency-Key': 'msg-1' });
      expect(settled.status).toBe(200);
      expect(settled.body).toEqual({
        usageEventId: expect.any(Number), accountId: 'acme', holdId: auth.body.hold.id, model: 'test-model', provider: 'test',
        costMicros: 1_400, valueMicros: 2_800, debtMicros: 0, replayed: false,
      });
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 24_997_200, heldMicros: 0 });

      const usage = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01');
      expect(usage.status).toBe(200);
      expect(usage.body).toMatchObject({ accountId: 'acme', from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z', groupBy: 'model' });
      const row = { events: 1, inputTokens: 1_000, outputTokens: 200, costMicros: 1_400, valueMicros: 2_800, refundedMicros: 0, marginMicros: 1_400 };
      expect(usage.body.rows).toEqual([expect.objectContaining({ key: 'test-model', ...row })]);
      expect(usage.body.total).toEqual(expect.objectContaining({ key: 'total', ...row }));
      const reconciliation = await api.call('GET', '/v1/accounts/acme/reconciliation');
      expect(reconciliation.body).toEqual({ accountId: 'acme', ok: true, problems: [] });
    });

    it('refuses with a 402 that carries the refusal: its code, a message, a remedy and when a limit resets; nothing is held or charged', async () => {
      await apiWorld(api.billing);
      await api.billing.admin.setModelPrice({ model: 'gpt-4o-mini', effectiveFrom: '2020-01-01', rates: { input: '1', output: '2' } });
      // Free allows cheap models only.
      const before = await api.state();
      const notAllowed = await api.call('POST', '/v1/accounts/solo/authorize', { ...TEST_MODEL, inputTokens: 10 });
      expect(notAllowed.status).toBe(402);
      expect(notAllowed.body).toEqual({ error: { type: 'refusal', code: 'model_not_allowed', message: 'The Free plan does not include the model "test-model". Upgrade the plan to continue.', reason: 'The Free plan does not include the model "test-model".', remedy: { kind: 'upgrade' } } });

      // Free's daily limit is $0.10: a call that could cost $0.12 of value is more than any day allows, so no reset is offered.
      const limited = await api.call('POST', '/v1/accounts/solo/authorize', { model: 'gpt-4o-mini', maxOutputTokens: 30_000 }, { 'Idempotency-Key': 'limited' });
      expect(limited.status).toBe(402);
      expect(limited.body.error).toEqual({
        type: 'refusal', code: 'daily_limit', remedy: { kind: 'upgrade' },
        reason: "This request could use more than this account's whole daily limit of 10 credits.", // $0.10, in the display unit
        message: "This request could use more than this account's whole daily limit of 10 credits. Upgrade the plan to continue.",
      });
      // Nothing held or charged. (The first call of a period opens its allowance, which the balance counted already.)
      const after = await api.state();
      const amounts = (state: typeof before) => Object.values(state.balances).map((b) => { const { availableMicros, heldMicros, debtMicros } = b as Record<string, number>; return { availableMicros, heldMicros, debtMicros }; });
      expect(amounts(after)).toEqual(amounts(before));
      expect([after.rows.holds, after.rows.usage_events]).toEqual([before.rows.holds, before.rows.usage_events]);
      // The refusal is the key's answer: a retry gets it again.
      const again = await api.call('POST', '/v1/accounts/solo/authorize', { model: 'gpt-4o-mini', maxOutputTokens: 30_000 }, { 'Idempotency-Key': 'limited' });
      expect({ status: again.status, body: again.body, replayed: again.headers.get('Idempotent-Replayed') }).toEqual({ status: 402, body: limited.body, replayed: 'true' });

      // Usage recorded beyond the balance is debt, never free; the gate then refuses with debt.
      const record = await api.call('POST', '/v1/accounts/solo/usage-records', { model: 'gpt-4o-mini', usage: { inputTokens: 1_000_000, outputTokens: 0 } }, { 'Idempotency-Key': 'big' });
      expect(record.status).toBe(200);
      expect(record.body).toMatchObject({ valueMicros: 2_000_000, debtMicros: 1_500_000 });
      const debt = await api.call('POST', '/v1/accounts/solo/authorize', { model: 'gpt-4o-mini', inputTokens: 10 });
      expect(debt.body.error).toMatchObject({ type: 'refusal', code: 'debt' });
    });

    it('charges a settle once per Idempotency-Key, which the charge itself keeps (the API stores nothing for it)', async () => {
      await apiWorld(api.billing);
      const auth = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 500 });
      const settle = () => api.call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 1_000, outputTokens: 200 } }, { 'Idempotency-Key': 'msg-1' });
      const first = await settle();
      expect(first.body.replayed).toBe(false);
      const balance = (await api.call('GET', '/v1/accounts/acme/balance')).body;
      expect(await api.sql.query('SELECT key FROM api_idempotency')).toEqual([]);
      const retry = await settle();
      expect(retry.status).toBe(200);
      expect(retry.headers.get('Idempotent-Replayed')).toBe('true');
      expect(retry.body).toEqual({ ...first.body, replayed: true });
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body).toEqual(balance);

      // Settling it again under another key, or releasing it: it is settled.
      const other = await api.call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 1_000, outputTokens: 200 } }, { 'Idempotency-Key': 'msg-2' });
      expect({ status: other.status, code: other.body.error.code }).toEqual({ status: 409, code: 'hold_settled' });
      const release = await api.call('POST', `/v1/holds/${auth.body.hold.id}/release`);
      expect({ status: release.status, code: release.body.error.code }).toEqual({ status: 409, code: 'hold_settled' });
    });

    it('releases a hold once and for all: released again is released, settled after is a 409', async () => {
      await apiWorld(api.billing);
      const auth = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 1_000 });
      expect((await api.call('POST', `/v1/holds/${auth.body.hold.id}/release`)).body).toEqual({ holdId: auth.body.hold.id, status: 'released' });
      expect((await api.call('POST', `/v1/holds/${auth.body.hold.id}/release`)).body).toEqual({ holdId: auth.body.hold.id, status: 'released' });
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 25_000_000, heldMicros: 0 });
      const settle = await api.call('POST', `/v1/holds/${auth.body.hold.id}/settle`, { usage: { inputTokens: 1_000, outputTokens: 0 } }, { 'Idempotency-Key': 'late' });
      expect({ status: settle.status, code: settle.body.error.code }).toEqual({ status: 409, code: 'hold_released' });
    });

    it('answers a call on an account not made yet with a 404 that says how to make it over HTTP', async () => {
      const auth = await api.call('POST', '/v1/accounts/ghost/authorize', { ...TEST_MODEL, inputTokens: 1, maxOutputTokens: 1 });
      expect(auth.status).toBe(404);
      expect(auth.body.error).toMatchObject({ code: 'account_not_found', message: expect.stringContaining('PUT /v1/accounts/{id}') });
    });

    it('records a batch of 1,000 usages across accounts in one go; a batch item reused with other usage fails the whole batch', async () => {
      await apiWorld(api.billing);
      const items = Array.from({ length: 1_000 }, (_, i) => ({
        accountId: i % 2 === 0 ? 'acme' : 'solo', model: i % 2 === 0 ? 'test-model' : 'gpt-4o-mini', usage: { inputTokens: 1_000, outputTokens: 0 }, idempotencyKey: `item-${i}`,
      }));
      await api.billing.admin.setModelPrice({ model: 'gpt-4o-mini', effectiveFrom: '2020-01-01', rates: { input: '1', output: '2' } });
      const batch = await api.call('POST', '/v1/usage-records/batch', { items }, { 'Idempotency-Key': 'batch-1' });
      expect(batch.status).toBe(200);
      expect(batch.body.data).toHaveLength(1_000);
      expect(batch.body.data.every((c: { valueMicros: number; replayed: boolean }) => c.valueMicros === 2_000 && !c.replayed)).toBe(true);
      expect(batch.body.data.filter((c: { accountId: string }) => c.accountId === 'solo')).toHaveLength(500);
      // 500 × $0.002 on solo is $1 of value; Free had $0.50: the rest is debt.
      expect((await api.call('GET', '/v1/accounts/solo/balance')).body).toMatchObject({ availableMicros: 0, debtMicros: 500_000 });

      // The same items again, under another request key: each answered by its first charge.
      const again = await api.call('POST', '/v1/usage-records/batch', { items: items.slice(0, 3) }, { 'Idempotency-Key': 'batch-2' });
      expect(again.body.data.map((c: { usageEventId: number; replayed: boolean }) => [c.usageEventId, c.replayed])).toEqual(
        batch.body.data.slice(0, 3).map((c: { usageEventId: number }) => [c.usageEventId, true]),
      );
      const before = await api.state();
      const conflict = await api.call('POST', '/v1/usage-records/batch', { items: [{ ...items[10]!, idempotencyKey: 'fresh' }, { ...items[0]!, usage: { inputTokens: 5, outputTokens: 0 } }] });
      expect({ status: conflict.status, code: conflict.body.error.code }).toEqual({ status: 409, code: 'idempotency_conflict' });
      expect(conflict.body.error.message).toMatch(/^Item 1:/);
      expect(await api.state()).toEqual(before);
    });

    it('refunds all or part of a charge, into the buckets it came from, and no more than it drew', async () => {
      await apiWorld(api.billing);
      const charge = await api.call('POST', '/v1/accounts/acme/usage-records', { ...TEST_MODEL, usage: { inputTokens: 1_000_000, outputTokens: 0 } }, { 'Idempotency-Key': 'r1' });
      expect(charge.body).toMatchObject({ costMicros: 1_000_000, valueMicros: 2_000_000 });
      const part = await api.call('POST', '/v1/refunds', { usageEventId: charge.body.usageEventId, amountMicros: 500_000 }, { 'Idempotency-Key': 'refund-1' });
      expect(part.status).toBe(201);
      expect(part.body).toEqual({ usageEventId: charge.body.usageEventId, refundedMicros: 500_000, toBuckets: [{ bucketId: expect.any(Number), amountMicros: 500_000 }], debtForgivenMicros: 0, replayed: false });
      const tooMuch = await api.call('POST', '/v1/refunds', { usageEventId: charge.body.usageEventId, amountMicros: 5_000_000 }, { 'Idempotency-Key': 'refund-big' });
      expect(tooMuch.body.error).toMatchObject({ code: 'refund_exceeds_charge', message: `Usage event ${charge.body.usageEventId} has $1.50 left to refund; asked for $5.00` });
      const rest = await api.call('POST', '/v1/refunds', { usageEventId: charge.body.usageEventId }, { 'Idempotency-Key': 'refund-2' });
      expect(rest.body.refundedMicros).toBe(1_500_000);
      const more = await api.call('POST', '/v1/refunds', { usageEventId: charge.body.usageEventId, amountMicros: 1 }, { 'Idempotency-Key': 'refund-3' });
      expect({ status: more.status, code: more.body.error.code }).toEqual({ status: 400, code: 'refund_exceeds_charge' });
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body.availableMicros).toBe(25_000_000);
      const usage = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-10&to=2026-03-11&groupBy=day');
      expect(usage.body.rows).toEqual([expect.objectContaining({ key: '2026-03-10', costMicros: 1_000_000, valueMicros: 2_000_000, refundedMicros: 2_000_000, marginMicros: -1_000_000 })]);
    });

    it('reports usage by model and by day in the account\'s time zone, over the range asked', async () => {
      await apiWorld(api.billing);
      await api.call('PUT', '/v1/accounts/acme', { kind: 'team', timeZone: 'America/New_York' });
      const record = (key: string, inputTokens: number, model = 'test-model') =>
        api.call('POST', '/v1/accounts/acme/usage-records', { model, usage: { inputTokens, outputTokens: 0 } }, { 'Idempotency-Key': key });
      await api.billing.admin.setModelPrice({ model: 'other-model', effectiveFrom: '2020-01-01', rates: { input: '3', output: '3' } });
      await record('a', 1_000); // 2026-03-10 12:00 UTC: the 10th in New York
      api.clock.set('2026-03-11T03:00:00Z'); // still the 10th in New York
      await record('b', 2_000, 'other-model');
      api.clock.set('2026-03-11T15:00:00Z');
      await record('c', 3_000);
      const byDay = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-01T00:00:00-05:00&to=2026-04-01&groupBy=day');
      expect(byDay.body.rows.map((r: { key: string; events: number; valueMicros: number }) => [r.key, r.events, r.valueMicros])).toEqual([
        ['2026-03-10', 2, 2_000 + 12_000],
        ['2026-03-11', 1, 6_000],
      ]);
      const byModel = await api.call('GET', '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01&groupBy=model');
      expect(byModel.body.rows.map((r: { key: string; costMicros: number; valueMicros: number; marginMicros: number }) => [r.key, r.costMicros, r.valueMicros, r.marginMicros])).toEqual([
        ['other-model', 6_000, 12_000, 6_000],
        ['test-model', 4_000, 8_000, 4_000],
      ]);
      expect(byModel.body.total).toMatchObject({ events: 3, costMicros: 10_000, valueMicros: 20_000, marginMicros: 10_000 });
      const empty = await api.call('GET', '/v1/accounts/acme/usage?from=2026-02-01&to=2026-03-01');
      expect(empty.body.rows).toEqual([]);
      expect(empty.body.total).toMatchObject({ events: 0, valueMicros: 0 });
    });
  });
}
