/**
 * A change of time zone beside calls, across processes on one PostgreSQL database: one process
 * records usage while another moves the account from zone to zone. The move carries the month's
 * allowance and usage under the ledger mutex, so whatever the order, the account has one
 * allowance for the month, its month's counter is every call recorded, and its ledger
 * reconciles. Skipped without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling } from '../src/index.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';
import { addTestModel } from './support/spend.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';
// The middle of a month everywhere, whatever the machine's date: every zone below is in March.
const AT = Date.parse('2026-03-15T12:00:00Z');

describe.skipIf(skipped !== '')(`a change of time zone beside calls in another process${skipped}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const setup = await createBilling({ database: db.sql, clock: () => new Date(AT) });
    try {
      await setup.admin.applyPreset('credit-packs'); // Pay as you go includes $0.10 a month
      await addTestModel(setup);
      await setup.upsertAccount({ id: 'roamer', kind: 'personal' });
      await setup.credit('roamer', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
    } finally {
      await setup.close();
    }
    procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!, { clockOffsetMs: AT - Date.now() })));
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await db?.drop();
  });

  it('keeps one allowance for the month and counts every call, whichever comes first', async () => {
    const [caller, mover] = procs as [BillingProcess, BillingProcess];
    const records = Array.from({ length: 40 }, (_, i) => ['roamer', { model: 'test-model', provider: 'test', usage: { inputTokens: 1_000, outputTokens: 0 } }, { idempotencyKey: `r${i}` }]);
    const zones = ['Europe/Paris', 'America/Los_Angeles', 'Asia/Tokyo', 'Pacific/Honolulu', 'Pacific/Kiritimati', 'UTC', 'America/St_Johns', 'Asia/Kathmandu'];
    const [recorded, moved] = await Promise.all([
      caller.burst('record', records),
      (async () => {
        const outcomes = [];
        for (const timeZone of zones) outcomes.push(await mover.call('upsertAccount', { id: 'roamer', kind: 'personal', timeZone }));
        return outcomes;
      })(),
    ]);
    for (const outcome of [...recorded, ...moved]) expect(outcome.ok, JSON.stringify(outcome)).toBe(true);

    const allowances = await db.sql.query(`SELECT reference FROM buckets WHERE account_id = 'roamer' AND source = 'allowance'`);
    expect(allowances).toHaveLength(1);
    const charged = recorded.reduce((sum, r) => sum + (r.ok ? (r.value as { valueMicros: number }).valueMicros : 0), 0);
    const [counter] = await db.sql.query<{ month: number }>(`SELECT month_value_micros::int AS month FROM account_balances WHERE account_id = 'roamer'`);
    expect(counter!.month).toBe(charged);
    expect((await caller.must('reconcile', 'roamer')).problems).toEqual([]);
  }, 120_000);
});
