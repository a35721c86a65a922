/**
 * The unknown-model policy switched while calls are open: a call admitted at the fallback price
 * is charged it when it settles, though the policy now refuses such models (it was priced when
 * it was admitted: never free usage), while new calls and records of them are refused.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`the unknown-model policy switched under open calls on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('charges the open calls at the fallback price, and refuses new ones', async () => {
      const { billing } = t;
      await fundedAccounts(billing, ['acme'], 50_000_000);
      await billing.admin.updateSettings({ unknownModelPolicy: 'fallback', fallbackRates: { input: '2', output: '4' } });
      const call = { model: 'in-house-model', inputTokens: 1_000_000, maxOutputTokens: 1_000 };
      const holds = [];
      for (let i = 0; i < 3; i++) {
        const held = await billing.authorize('acme', call);
        if (!held.ok) throw new Error(`refused: ${held.message}`);
        holds.push(held.hold.id);
      }
      await billing.admin.updateSettings({ unknownModelPolicy: 'refuse' });
      // Together (one batch), and alone.
      const usage = { inputTokens: 1_000_000, outputTokens: 0 };
      const charges = await Promise.all(holds.slice(0, 2).map((id, i) => billing.settle(id, usage, { idempotencyKey: `s${i}` })));
      charges.push(await billing.settle(holds[2]!, usage, { idempotencyKey: 's2' }));
      for (const charge of charges) expect(charge).toMatchObject({ costMicros: 2_000_000, valueMicros: 4_000_000 }); // $2 of cost at a 50% margin
      expect(await billing.authorize('acme', call)).toMatchObject({ ok: false, code: 'unknown_model' });
      await expect(billing.record('acme', { model: 'in-house-model', usage }, { idempotencyKey: 'r1' })).rejects.toMatchObject({ code: 'unknown_model' });
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
