/**
 * A move to a plan's new version at the renewal, across processes on one PostgreSQL: three
 * processes past the renewal, none of which ever served the account, open its first period on the
 * new version together: one allowance, of the new version's value, and no more approved than it
 * holds; a process still before the renewal keeps deciding on the version paid for. Skipped, with
 * a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess, type Outcome } from './support/processes.ts';

if (!POSTGRES_URL) console.warn('\n[plan version process tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

const DAY = 86_400_000;
/** test-model at $1 per million input tokens and the default 50% margin: 2 µ$ of value per input token. */
const worth = (micros: number) => ({ model: 'test-model', provider: 'test', inputTokens: micros / 2, maxOutputTokens: 0 });
const approved = (outcomes: Outcome[]) => outcomes.filter((o) => o.ok && o.value.ok).length;

describe.skipIf(!POSTGRES_URL)(`a move at renewal across processes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let now: BillingProcess;
  let later: BillingProcess[] = [];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    now = await BillingProcess.start(db.url!);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([now, ...later].map((p) => p?.stop()));
    await db?.drop();
  });

  it('three processes past the renewal open one allowance on the new version; one before it keeps the version paid for', async () => {
    await now.must('admin.applyPreset', 'usage-subscription');
    await now.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await now.must('upsertAccount', { id: 'ren', kind: 'team' });
    await now.must('subscribe', 'ren', 'pro');
    await now.must('admin.updatePlan', 'pro', { priceCents: 100_00, limits: [] }); // version 2
    const { waiting } = await now.must('admin.moveToCurrentVersion', 'pro', { when: 'renewal' });
    expect(waiting).toHaveLength(1);

    later = await Promise.all([0, 1, 2].map(() => BillingProcess.start(db.url!, { clockOffsetMs: 40 * DAY })));
    const outcomes = (await Promise.all(later.map((p) => p.burst('authorize', Array.from({ length: 4 }, () => ['ren', worth(30_000_000)]))))).flat();
    // $100 of allowance: three $30 calls fit, a fourth does not; on the $20 version not one would.
    expect(approved(outcomes)).toBe(3);
    const buckets = await db.sql.query<{ amount_micros: string }>(`SELECT amount_micros FROM buckets WHERE account_id = 'ren' AND source = 'allowance' ORDER BY starts_at`);
    expect(buckets.map((b) => Number(b.amount_micros))).toEqual([20_000_000, 100_000_000]);
    expect((await later[0]!.must('balance', 'ren')).plan).toMatchObject({ priceCents: 100_00, limits: [] });

    // Before the renewal, the version paid for: $20, its $20 monthly limit.
    expect((await now.must('balance', 'ren')).plan).toMatchObject({ priceCents: 20_00, limits: [{ window: 'month', unit: 'usd', amount: 20_000_000 }] });
    expect((await now.must('authorize', 'ren', worth(30_000_000))).ok).toBe(false);
    expect((await later[1]!.must('reconcile', 'ren')).problems).toEqual([]);
  });
});
