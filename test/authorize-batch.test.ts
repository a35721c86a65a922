/** Authorizations that arrive together are decided together, each seeing the holds before it. */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`authorizations together on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('never admits more holds than the value covers, and answers each call', async () => {
      const { billing } = t;
      await fundedAccounts(billing, ['a', 'b'], 3_000_000);
      // Each call holds $1 (500k input tokens at $2 of value per million): a and b can each afford three.
      const ask = (id: string) => billing.authorize(id, { model: 'test-model', inputTokens: 500_000, maxOutputTokens: 0 });
      const results = await Promise.allSettled([...Array.from({ length: 6 }, () => ask('a')), ...Array.from({ length: 4 }, () => ask('b')), ask('ghost')]);
      const answers = results.slice(0, 10).map((r) => (r.status === 'fulfilled' ? r.value : undefined));
      const admitted = (from: number, to: number) => answers.slice(from, to).filter((a) => a?.ok).length;
      expect(admitted(0, 6)).toBe(3);
      expect(admitted(6, 10)).toBe(3);
      for (const a of answers.filter((x) => x && !x.ok)) expect(a).toMatchObject({ code: 'insufficient_balance' });
      expect(results[10]).toMatchObject({ status: 'rejected', reason: { code: 'account_not_found' } });
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 0, heldMicros: 3_000_000 });
      expect(await billing.balance('b')).toMatchObject({ availableMicros: 0, heldMicros: 3_000_000 });
    });
  });
}
