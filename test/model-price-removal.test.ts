/**
 * A price override removed: calls from then on are priced as if it had never been set (an
 * earlier override, else the bundled price), usage charged before keeps its price, and an
 * override that is not there is model_price_not_found with nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts, mustCall } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`removing a price override on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('prices the next call at the earlier price, keeps what was charged, and refuses one not there', async () => {
      const { billing, sql } = t;
      await fundedAccounts(billing, ['acme'], 50_000_000); // test-model at $1 / $2 per million tokens from 2020
      const first = await mustCall(billing, 'acme', 1_000_000);
      await billing.admin.setModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: '2026-03-01T00:00:00Z', rates: { input: '3', output: '6' } });
      const dear = await mustCall(billing, 'acme', 1_000_000);
      expect(dear.costMicros).toBe(3 * first.costMicros);

      const { removed } = await billing.admin.removeModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: '2026-03-01' });
      expect(removed.rates).toMatchObject({ input: '3', output: '6' });
      const again = await mustCall(billing, 'acme', 1_000_000);
      expect(again.costMicros).toBe(first.costMicros);
      const [charged] = await sql.query<{ cost_micros: number }>('SELECT cost_micros FROM usage_events WHERE id = $1', [dear.usageEventId]);
      expect(charged!.cost_micros).toBe(dear.costMicros);

      const [before] = await sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
      await expect(billing.admin.removeModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: '2026-03-01' })).rejects.toMatchObject({
        code: 'model_price_not_found', message: 'No override of "test-model" at test from 2026-03-01T00:00:00.000Z: nothing was removed',
      });
      const [after] = await sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
      expect(after).toEqual(before);
      await expect(billing.admin.removeModelPrice({ model: '', effectiveFrom: '2026-03-01' })).rejects.toMatchObject({ code: 'invalid_input' });
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
