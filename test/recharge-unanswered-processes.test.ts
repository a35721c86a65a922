/**
 * Recharges the processor left unsettled, across two processes on one PostgreSQL database, both
 * running recharges at the same moment: one never answered for a day (its key could be
 * forgotten), and one answered pending whose webhook never came. Exactly one process ends each,
 * auto-recharge turns off once and starts nothing new by itself, a late webhook credits the
 * payment once, and set again, the two processes make one new recharge between them. Skipped
 * without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing, type Processor } from '../src/index.ts';
import { DAY, ENGINES, HOUR, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';
import { fundedAccounts } from './support/spend.ts';

/** The fake, taking a webhook as the JSON of the event: the late one a test sends. */
const withWebhooks = (): Processor => ({ ...fakeProcessor(), parseWebhook: async (rawBody) => [JSON.parse(rawBody, (key, value) => (key === 'at' ? new Date(value) : value))] });

describe.skipIf(!POSTGRES_URL)(`recharges left unsettled, across processes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];
  /** Two facades in this process, for the late webhook told twice at once. */
  let here: Billing[];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    here = await Promise.all([0, 1].map(() => createBilling({ database: db.sql, processors: [withWebhooks()] })));
    await fundedAccounts(here[0]!, ['never_answered', 'never_told'], 1_000_000);
    procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await Promise.all((here ?? []).map((b) => b.close()));
    await db?.drop();
  });

  /**
   * Auto-recharge on for the account ($1.00 available, under its $2.00 threshold), and its
   * recharge of the $10 pack in the state given, its key first sent `sentAgoMs` ago.
   */
  async function stuck(accountId: string, state: { status: 'pending' | 'awaiting_payment'; sentAgoMs: number; paymentRef?: string }) {
    await here[0]!.setAutoRecharge(accountId, { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
    const sentAt = new Date(Date.now() - state.sentAgoMs);
    await db.sql.query(
      `UPDATE recharges SET status = $2, amount_cents = 1000, debt_cents = 0, pack_id = (SELECT id FROM packs WHERE slug = 'credits-10'), processor = 'fake',
         payment_ref = $3, attempts = 3, first_sent_at = $4, created_at = $4, run_after = $5 WHERE account_id = $1`,
      [accountId, state.status, state.paymentRef ?? null, sentAt, new Date(Date.now() - 1_000)],
    );
    return (await db.sql.query<{ id: number }>('SELECT id FROM recharges WHERE account_id = $1', [accountId]))[0]!.id;
  }

  /** Both processes run recharges three times each, all at once: what each run did. */
  async function runEverywhere() {
    const outcomes = (await Promise.all(procs.map((p) => p.burst('runRecharges', [[], [], []])))).flat();
    for (const o of outcomes) expect(o.ok, JSON.stringify(o)).toBe(true);
    return outcomes.flatMap((o) => (o.ok ? (o.value as { accountId: string; outcome: string; reason?: string }[]) : []));
  }

  const recharges = (accountId: string) =>
    db.sql.query<{ status: string; reason: string | null }>('SELECT status, reason FROM recharges WHERE account_id = $1 ORDER BY id', [accountId]);
  const rechargeBuckets = (accountId: string) => db.sql.query(`SELECT 1 FROM buckets WHERE account_id = $1 AND source = 'recharge'`, [accountId]);

  /** The payment was made after all: its webhook, told twice at once. */
  async function lateWebhook(accountId: string, rechargeId: number, paymentRef: string) {
    const event = { type: 'payment.succeeded', eventId: `evt_${accountId}`, accountId, paymentRef, packSlug: 'credits-10', amountCents: 1_000, at: new Date(), rechargeId: String(rechargeId) };
    await Promise.all(here.map((b) => b.receiveWebhook('fake', JSON.stringify(event), new Headers())));
  }

  /** Set again above what is available, by both processes at once, and run by both: one new recharge, one charge, one credit. */
  async function setAgainEverywhere(accountId: string) {
    await Promise.all(procs.map((p) => p.must('setAutoRecharge', accountId, { enabled: true, pack: 'credits-10', thresholdMicros: 20_000_000 })));
    const runs = (await runEverywhere()).filter((r) => r.accountId === accountId);
    expect(runs).toMatchObject([{ outcome: 'succeeded' }]);
    expect((await recharges(accountId)).map((r) => r.status)).toEqual(['succeeded', 'succeeded']); // the first paid after all, as its webhook said
    expect(await rechargeBuckets(accountId)).toHaveLength(2);
  }

  it('a recharge never answered for a day: one process ends it, auto-recharge turns off once, its late webhook credits once', async () => {
    const id = await stuck('never_answered', { status: 'pending', sentAgoMs: DAY });
    const runs = (await runEverywhere()).filter((r) => r.accountId === 'never_answered');
    expect(runs).toMatchObject([{ outcome: 'skipped', reason: expect.stringContaining('did not answer the recharge of $10.00 for a day') }]);
    expect(await recharges('never_answered')).toMatchObject([{ status: 'unanswered' }]);
    const balance = await procs[1]!.must('balance', 'never_answered');
    expect(balance.autoRecharge).toMatchObject({ state: 'off', recharging: false, off: { code: 'processor_unanswered' } });
    expect(await runEverywhere()).toEqual([]); // off: nothing new, nothing sent

    await lateWebhook('never_answered', id, 'fake_pay_late');
    expect(await rechargeBuckets('never_answered')).toHaveLength(1);
    expect(await recharges('never_answered')).toMatchObject([{ status: 'succeeded' }]);
    expect((await procs[0]!.must('balance', 'never_answered')).availableMicros).toBe(balance.availableMicros + 10_000_000);
    expect((await here[0]!.reconcile('never_answered')).problems).toEqual([]);
    await setAgainEverywhere('never_answered');
  });

  it('a charge answered pending whose webhook never came: checked by one process at a time; a day on, one ends it, and its late webhook credits once', async () => {
    const id = await stuck('never_told', { status: 'awaiting_payment', sentAgoMs: 2 * HOUR, paymentRef: 'fake_pay_processing' });
    // Each process's fake made no such charge, so cannot say: one asks, and it waits on.
    let runs = (await runEverywhere()).filter((r) => r.accountId === 'never_told');
    expect(runs).toMatchObject([{ outcome: 'pending', reason: expect.stringContaining('made no charge fake_pay_processing') }]);
    const [next] = await db.sql.query<{ run_after: Date }>(`SELECT run_after FROM recharges WHERE account_id = 'never_told'`);
    expect(next!.run_after.getTime()).toBeGreaterThan(Date.now() + HOUR); // as long again as it waited
    expect((await procs[0]!.must('balance', 'never_told')).autoRecharge).toMatchObject({ state: 'on', recharging: true });

    await db.sql.query(`UPDATE recharges SET first_sent_at = $2, run_after = $3 WHERE account_id = $1`, ['never_told', new Date(Date.now() - DAY - HOUR), new Date(Date.now() - 1_000)]);
    runs = (await runEverywhere()).filter((r) => r.accountId === 'never_told');
    expect(runs).toMatchObject([{ outcome: 'skipped', reason: expect.stringContaining('has not said for a day whether the recharge of $10.00 (fake_pay_processing) was paid') }]);
    expect(await recharges('never_told')).toMatchObject([{ status: 'unanswered' }]);
    const balance = await procs[1]!.must('balance', 'never_told');
    expect(balance.autoRecharge).toMatchObject({ state: 'off', recharging: false, off: { code: 'processor_unanswered' } });
    expect(await runEverywhere()).toEqual([]);

    await lateWebhook('never_told', id, 'fake_pay_processing');
    expect(await rechargeBuckets('never_told')).toHaveLength(1);
    expect((await procs[0]!.must('balance', 'never_told')).availableMicros).toBe(balance.availableMicros + 10_000_000);
    expect((await here[0]!.reconcile('never_told')).problems).toEqual([]);
    await setAgainEverywhere('never_told');
  });
});
