/**
 * Migration 0032 on both engines: the money view's payments read, across every account, finds a
 * week's payments and the refunds applied in it by their indexes on the time, where it read every
 * payment and every refund ever recorded.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { migrate } from '../src/db/migrate.ts';
import { MONEY_BY_DAY_AND_SOURCE } from '../src/engine/reads/money.ts';
import { ENGINES } from './support/harness.ts';

/** The plan of the read as the view sends it, for one week of the two years loaded. */
async function weekPlan(sql: Sql): Promise<string> {
  await sql.exec('ANALYZE payments; ANALYZE payment_refunds');
  return sql.transaction(async (tx) => {
    await tx.exec(`PREPARE money_collected AS ${MONEY_BY_DAY_AND_SOURCE}`);
    const rows = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE money_collected('2026-03-01T00:00:00Z', '2026-03-08T00:00:00Z')`);
    await tx.exec('DEALLOCATE money_collected');
    return JSON.stringify(rows);
  });
}

for (const engine of ENGINES) {
  describe(`the money view's payments index on ${engine.name}`, () => {
    it('0032 indexes payments and applied refunds by time: a week is read through them, not by reading every payment', async () => {
      const db = await engine.open({ through: '0031_pack_versions.sql' });
      try {
        // Two years of payments two hours apart, by 300 accounts; a tenth of them refunded the next day.
        await db.sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0);
          INSERT INTO accounts (id, kind, plan_id) SELECT 'a' || g, 'team', 1 FROM generate_series(0, 299) g;
          INSERT INTO payments (account_id, processor, processor_ref, kind, amount_cents, status, created_at)
          SELECT 'a' || (g % 300), 'fake', 'pay_' || g, 'pack', 1000, 'succeeded', timestamptz '2025-01-01' + g * interval '2 hours'
          FROM generate_series(1, 9000) g;
          INSERT INTO payment_refunds (processor, reference, payment_ref, kind, amount_cents, status, payment_id, account_id, applied_cents, created_at, applied_at)
          SELECT 'fake', 're_' || id, processor_ref, 'refund', 500, 'applied', id, account_id, 500, created_at + interval '1 day', created_at + interval '1 day'
          FROM payments WHERE id % 10 = 0;`);
        expect(await weekPlan(db.sql)).not.toContain('"Index Name":"payments_created_at"');
        expect((await migrate(db.sql))[0]).toBe('0032_payments_time.sql');
        const after = await weekPlan(db.sql);
        expect(after).toContain('"Index Name":"payments_created_at"');
        expect(after).toContain('"Index Name":"payment_refunds_applied_at"');
        expect(after).not.toMatch(/"Seq Scan"[^{}]*"Relation Name":"payment(s|_refunds)"/);
      } finally {
        await db.drop();
      }
    });
  });
}
