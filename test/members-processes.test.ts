/**
 * One member's cap, enforced by several processes at once on one PostgreSQL database (child
 * processes, each with its own memory, pools and batches): calls authorized and settled
 * concurrently in all of them never take the member past the cap, and the member's use as the
 * gate counts it is the sum of their usage events. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';

if (!POSTGRES_URL) console.warn('\n[member process tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

/** test-model at $1 per million input tokens and the default 50% margin: 2,000 µ$ for this call. */
const CALL = { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0, userId: 'u_capped' };
const CAP = 15 * 2_000;

describe.skipIf(!POSTGRES_URL)("a member's cap across processes", () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    procs = await Promise.all([0, 1, 2].map(() => BillingProcess.start(db.url!)));
    const admin = procs[0]!;
    await admin.must('admin.applyPreset', 'credit-packs');
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await admin.must('upsertAccount', { id: 'team', kind: 'team' });
    await admin.must('credit', 'team', { source: 'bonus', amountMicros: 10_000_000, reference: 'gift' });
    await admin.must('admin.setMemberLimits', 'team', 'u_capped', [{ window: 'day', unit: 'usd', amount: CAP }]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await db?.drop();
  });

  it('never lets calls authorized and settled in three processes at once pass the cap', async () => {
    let keys = 0;
    /** Authorizes and settles one call after another until refused: how many were settled. */
    async function worker(p: BillingProcess): Promise<number> {
      let settled = 0;
      for (;;) {
        const auth = await p.must('authorize', 'team', CALL);
        if (!auth.ok) {
          expect(auth.code).toBe('member_limit');
          return settled;
        }
        await p.must('settle', auth.hold.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: `k${++keys}` });
        settled++;
      }
    }
    const counts = await Promise.all(procs.flatMap((p) => [worker(p), worker(p), worker(p)]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(CAP / 2_000);

    const [member] = (await procs[1]!.must('balance', 'team')).members;
    expect(member.limits[0]).toMatchObject({ amount: CAP, used: CAP, held: 0 });
    const [events] = await db.sql.query<{ value: number }>(`SELECT sum(value_micros)::int AS value FROM usage_events WHERE account_id = 'team' AND user_id = 'u_capped'`);
    expect(events!.value).toBe(CAP);
    expect((await procs[2]!.must('reconcile', 'team')).ok).toBe(true);
  });
});
