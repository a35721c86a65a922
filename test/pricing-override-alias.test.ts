/**
 * An override set on a model as the price list names it (the catalog's id) prices every id the
 * catalog reads as that model: the provider's dated id, "maker/model", with or without the
 * provider. An override on the id as called still comes first.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`an override of a catalog model on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function funded() {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 0 });
      await billing.upsertAccount({ id: 'acc', kind: 'personal' });
      await billing.credit('acc', { source: 'bonus', amountMicros: 100_000_000, reference: 'seed' });
      // The price list names Claude Sonnet 4 by the catalog's id, at $3 / $15 a million bundled.
      const listed = await billing.admin.priceList({ search: 'claude-sonnet-4-0' });
      expect(listed.rows[0]).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-0', price: { source: 'bundled', rates: { input: '3' } } });
      await billing.admin.setModelPrice({ provider: 'anthropic', model: 'claude-sonnet-4-0', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '4', output: '20' } });
    }

    const usage = { inputTokens: 1_000, outputTokens: 100 };
    const overridden = { costMicros: 1_000 * 4 + 100 * 20, valueMicros: 2 * (1_000 * 4 + 100 * 20) }; // at the 50% margin

    it('prices the dated id, the maker/model id and the id without a provider at the override', async () => {
      await funded();
      const { billing } = t;
      let n = 0;
      const record = (model: string, provider?: string) =>
        billing.record('acc', { model, ...(provider ? { provider } : {}), usage }, { idempotencyKey: `k${++n}` });
      expect(await record('claude-sonnet-4-0', 'anthropic')).toMatchObject(overridden);
      expect(await record('claude-sonnet-4-20250514', 'anthropic')).toMatchObject({ model: 'claude-sonnet-4-20250514', ...overridden });
      expect(await record('claude-sonnet-4-20250514')).toMatchObject(overridden);
      expect(await record('anthropic/claude-sonnet-4-0')).toMatchObject(overridden);
      expect(await billing.admin.priceOf({ model: 'claude-sonnet-4-20250514', provider: 'anthropic' })).toMatchObject({ source: 'override', rates: { input: '4' } });

      // An override on the id as called is nearer than the catalog's.
      await billing.admin.setModelPrice({ provider: 'anthropic', model: 'claude-sonnet-4-20250514', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '5', output: '25' } });
      expect(await record('claude-sonnet-4-20250514', 'anthropic')).toMatchObject({ costMicros: 1_000 * 5 + 100 * 25 });
    });

    it('settles a call answered under the dated id at the override, as the hold weighed it', async () => {
      await funded();
      const { billing } = t;
      const auth = await billing.authorize('acc', { model: 'claude-sonnet-4-20250514', provider: 'anthropic', inputTokens: 1_000, maxOutputTokens: 100 });
      if (!auth.ok) throw new Error(auth.message);
      // The hold weighs every input token at the dearest input rate: the override has no cache rates.
      expect(auth.hold.amountMicros).toBe(overridden.valueMicros);
      expect(await billing.settle(auth.hold.id, usage, { idempotencyKey: 's' })).toMatchObject(overridden);

      const again = await billing.authorize('acc', { model: 'claude-sonnet-4-0', provider: 'anthropic', inputTokens: 1_000, maxOutputTokens: 100 });
      if (!again.ok) throw new Error(again.message);
      expect(await billing.settle(again.hold.id, usage, { idempotencyKey: 's2', model: 'claude-sonnet-4-20250514' })).toMatchObject({
        model: 'claude-sonnet-4-20250514', ...overridden,
      });
    });
  });
}
