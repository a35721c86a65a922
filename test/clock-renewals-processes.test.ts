/**
 * The fake processor's renewals across processes on one PostgreSQL database: each period's
 * payment is recorded once, whichever process records it. Two processes run the renewal job at
 * the same moment, three times each, over subscriptions three months behind; then a server's two
 * workers, each running the job every second, record each renewal as the database's clock
 * reaches it, with no call from the accounts. Skipped without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchoredMonthPeriod } from '../src/core/periods.ts';
import { createBilling, fakeProcessor } from '../src/index.ts';
import { movableClock } from './support/database-clock.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';
import { ServerProcess } from './support/server-process.ts';

const DAY = 86_400_000;
const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';
const postgres = () => ENGINES.find((e) => e.name === 'postgres')!.open();
type Database = Awaited<ReturnType<typeof postgres>>;

/** Each account's subscription payments, oldest first, by when they were made. */
async function paymentsByAccount(db: Database, accountIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await db.sql.query<{ account_id: string; created_at: Date }>(
    `SELECT account_id, created_at FROM payments WHERE kind = 'subscription' AND account_id = ANY ($1) ORDER BY account_id, created_at`,
    [accountIds],
  );
  return new Map(accountIds.map((id) => [id, rows.filter((r) => r.account_id === id).map((r) => r.created_at.toISOString())]));
}

describe.skipIf(skipped !== '')(`the fake processor's renewals across processes${skipped}`, () => {
  describe('two processes running the job at once', () => {
    let db: Database;
    let procs: BillingProcess[];
    const accounts = Array.from({ length: 20 }, (_, i) => `team_${i}`);
    // Subscribed at the start of the month three months back: three renewals have begun since, the fourth has not.
    const today = new Date();
    const month = (back: number) => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - back, 1)).toISOString();

    beforeAll(async () => {
      db = await postgres();
      const then = await createBilling({ database: db.sql, clock: () => new Date(month(3)), processors: [fakeProcessor()] });
      try {
        await then.admin.applyPreset('subscription-plus-packs');
        for (const id of accounts) {
          await then.upsertAccount({ id, kind: 'team' });
          await then.subscribe(id, 'plus');
        }
      } finally {
        await then.close();
      }
      procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!)));
    }, 120_000);

    afterAll(async () => {
      await Promise.all((procs ?? []).map((p) => p.stop()));
      await db?.drop();
    });

    it('records each account\'s three renewals once: one process claims each account, the other skips it', async () => {
      const runs = (await Promise.all(procs.map((p) => p.burst('runClockRenewals', [[], [], []])))).flat();
      for (const run of runs) expect(run.ok, JSON.stringify(run)).toBe(true);
      const renewed = runs.flatMap((run) => (run.ok ? (run.value as { accountId: string; payments: number }[]) : []));
      expect(renewed.map((r) => r.accountId).sort()).toEqual([...accounts].sort());
      expect(renewed.every((r) => r.payments === 3)).toBe(true);

      const expected = [month(3), month(2), month(1), month(0)];
      for (const [id, made] of await paymentsByAccount(db, accounts)) expect(made, id).toEqual(expected);
      // Run again by both: nothing is due.
      const again = (await Promise.all(procs.map((p) => p.burst('runClockRenewals', [[], []])))).flat();
      expect(again.map((run) => run.ok && run.value)).toEqual(again.map(() => []));
    });
  });

  it('a server\'s two workers record each renewal as the clock reaches it, once, with no call', async () => {
    const db = await postgres();
    const clock = await movableClock(db as { sql: Database['sql']; url: string });
    const accounts = ['quiet_a', 'quiet_b', 'quiet_c'];
    let server: ServerProcess | undefined;
    let keys = 0;
    try {
      server = await ServerProcess.start({ DATABASE_URL: clock.url, WEB_CONCURRENCY: '2', TOLLGATE_CLOCK_RESYNC_SECONDS: '1' });
      await server.ready(2);
      for (const id of accounts) {
        expect((await server.call('PUT', `/v1/accounts/${id}`, { kind: 'team' }, `key-${++keys}`)).status).toBeLessThan(300);
        const subscribed = await server.call('POST', `/v1/accounts/${id}/subscription`, { plan: 'plus' }, `key-${++keys}`);
        expect(subscribed.status, JSON.stringify(subscribed.body)).toBeLessThan(300);
      }
      const subscriptions = await db.sql.query<{ account_id: string; started_at: Date }>(`SELECT account_id, started_at FROM subscriptions`);
      /** When the account's checkout and its first `renewals` renewals were paid: each period's start. */
      const paidAt = (id: string, renewals: number) => {
        const anchor = subscriptions.find((s) => s.account_id === id)!.started_at;
        const starts = [anchor];
        while (starts.length <= renewals) starts.push(anchoredMonthPeriod(anchor, starts.at(-1)!).end);
        return starts.map((at) => at.toISOString());
      };

      for (const renewals of [1, 2]) {
        // A month on, measured by both workers: each account's renewal is recorded by one of them, at its start.
        await clock.advance(31 * DAY);
        await clock.measuredBy(server.workers());
        const expected = new Map(accounts.map((id) => [id, paidAt(id, renewals)]));
        const deadline = Date.now() + 20_000;
        while ([...(await paymentsByAccount(db, accounts)).values()].some((made) => made.length <= renewals) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // Both workers run the job several times more: still one payment a period. Once, after the
        // last renewal: the runs after the first (before the clock moves on, and while the workers
        // have yet to measure it) add any second payment of its period to the payments counted then.
        if (renewals === 2) await new Promise((resolve) => setTimeout(resolve, 3_000));
        expect(await paymentsByAccount(db, accounts)).toEqual(expected);
      }
      expect((await server.call('GET', '/v1/accounts/quiet_a/reconciliation')).body.ok).toBe(true);
    } finally {
      server?.kill();
      await server?.exited;
      await db.drop();
    }
  }, 180_000);
});
