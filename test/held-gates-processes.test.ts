/**
 * A row held long (a processor's answer awaited under the gate mutex) while two processes on one
 * PostgreSQL database authorize: each goes on answering the other accounts' calls, each keeps one
 * connection waiting on the row, and once it is free the held account's calls from both are
 * decided on what it has, never more. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';

if (!POSTGRES_URL) console.warn('\n[held gate process tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

/** test-model at $1 per million input tokens and the default 50% margin: 2,000 µ$ for this call. */
const CALL = { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 };
const FITS = 10;

describe.skipIf(!POSTGRES_URL)('a row held long, across processes', () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!)));
    const admin = procs[0]!;
    await admin.must('admin.applyPreset', 'credit-packs');
    await admin.must('admin.updatePlan', 'payg', { includedMicros: 0 });
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    for (const [id, micros] of [['held', FITS * 2_000], ['o1', 10_000_000], ['o2', 10_000_000]] as const) {
      await admin.must('upsertAccount', { id, kind: 'team' });
      await admin.must('credit', id, { source: 'bonus', amountMicros: micros, reference: 'gift' });
    }
    // Each process has served every account once: the allowance is open, and the batches know them.
    for (const p of procs) for (const id of ['held', 'o1', 'o2']) await p.must('release', (await p.must('authorize', id, CALL)).hold.id);
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await db?.drop();
  });

  /** The children's connections waiting on a lock. */
  async function waitingOnLocks(): Promise<number> {
    const [row] = await db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ANY ($1::text[]) AND wait_event_type = 'Lock'`,
      [procs.map((p) => `tollgate ${p.pid}`)],
    );
    return row!.n;
  }

  it("each process goes on with the other accounts, keeps one connection on the row, and admits only what the held account has once it is free", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.sql.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM accounts WHERE id = 'held' FOR NO KEY UPDATE`);
      locked();
      await released;
    });
    await isLocked;
    const heldCalls: Promise<any>[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), 20_000)));
      heldCalls.push(...procs.flatMap((p) => Array.from({ length: 8 }, () => p.must('authorize', 'held', CALL))));
      const others = Promise.all(procs.flatMap((p) => ['o1', 'o2', 'o1', 'o2'].map((id) => p.must('authorize', id, CALL))));
      const answered = await Promise.race([others, stalled]);
      expect(answered).not.toBe('stalled');
      expect(answered).toEqual(Array(8).fill(expect.objectContaining({ ok: true })));
      await expect.poll(waitingOnLocks, { timeout: 10_000 }).toBe(2); // one of each process's calls waits on the row
      // And stays so: each process's other calls of the account wait in it, not on the row.
      for (let sample = 0; sample < 10; sample++) {
        expect(await waitingOnLocks()).toBeLessThanOrEqual(2);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    } finally {
      clearTimeout(timer);
      release();
      await holder;
    }
    const answers = await Promise.all(heldCalls);
    expect(answers.filter((a) => a.ok)).toHaveLength(FITS);
    expect(answers.filter((a) => !a.ok).map((a) => a.code)).toEqual(Array(16 - FITS).fill(expect.any(String)));
    const [open] = await db.sql.query<{ n: number; micros: number }>(
      `SELECT count(*)::int AS n, sum(amount_micros)::int AS micros FROM holds WHERE account_id = 'held' AND status = 'open'`);
    expect(open).toEqual({ n: FITS, micros: FITS * 2_000 });
  });
});
