/**
 * An account's payments, on both engines, with what each auto-recharge paid of the account's debt:
 * the account's recharges are read once for the page, not once for each payment. Joined in, the
 * plan (made once for any account, which it expects to have a recharge or two) read them all again
 * for each of an account's hundreds of payments.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { planOf, withRecordedBilling } from './support/recording-sql.ts';

/** Every count of rows a join's filter threw away, in a plan as EXPLAIN (ANALYZE, FORMAT JSON) gives it. */
const removedByJoinFilters = (plan: string) => [...plan.matchAll(/"Rows Removed by Join Filter":(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);

for (const engine of ENGINES) {
  describe(`an account's payments on ${engine.name}`, () => {
    it('read its recharges once, and say what each recharge paid of the debt', async () => {
      await withRecordedBilling(engine, async ({ billing, sql, seen }) => {
        // 1,000 accounts with a recharge each; 'busy' with 300, each paid for by a recharge that paid 1 cent of debt.
        await sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0);
          INSERT INTO packs (id, slug, name, price_cents, value_micros) VALUES (1, 'credits-10', 'Credits', 1000, 10000000);
          INSERT INTO accounts (id, kind, plan_id) SELECT 'a' || g, 'team', 1 FROM generate_series(1, 1000) g;
          INSERT INTO accounts (id, kind, plan_id) VALUES ('busy', 'team', 1);
          INSERT INTO payments (account_id, processor, processor_ref, kind, pack_id, amount_cents, status, created_at)
          SELECT CASE WHEN g <= 300 THEN 'busy' ELSE 'a' || (g - 300) END, 'fake', 'pay_' || g, 'pack', 1, 1000, 'succeeded', timestamptz '2026-01-01' + g * interval '1 hour'
          FROM generate_series(1, 1300) g;
          INSERT INTO recharges (account_id, status, processor, pack_id, amount_cents, debt_cents, payment_ref, run_after, created_at, updated_at)
          SELECT account_id, 'succeeded', processor, 1, 1000, 1, processor_ref, created_at, created_at, created_at FROM payments WHERE processor_ref <> 'pay_300';
          INSERT INTO recharges (account_id, status, processor, pack_id, amount_cents, payment_ref, run_after, created_at, updated_at)
          VALUES ('busy', 'declined', 'fake', 1, 1000, 'pay_300', now(), now(), now());
          ANALYZE payments; ANALYZE recharges;`);

        seen.length = 0;
        const payments = await billing.payments('busy');
        expect(payments).toHaveLength(300);
        expect(payments[0]).toMatchObject({ reference: 'pay_300', recharge: null });
        expect(payments.slice(1).every((p) => p.recharge?.debtCents === 1)).toBe(true);

        let removed = 0;
        for (const text of seen.filter((t) => t.includes('$1'))) {
          const args = text.includes('$2') ? `'busy', '{${payments.map((p) => p.reference).join(',')}}'` : text.includes('FROM payment_refunds') ? `'{}'` : `'busy'`;
          removed += removedByJoinFilters(await planOf(sql, text, args, { analyze: true }));
        }
        // Each payment matched against each recharge would be 300 × 300 rows thrown away.
        expect(removed).toBeLessThan(1_000);
      });
    });
  });
}
