/**
 * The gate mutex (the account row) on PostgreSQL: a call that waits on it for a writer that
 * changes the account's plan, or caps a member, decides on what that writer committed. Skipped,
 * with a note, without TEST_DATABASE_URL (PGlite runs one transaction at a time).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

const postgres = ENGINES.find((e) => e.name === 'postgres');
if (!POSTGRES_URL) console.warn('\n[gate mutex tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

describe.skipIf(!postgres)(`the gate mutex on postgres${postgres ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const t = useBilling(postgres!);
  const ask = { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 };

  /** Run `change` in a transaction that holds the account row until `release` is called. */
  async function holding(accountId: string, change: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const done = t.sql.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
      await tx.exec(change);
      locked();
      await released;
    });
    await isLocked;
    return { release, done };
  }

  /** An account on a plan with an allowance not opened yet: its first authorization takes the gate mutex. */
  async function unopened(id: string) {
    await fundedAccounts(t.billing, [id], 5_000_000);
    await t.billing.admin.createPlan({ slug: 'incl', name: 'Included', priceCents: 0, includedMicros: 1_000_000, overage: 'credits' }).catch(() => undefined);
    await t.sql.query(`UPDATE accounts SET plan_id = (SELECT id FROM plans WHERE slug = 'incl') WHERE id = $1`, [id]);
  }

  it('a call that waited for a plan change finds the account, on its new plan', async () => {
    await unopened('fresh');
    await t.billing.admin.createPlan({ slug: 'other', name: 'Other', priceCents: 0, includedMicros: 2_000_000, overage: 'credits' });
    const change = await holding('fresh', `UPDATE accounts SET plan_id = (SELECT id FROM plans WHERE slug = 'other') WHERE id = 'fresh'`);
    const authorizing = t.billing.authorize('fresh', ask);
    const crediting = t.billing.credit('fresh', { source: 'bonus', amountMicros: 1, reference: 'while-locked' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    change.release();
    await change.done;
    expect(await authorizing).toMatchObject({ ok: true });
    await expect(crediting).resolves.toMatchObject({ created: true });
    expect((await t.billing.balance('fresh')).plan.slug).toBe('other');
  });

  it('an authorization that waited for a member cap is decided under it', async () => {
    await unopened('team');
    const change = await holding('team', `INSERT INTO member_limits (account_id, user_id, limits, usage, updated_at)
      VALUES ('team', 'u1', '[{"window":"day","unit":"usd","amount":1}]', '{"day":{"current":null,"previous":null},"month":{"current":null,"previous":null},"usageAt":null}', now())`);
    const waiting = t.billing.authorize('team', { ...ask, userId: 'u1' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    change.release();
    await change.done;
    expect(await waiting).toMatchObject({ ok: false, code: 'member_limit' });
  });

  // On a connection of its own: the billing's pools may have none to lend.
  let monitor: pg.Client;
  beforeAll(async () => {
    monitor = new pg.Client({ connectionString: POSTGRES_URL });
    await monitor.connect();
  });
  afterAll(() => monitor?.end());

  /** Of this process's connections, those waiting on a lock. */
  async function waitingOnLocks(): Promise<number> {
    const { rows: [row] } = await monitor.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [`tollgate ${process.pid}`]);
    return row!.n;
  }
  /** The most of this process's connections seen waiting on a lock, sampled for about `ms`. */
  async function mostWaitingOnLocks(ms: number): Promise<number> {
    let most = 0;
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 20))) most = Math.max(most, await waitingOnLocks());
    return most;
  }
  const settledYet = (promise: Promise<unknown>) => {
    const state = { settled: false };
    void promise.then(() => (state.settled = true), () => (state.settled = true));
    return state;
  };

  it("a row held long (a processor's answer awaited under the mutex) stalls only its own account's calls, which wait one at a time", async () => {
    const others = ['o1', 'o2', 'o3', 'o4'];
    await fundedAccounts(t.billing, ['held', ...others], 5_000_000);
    const before = await t.billing.authorize('held', ask);
    if (!before.ok) throw new Error('expected a hold');
    const round = () => Promise.all(others.flatMap((id) => [t.billing.authorize(id, ask), t.billing.authorize(id, ask)]));
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), 20_000)));
    const heldCalls: Promise<unknown>[] = [];
    const holder = await holding('held', 'SELECT 1');
    try {
      // The held account's calls go in the same ticks as the others', so they meet its row in the same batches.
      heldCalls.push(...Array.from({ length: 4 }, () => t.billing.authorize('held', ask)));
      const first = await Promise.race([round(), stalled]);
      expect(first).not.toBe('stalled');
      expect(first).toEqual(Array(8).fill(expect.objectContaining({ ok: true })));
      // The account's own charges do not wait on its gate: a settle takes the ledger's side.
      expect(await Promise.race([t.billing.settle(before.hold.id, { inputTokens: 10, outputTokens: 0 }, { idempotencyKey: 'settled-while-held' }), stalled])).toMatchObject({ holdId: before.hold.id });
      const heldAnswered = heldCalls.map(settledYet);
      // Later calls of the held account queue in this process instead of meeting the row in every batch.
      heldCalls.push(t.billing.authorize('held', ask), t.billing.authorize('held', ask));
      expect(await Promise.race([round(), stalled])).toEqual(Array(8).fill(expect.objectContaining({ ok: true })));
      await expect.poll(waitingOnLocks, { timeout: 10_000 }).toBe(1); // one call waits on the row; the rest wait in this process
      expect(heldAnswered.some((state) => state.settled)).toBe(false);
    } finally {
      clearTimeout(timer);
      holder.release();
      await holder.done;
    }
    expect(await Promise.all(heldCalls)).toEqual(Array(6).fill(expect.objectContaining({ ok: true })));
    const [open] = await t.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM holds WHERE account_id = 'held' AND status = 'open'`);
    expect(open!.n).toBe(6);
    // The row is free again: the account's calls go in batches with the others'.
    expect(await Promise.all([t.billing.authorize('held', ask), ...others.map((id) => t.billing.authorize(id, ask))])).toEqual(Array(5).fill(expect.objectContaining({ ok: true })));
    expect(await waitingOnLocks()).toBe(0);
  });

  it("a burst of a held account's calls waits on its row one call at a time, not a connection each", async () => {
    await fundedAccounts(t.billing, ['busy', 'calm'], 50_000_000);
    await Promise.all([t.billing.authorize('busy', ask), t.billing.authorize('calm', ask)]);
    const busyCalls: Promise<unknown>[] = [];
    let most: number;
    const holder = await holding('busy', 'SELECT 1');
    try {
      busyCalls.push(...Array.from({ length: 40 }, () => t.billing.authorize('busy', ask)));
      // Each call that tried the row itself would hold a connection while it waits, and the rest of the process's calls would queue for one.
      most = await mostWaitingOnLocks(1_000);
      expect(await t.billing.authorize('calm', ask)).toMatchObject({ ok: true });
    } finally {
      holder.release();
      await holder.done;
    }
    expect(most).toBe(1);
    expect(await Promise.all(busyCalls)).toEqual(Array(40).fill(expect.objectContaining({ ok: true })));
  });

  it('calls with bookkeeping to write first (an allowance to open), which meet the row only under the mutex, wait for it one at a time too', async () => {
    await unopened('fresh');
    await fundedAccounts(t.billing, ['calm'], 50_000_000);
    const calm = await t.billing.authorize('calm', ask);
    if (!calm.ok) throw new Error('expected a hold');
    const calls: Promise<unknown>[] = [];
    let most: number;
    let timer: NodeJS.Timeout | undefined;
    const holder = await holding('fresh', 'SELECT 1');
    try {
      calls.push(...Array.from({ length: 30 }, () => t.billing.authorize('fresh', ask)));
      most = await mostWaitingOnLocks(600);
      // A connection each would take the durable pool, and every settle with it.
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), 20_000)));
      expect(await Promise.race([t.billing.settle(calm.hold.id, { inputTokens: 10, outputTokens: 0 }, { idempotencyKey: 'calm-settle' }), stalled]))
        .toMatchObject({ holdId: calm.hold.id });
    } finally {
      clearTimeout(timer);
      holder.release();
      await holder.done;
    }
    expect(most).toBe(1);
    expect(await Promise.all(calls)).toEqual(Array(30).fill(expect.objectContaining({ ok: true })));
  });
});
