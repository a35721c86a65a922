import { describe, expect, it } from 'vitest';
import type { AccountInput, CreditInput, UsageQuery } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`gate on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('authorizes, settles and draws from the allowance', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('tiers');
      await billing.upsertAccount({ id: 'team-1', kind: 'team', name: 'Team' });
      await billing.subscribe('team-1', 'starter');
      const auth = await billing.authorize('team-1', { model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 500 });
      expect(auth.ok).toBe(true);
      if (!auth.ok) return;
      const charge = await billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 200 }, { idempotencyKey: 'k1' });
      // gpt-4o-mini: $0.15/M in, $0.60/M out → 150 + 120 = 270 µ$ cost, 540 µ$ value at 50% margin
      expect(charge.costMicros).toBe(270);
      expect(charge.valueMicros).toBe(540);
      const b = await billing.balance('team-1');
      expect(b.availableMicros).toBe(20_000_000 - 540);
      expect((await billing.reconcile('team-1')).problems).toEqual([]);
    });

    it("takes calls built apart from the facade, typed by the library's own input types", async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      const account: AccountInput = { id: 'built', kind: 'team', name: 'Built' };
      const gift: CreditInput = { source: 'bonus', amountMicros: 1_000, reference: 'built' };
      const range: UsageQuery = { from: '2026-01-01', to: '2100-01-01', groupBy: 'day' };
      await billing.upsertAccount(account);
      expect(await billing.credit('built', gift)).toMatchObject({ created: true });
      expect((await billing.usage('built', range)).rows).toEqual([]);
    });

    it('refuses a model with no price as unknown_model, even on a plan that lists its models: no upgrade could bill it', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free lists cheap models; Plus allows any
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      const refusal = await billing.authorize('solo', { model: 'my-own-model', inputTokens: 10, maxOutputTokens: 10 });
      expect(refusal).toMatchObject({ ok: false, code: 'unknown_model', remedy: { kind: 'contact_support' } });
      expect(await billing.canStart('solo', { model: 'my-own-model' })).toMatchObject({ ok: false, code: 'unknown_model' });
      // A model priced at another provider than the one asked: the reason names the provider, which is what to fix.
      expect(await billing.authorize('solo', { model: 'gpt-4o-mini', provider: 'anthropic', inputTokens: 10, maxOutputTokens: 10 })).toMatchObject({
        ok: false, code: 'unknown_model', reason: 'The model "gpt-4o-mini" at the provider "anthropic" has no price, so it cannot be billed.',
      });
      expect(await billing.canStart('solo', { model: 'gpt-4o-mini', provider: 'anthropic' })).toMatchObject({ ok: false, code: 'unknown_model', reason: expect.stringContaining('"anthropic"') });
      // A priced model the plan leaves out is still the plan's refusal.
      expect(await billing.authorize('solo', { model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 })).toMatchObject({ ok: false, code: 'model_not_allowed', remedy: { kind: 'upgrade' } });
    });

    it('says a limit not used up has less left than a call could use, instead of that it was reached', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free: 10 credits ($0.10) a day
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      // 6 credits used: 200,000 input tokens of gpt-4o-mini are $0.03 of cost, $0.06 of value.
      await billing.record('solo', { model: 'gpt-4o-mini', usage: { inputTokens: 200_000, outputTokens: 0 } }, { idempotencyKey: 'six' });
      // 40,000 output tokens could use about 4.8 credits: more than the 4 left, less than the whole day.
      const refused = await billing.authorize('solo', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 40_000 });
      expect(refused).toMatchObject({ ok: false, code: 'daily_limit', reason: "This request could use more than the 4 credits left of this account's daily limit of 10 credits.", remedy: { kind: 'wait_until' } });
      // A smaller call fits what is left.
      expect((await billing.authorize('solo', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 })).ok).toBe(true);
    });

    it('says a call larger than a whole limit is, and offers what would let it through instead of a reset that would not', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free: $0.10 a day, $0.50 a month; Plus above it
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      // Nothing used: 200,000 output tokens of gpt-4o-mini are $0.24 of value, more than the day allows.
      const alone = await billing.authorize('solo', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 200_000 });
      expect(alone).toEqual({
        ok: false, code: 'daily_limit', remedy: { kind: 'upgrade' },
        reason: "This request could use more than this account's whole daily limit of 10 credits.",
        message: "This request could use more than this account's whole daily limit of 10 credits. Upgrade the plan to continue.",
      });
      // The day used up: a small call is refused until the day ends, as before.
      await billing.record('solo', { model: 'gpt-4o-mini', usage: { inputTokens: 666_667, outputTokens: 0 } }, { idempotencyKey: 'day' });
      const reached = await billing.authorize('solo', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 });
      expect(reached).toMatchObject({ ok: false, code: 'daily_limit', reason: "This account has reached its daily limit of 10 credits.", remedy: { kind: 'wait_until' } });
      expect(reached.ok ? undefined : reached.resetsAt).toBeInstanceOf(Date);

      // A member's cap one call is larger than: the same, with no reset to wait for.
      await billing.upsertAccount({ id: 'team', kind: 'team' });
      await billing.subscribe('team', 'plus');
      await billing.admin.setMemberLimits('team', 'u_7', [{ window: 'day', unit: 'usd', amount: 10_000 }]);
      const capped = await billing.authorize('team', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 200_000, userId: 'u_7' });
      expect(capped).toMatchObject({
        ok: false, code: 'member_limit', remedy: { kind: 'ask_account_admin' },
        reason: 'This request could use more than the whole daily cap of 1 credit this account set for this member.',
        message: expect.stringMatching(/this member\. Ask whoever manages this account to raise the cap\.$/),
      });
      expect(capped.ok ? undefined : capped.resetsAt).toBeUndefined();
    });

    it('offers an upgrade only when a plan on sale would let the call through', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free: 10 credits a day, cheap models; Plus: no limits, any model
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      const free = await billing.admin.getPlan('free');
      // Plus with the same daily limit and models as Free: moving to it would change nothing for these calls.
      await billing.admin.updatePlan('plus', { limits: free.limits, models: free.models });
      const big = { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 200_000 }; // more than the whole day
      expect(await billing.authorize('solo', big)).toMatchObject({ ok: false, code: 'daily_limit', remedy: { kind: 'contact_support' } });
      expect(await billing.authorize('solo', { model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 })).toMatchObject({ ok: false, code: 'model_not_allowed', remedy: { kind: 'contact_support' } });

      // A larger daily limit, and the model: upgrading lets each through.
      await billing.admin.updatePlan('plus', { limits: [{ window: 'day', unit: 'usd', amount: 1_000_000 }], models: [...free.models, 'gpt-4o'] });
      expect(await billing.authorize('solo', big)).toMatchObject({ ok: false, code: 'daily_limit', remedy: { kind: 'upgrade' } });
      expect(await billing.authorize('solo', { model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 })).toMatchObject({ ok: false, code: 'model_not_allowed', remedy: { kind: 'upgrade' } });

      // A larger daily limit on a plan that does not allow the model: no remedy either.
      await billing.admin.updatePlan('plus', { limits: [{ window: 'day', unit: 'usd', amount: 1_000_000 }], models: ['gpt-4o'] });
      expect(await billing.authorize('solo', big)).toMatchObject({ ok: false, code: 'daily_limit', remedy: { kind: 'contact_support' } });

      // A larger daily limit still short of the call: the call alone would be more than it there too.
      const justLarger = free.limits.map((l) => (l.window === 'day' ? { ...l, amount: l.amount + 1 } : l));
      await billing.admin.updatePlan('plus', { limits: justLarger, models: free.models });
      expect(await billing.authorize('solo', big)).toMatchObject({ ok: false, code: 'daily_limit', remedy: { kind: 'contact_support' } });
    });

    it("names the limit a call is larger than, even when another limit is reached first: waiting for that one's reset would not let it through", async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free: 10 credits ($0.10) a day
      await billing.upsertAccount({ id: 'team', kind: 'team' });
      await billing.record('team', { model: 'gpt-4o-mini', usage: { inputTokens: 200_000, outputTokens: 0 } }, { idempotencyKey: 'six' }); // 6 of 10 credits
      await billing.admin.setMemberLimits('team', 'u_7', [{ window: 'day', unit: 'usd', amount: 10_000 }]); // 1 credit a day
      // About 4.8 credits: more than the account's 4 left today, and more than the member's whole cap.
      const refused = await billing.authorize('team', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 40_000, userId: 'u_7' });
      expect(refused).toMatchObject({
        ok: false, code: 'member_limit', remedy: { kind: 'ask_account_admin' },
        reason: 'This request could use more than the whole daily cap of 1 credit this account set for this member.',
      });
      expect(refused.ok ? undefined : refused.resetsAt).toBeUndefined();
      // Another member, with no cap, is told of what is left of the account's day.
      expect(await billing.authorize('team', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 40_000, userId: 'u_8' })).toMatchObject({
        ok: false, code: 'daily_limit', remedy: { kind: 'wait_until' }, reason: "This request could use more than the 4 credits left of this account's daily limit of 10 credits.",
      });
    });
  });
}
