import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`recordBatch on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function setup() {
      const { billing } = t;
      await fundedAccounts(billing, ['a', 'b'], 3_000_000);
      return billing;
    }

    const usage = (inputTokens: number) => ({ inputTokens, outputTokens: 0 });

    it('charges many usages across accounts in one go, in order, with debt where value runs out', async () => {
      const billing = await setup();
      const charges = await billing.recordBatch([
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a1' },
        { accountId: 'b', model: 'test-model', usage: usage(500_000), idempotencyKey: 'b1' },
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a2' }, // $2 + $2 > $3: $1 of debt
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a1' }, // same key, same usage: the first answer
      ]);
      expect(charges.map((c) => [c.accountId, c.valueMicros, c.debtMicros, c.replayed])).toEqual([
        ['a', 2_000_000, 0, false],
        ['b', 1_000_000, 0, false],
        ['a', 2_000_000, 1_000_000, false],
        ['a', 2_000_000, 0, true],
      ]);
      expect(charges[3]!.usageEventId).toBe(charges[0]!.usageEventId);
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 0, debtMicros: 1_000_000 });
      expect(await billing.balance('b')).toMatchObject({ availableMicros: 2_000_000, debtMicros: 0 });
      expect((await billing.reconcile('a')).problems).toEqual([]);
      expect((await billing.reconcile('b')).problems).toEqual([]);
      // Sent again, the whole batch is answered from the first time.
      const again = await billing.recordBatch([{ accountId: 'b', model: 'test-model', usage: usage(500_000), idempotencyKey: 'b1' }]);
      expect(again[0]).toMatchObject({ usageEventId: charges[1]!.usageEventId, replayed: true });
    });

    it('is all or nothing', async () => {
      const billing = await setup();
      const ok = { accountId: 'a', model: 'test-model', usage: usage(10), idempotencyKey: 'fine' };
      await expect(billing.recordBatch([ok, { ...ok, accountId: 'ghost', idempotencyKey: 'g' }])).rejects.toMatchObject({ code: 'account_not_found' });
      await expect(billing.recordBatch([ok, { ...ok, model: 'mystery', idempotencyKey: 'm' }])).rejects.toMatchObject({ code: 'unknown_model' });
      await expect(billing.recordBatch([ok, { ...ok, usage: usage(11) }])).rejects.toMatchObject({ code: 'idempotency_conflict' });
      await expect(billing.recordBatch([ok, { ...ok, usage: { inputTokens: -1, outputTokens: 0 } }])).rejects.toMatchObject({ code: 'invalid_input' });
      expect(await t.sql.query('SELECT id FROM usage_events')).toEqual([]);
      expect(await billing.recordBatch([])).toEqual([]);
    });
  });
}
