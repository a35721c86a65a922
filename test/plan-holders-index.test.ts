/**
 * Migration 0033 on both engines: who a plan's change reaches (how many accounts are on it, the
 * first few by id) is read from an index on the plan, not by reading every account and sorting
 * each plan's ids; a plan nobody is on is left out, as before.
 */
import { describe, expect, it } from 'vitest';
import { createBilling } from '../src/index.ts';
import { migrate } from '../src/db/migrate.ts';
import { PLAN_HOLDERS } from '../src/engine/reads/admin-reads.ts';
import { ENGINES, TestClock } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`a plan's holders on ${engine.name}`, () => {
    it('0033 indexes accounts by plan: the count and the first ids come from it', async () => {
      const db = await engine.open({ through: '0032_payments_time.sql' });
      try {
        // 3,000 accounts on two plans, every third on the second; nobody on the third.
        await db.sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0), (2, 'pro', 'Pro', 2000), (3, 'team', 'Team', 9900);
          INSERT INTO accounts (id, kind, plan_id) SELECT 'acct_' || lpad(g::text, 4, '0'), 'personal', CASE WHEN g % 3 = 0 THEN 2 ELSE 1 END FROM generate_series(2999, 0, -1) g;`);
        expect((await migrate(db.sql))[0]).toBe('0033_accounts_plan.sql');
        await db.sql.exec('ANALYZE accounts');

        const billing = await createBilling({ database: db.sql, clock: new TestClock().read });
        try {
          expect(await billing.admin.planHolders(['free', 'pro', 'team'])).toEqual(new Map([
            ['free', { accounts: 2_000, firstIds: ['acct_0001', 'acct_0002', 'acct_0004', 'acct_0005', 'acct_0007'] }],
            ['pro', { accounts: 1_000, firstIds: ['acct_0000', 'acct_0003', 'acct_0006', 'acct_0009', 'acct_0012'] }],
          ]));
        } finally {
          await billing.close();
        }

        const plan = await db.sql.transaction(async (tx) => {
          await tx.exec(`PREPARE plan_holders AS ${PLAN_HOLDERS}`);
          const rows = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE plan_holders('{free,pro,team}')`);
          await tx.exec('DEALLOCATE plan_holders');
          return JSON.stringify(rows);
        });
        expect(plan).toContain('"Index Name":"accounts_plan"');
        expect(plan).not.toMatch(/"Seq Scan"[^{}]*"Relation Name":"accounts"/);
        expect(plan).not.toContain('"Node Type":"Sort"');
      } finally {
        await db.drop();
      }
    });
  });
}
