import { describe, expect, it } from 'vitest';
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

    it('refuses a model with no price as unknown_model, even on a plan that lists its models: no upgrade could bill it', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs'); // Free lists cheap models; Plus allows any
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      const refusal = await billing.authorize('solo', { model: 'my-own-model', inputTokens: 10, maxOutputTokens: 10 });
      expect(refusal).toMatchObject({ ok: false, code: 'unknown_model', remedy: { kind: 'contact_support' } });
      expect(await billing.canStart('solo', { model: 'my-own-model' })).toMatchObject({ ok: false, code: 'unknown_model' });
      // A priced model the plan leaves out is still the plan's refusal.
      expect(await billing.authorize('solo', { model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 })).toMatchObject({ ok: false, code: 'model_not_allowed', remedy: { kind: 'upgrade' } });
    });
  });
}
