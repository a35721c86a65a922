/**
 * Gating a whole endpoint: canStart weighs the gate's rules on a fresh read and places nothing;
 * guard(billing) answers its refusal as the server's 402 before the route runs.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { guard } from '../src/hono/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';

type Env = { Variables: { accountId: string; userId: string } };

for (const engine of ENGINES) {
  describe(`route guard and canStart on ${engine.name}`, () => {
    const t = useBilling(engine);

    function app(route: (app: Hono<Env>) => void) {
      const hono = new Hono<Env>();
      // The app's own auth: who is calling, for which account.
      hono.use('*', async (c, next) => {
        c.set('accountId', c.req.header('x-account') ?? '');
        const user = c.req.header('x-user');
        if (user) c.set('userId', user);
        await next();
      });
      route(hono);
      return (account: string, user?: string) => hono.request('/chat', { method: 'POST', headers: { 'x-account': account, ...(user ? { 'x-user': user } : {}) } });
    }

    it('lets a request through, placing nothing; answers a refusal as a 402 in the server shape, before the route runs', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('usage-subscription'); // free: $0.50 a month, $0.10 a day
      await billing.upsertAccount({ id: 'acc', kind: 'personal' });
      let ran = 0;
      const post = app((hono) => hono.post('/chat', guard(billing), (c) => {
        ran++;
        return c.text('answered');
      }));

      const ok = await post('acc');
      expect([ok.status, await ok.text()]).toEqual([200, 'answered']);
      expect(await t.sql.query('SELECT 1 FROM holds')).toEqual([]);

      // The day's limit used up: $0.12 of usage ($0.06 at cost), past the $0.10 a day.
      await billing.record('acc', { model: 'gpt-4o-mini', usage: { inputTokens: 400_000, outputTokens: 0 } }, { idempotencyKey: 'big' });
      const refused = await post('acc');
      expect(refused.status).toBe(402);
      expect(await refused.json()).toEqual({
        error: {
          type: 'refusal', code: 'daily_limit', message: 'This account has reached its daily limit of $0.10. More becomes available at 00:00 UTC on Mar 11, 2026.',
          reason: 'This account has reached its daily limit of $0.10.',
          remedy: { kind: 'wait_until', at: '2026-03-11T00:00:00.000Z' }, resetsAt: '2026-03-11T00:00:00.000Z',
        },
      });
      expect(ran).toBe(1);
    });

    it("weighs a member's caps and the route's model", async () => {
      const { billing } = t;
      await billing.admin.applyPreset('usage-subscription');
      await billing.upsertAccount({ id: 'team', kind: 'team' });
      await billing.admin.setMemberLimits('team', 'u_capped', [{ window: 'month', unit: 'usd', amount: 5_000 }]);
      const post = app((hono) => hono.post('/chat', guard(billing), (c) => c.text('answered')));
      expect((await post('team', 'u_other')).status).toBe(200);
      const capped = await post('team', 'u_capped'); // the minimum hold ($0.01) is over a $0.005 cap: no new month lets a call through
      expect(capped.status).toBe(402);
      const { error } = await capped.json();
      expect(error).toMatchObject({ code: 'member_limit', reason: 'This request could use more than the whole monthly cap of $0.005 this account set for this member.', remedy: { kind: 'ask_account_admin' } });
      expect(error.resetsAt).toBeUndefined();

      const pinned = app((hono) => hono.post('/chat', guard(billing, { model: () => 'gpt-4o' }), (c) => c.text('answered')));
      expect(await (await pinned('team', 'u_other')).json()).toMatchObject({ error: { code: 'model_not_allowed', remedy: { kind: 'upgrade' } } });
    });

    it('canStart: ok with the allowance a new period opens, refused without value; a check, not a hold', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs'); // payg: $0.10 included, opened on the first call
      await billing.upsertAccount({ id: 'new', kind: 'personal' });
      expect(await billing.canStart('new')).toEqual({ ok: true });
      expect(await billing.canStart('new', { model: 'gpt-4o-mini', userId: 'u_1' })).toEqual({ ok: true });
      expect(await billing.canStart('new', { model: 'no-such-model' })).toMatchObject({ ok: false, code: 'unknown_model' });
      // Two checks of the last cent both pass: nothing is reserved between them.
      await billing.record('new', { model: 'gpt-4o-mini', usage: { inputTokens: 299_000, outputTokens: 0 } }, { idempotencyKey: 'most' });
      const [a, b] = await Promise.all([billing.canStart('new'), billing.canStart('new')]);
      expect([a.ok, b.ok]).toEqual([true, true]);
      await billing.record('new', { model: 'gpt-4o-mini', usage: { inputTokens: 10_000, outputTokens: 0 } }, { idempotencyKey: 'rest' });
      expect(await billing.canStart('new')).toMatchObject({ ok: false, code: 'insufficient_balance', remedy: { kind: 'buy_pack' } });
      expect(await t.sql.query('SELECT 1 FROM holds')).toEqual([]);
      await expect(billing.canStart('nobody')).rejects.toMatchObject({ code: 'account_not_found' });
    });
  });
}
