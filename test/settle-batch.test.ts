/** Settles that arrive together are written together, and each still gets its own answer. */
import { describe, expect, it } from 'vitest';
import { createBilling } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';
import { holdKey } from '../src/core/hold-id.ts';

for (const engine of ENGINES) {
  describe(`settles together on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('charges each hold once, replays duplicates, refuses a released hold', async () => {
      const { billing } = t;
      await fundedAccounts(billing, ['a', 'b'], 5_000_000);
      const holds = [];
      for (let i = 0; i < 10; i++) {
        const auth = await billing.authorize(i % 3 === 0 ? 'b' : 'a', { model: 'test-model', inputTokens: 100_000, maxOutputTokens: 0 });
        if (!auth.ok) throw new Error(auth.message);
        holds.push(auth.hold);
      }
      const released = holds.pop()!;
      await billing.release(released.id);
      const usage = { inputTokens: 100_000, outputTokens: 0 }; // $0.20 of value each
      const calls = [
        ...holds.map((h, i) => billing.settle(h.id, usage, { idempotencyKey: `k${i}` })),
        billing.settle(holds[0]!.id, usage, { idempotencyKey: 'k0' }),
        billing.settle(holds[4]!.id, usage, { idempotencyKey: 'k4' }),
        billing.settle(holds[5]!.id, usage, { idempotencyKey: 'other' }),
        billing.settle(released.id, usage, { idempotencyKey: 'late' }),
      ];
      const results = await Promise.allSettled(calls);
      const charges = results.slice(0, 9).map((r) => (r.status === 'fulfilled' ? r.value : undefined));
      expect(charges.every((c) => c && !c.replayed && c.valueMicros === 200_000)).toBe(true);
      expect(new Set(charges.map((c) => c!.usageEventId)).size).toBe(9);
      expect(results[9]).toMatchObject({ status: 'fulfilled', value: { usageEventId: charges[0]!.usageEventId, replayed: true } });
      expect(results[10]).toMatchObject({ status: 'fulfilled', value: { usageEventId: charges[4]!.usageEventId, replayed: true } });
      expect(results[11]).toMatchObject({ status: 'rejected', reason: { code: 'hold_settled' } });
      expect(results[12]).toMatchObject({ status: 'rejected', reason: { code: 'hold_released' } });
      // a: holds 1, 2, 4, 5, 7, 8 → six charges; b: holds 0, 3, 6 → three.
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 5_000_000 - 6 * 200_000, heldMicros: 0 });
      expect(await billing.balance('b')).toMatchObject({ availableMicros: 5_000_000 - 3 * 200_000, heldMicros: 0 });
      expect((await billing.reconcile('a')).problems).toEqual([]);
      expect((await billing.reconcile('b')).problems).toEqual([]);
    });

    it('charges a hold once when one batch names it twice, and takes a bare key for no hold', async () => {
      const { billing } = t;
      await fundedAccounts(billing, ['a'], 5_000_000);
      const [held, other] = [await billing.authorize('a', { model: 'test-model', inputTokens: 1_000, maxOutputTokens: 0 }), await billing.authorize('a', { model: 'test-model', inputTokens: 1_000, maxOutputTokens: 0 })];
      if (!held.ok || !other.ok) throw new Error('refused');
      const usage = { inputTokens: 1_000, outputTokens: 0 };
      // A process that knows neither hold reads them in one batch: one hold, one charge.
      const elsewhere = await createBilling({ database: t.sql, clock: t.clock.read });
      const results = await Promise.allSettled([
        elsewhere.settle(held.hold.id, usage, { idempotencyKey: 'first' }),
        elsewhere.settle(held.hold.id, usage, { idempotencyKey: 'second' }),
        elsewhere.settle(holdKey(other.hold.id), usage, { idempotencyKey: 'bare' }),
      ]);
      const outcomes = results.slice(0, 2).map((r) => (r.status === 'fulfilled' ? 'charged' : (r.reason as { code: string }).code)).sort();
      expect(outcomes).toEqual(['charged', 'hold_settled']);
      expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'hold_not_found' } });
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 5_000_000 - 2 * 2_000, heldMicros: 2_000 });
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });
  });
}
