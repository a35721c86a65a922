/**
 * A settle names the model that really answered when it is not the one authorized: the usage
 * is recorded under it at its own price as of the hold, if the price book has one of its own;
 * else under the model authorized. A retry with the same key is the first answer.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`settle with the model that answered, on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function hold() {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.upsertAccount({ id: 'acc', kind: 'personal' });
      await billing.credit('acc', { source: 'bonus', amountMicros: 1_000_000, reference: 'seed' });
      const auth = await billing.authorize('acc', { model: 'gpt-4o', inputTokens: 1_000, maxOutputTokens: 1_000 });
      if (!auth.ok) throw new Error(auth.message);
      return auth.hold;
    }

    it('charges the answered model at its price, once per key', async () => {
      const { id } = await hold();
      const usage = { inputTokens: 1_000, outputTokens: 100 };
      const charge = await t.billing.settle(id, usage, { idempotencyKey: 'k', model: 'gpt-4o-2024-05-13' });
      // $5 and $15 a million (the alias is $2.50 and $10), at the 50% margin.
      expect(charge).toMatchObject({ model: 'gpt-4o-2024-05-13', provider: 'openai', valueMicros: 2 * (1_000 * 5 + 100 * 15), replayed: false });
      expect(await t.billing.settle(id, usage, { idempotencyKey: 'k', model: 'gpt-4o-2024-05-13' })).toMatchObject({ usageEventId: charge.usageEventId, replayed: true });
      await expect(t.billing.settle(id, usage, { idempotencyKey: 'other', model: 'gpt-4o-2024-05-13' })).rejects.toMatchObject({ code: 'hold_settled' });
    });

    it('charges the model authorized when the one named has no price of its own, even with a fallback price', async () => {
      const { id } = await hold();
      await t.billing.admin.updateSettings({ unknownModelPolicy: 'fallback', fallbackRates: { input: '100', output: '100' } });
      const charge = await t.billing.settle(id, { inputTokens: 1_000, outputTokens: 100 }, { idempotencyKey: 'k', model: 'gpt-4o-custom-router' });
      expect(charge).toMatchObject({ model: 'gpt-4o', valueMicros: 2 * (1_000 * 2.5 + 100 * 10) });
      await expect(t.billing.settle(id, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: 'k2', model: '' })).rejects.toMatchObject({ code: 'invalid_input' });
    });
  });
}
