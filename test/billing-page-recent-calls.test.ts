/**
 * The billing page's last calls, on both engines, are those of the range it shows: a member with
 * no call of their own in it reads the account's events of that range through its index on the
 * time, not every event recorded; the account's own last calls are read newest first and the
 * read stops at the tenth, where one statement for both sorted every event of the account.
 */
import { describe, expect, it } from 'vitest';
import { recentCalls } from '../src/billing-page/recent-calls.ts';
import { ENGINES } from './support/harness.ts';
import { planOf, withRecordedBilling } from './support/recording-sql.ts';

for (const engine of ENGINES) {
  describe(`the billing page's last calls on ${engine.name}`, () => {
    it('are those since the range shown began, found by the time on the account', async () => {
      await withRecordedBilling(engine, async ({ billing, sql, seen }) => {
        // Ann called once, 40 days ago; Bob every hour of the last week.
        await sql.exec(`
          INSERT INTO usage_events (account_id, idempotency_key, user_id, model, provider, input_tokens, output_tokens, cost_micros, value_micros, margin_bps, price, occurred_at)
          SELECT 'acme', 'k' || g, CASE WHEN g = 0 THEN 'ann' ELSE 'bob' END, 'm', 'p', 10, 5, 1, 3, 5000, '{}',
            CASE WHEN g = 0 THEN timestamptz '2026-03-10T12:00:00Z' - interval '40 days' ELSE timestamptz '2026-03-10T12:00:00Z' - g * interval '1 hour' END
          FROM generate_series(0, 168) g;
          ANALYZE usage_events;`);
        const since = new Date('2026-02-08T00:00:00Z');

        seen.length = 0;
        expect(await recentCalls(billing, 'acme', 'ann', since)).toEqual([]);
        const bob = await recentCalls(billing, 'acme', 'bob', since);
        expect(bob.map((c) => c.occurredAt.toISOString())).toEqual(Array.from({ length: 10 }, (_, i) => new Date(Date.parse('2026-03-10T11:00:00Z') - i * 3_600_000).toISOString()));

        const owner = await recentCalls(billing, 'acme', null, since);
        expect(owner.map((c) => c.userId)).toEqual(bob.map(() => 'bob'));

        // As Tollgate's connections plan them, once for any parameters: the member's read is the
        // range on the account's time index; the account's reads it newest first and stops at
        // the tenth, with no sort of the whole range (an incremental sort of ties at the most).
        const [member, , account] = seen;
        const before = 'SET LOCAL enable_seqscan = off;';
        expect(await planOf(sql, member!, `'acme', '${since.toISOString()}', 10, 'ann'`, { before }))
          .toMatch(/"Index Name":"usage_events_account_time"[^{}]*"Index Cond":"\(\(account_id = \$1\) AND \(occurred_at >= \$2\)\)"/);
        const accountPlan = await planOf(sql, account!, `'acme', '${since.toISOString()}', 10`, { before });
        expect(accountPlan).toContain('"Scan Direction":"Backward","Index Name":"usage_events_account_time"');
        expect(accountPlan).not.toContain('"Node Type":"Sort"');
      });
    });
  });
}
