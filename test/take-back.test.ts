/**
 * A credit granted by mistake taken back: a negative adjustment off its bucket, never more than
 * it has left unspent, alone or many at once, once per key; the ledger still reconciles. And what
 * the admin panel reads of an account: the ledger's sum and the lines from it to what is
 * available (a write-off pending among them), and the gate's own answer while it refuses.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, type Billing } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { DAY, ENGINES, useBilling } from './support/harness.ts';
import { call, completed, fundedAccounts, mustCall } from './support/spend.ts';

async function written(sql: Sql) {
  const [row] = await sql.query(
    `SELECT (SELECT count(*) FROM ledger_entries) AS entries, (SELECT coalesce(sum(remaining_micros), 0) FROM buckets) AS remaining,
            (SELECT count(*) FROM effect_keys) AS keys`,
  );
  return row;
}

/** The call's BillingError, checking it wrote nothing. */
async function refused(sql: Sql, work: () => Promise<unknown>): Promise<BillingError> {
  const before = await written(sql);
  const error = await work().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a BillingError').toBeInstanceOf(BillingError);
  expect(await written(sql)).toEqual(before);
  return error as BillingError;
}

/** The ledger's sum, less and plus the lines the admin panel shows, is what balance() says is available. */
async function addsUp(billing: Billing, accountId: string) {
  const totals = await billing.admin.ledgerTotals(accountId);
  const pending = totals.pendingWriteOffs.reduce((sum, w) => sum + w.amountMicros, 0);
  const lines = totals.ledgerMicros - pending - totals.unspendableMicros - totals.heldMicros + totals.pendingAllowanceMicros;
  expect(Math.max(0, lines)).toBe(totals.availableMicros);
  expect(totals.availableMicros).toBe((await billing.balance(accountId)).availableMicros);
  expect((await billing.reconcile(accountId)).problems).toEqual([]);
  return totals;
}

for (const engine of ENGINES) {
  describe(`taking back a credit on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('adds up a ledger past 2^53 micro-dollars (91 grants of the most one may be) without failing: its sums saturate', async () => {
      const { billing } = t;
      await fundedAccounts(billing, [], 0);
      await billing.upsertAccount({ id: 'whale', kind: 'team' });
      for (let i = 0; i < 91; i++) await billing.credit('whale', { source: 'bonus', amountMicros: 100_000_000_000_000, reference: `big-${i}` });
      const totals = await billing.admin.ledgerTotals('whale');
      expect(totals.ledgerMicros).toBe(Number.MAX_SAFE_INTEGER);
      expect(totals.availableMicros).toBe((await billing.balance('whale')).availableMicros);
    });

    it('takes back a part, then the rest; asked for more than is left unspent, it refuses and writes nothing', async () => {
      const { billing, sql } = t;
      await fundedAccounts(billing, [], 0);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      const { bucketId } = await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'oops' });
      const spent = await mustCall(billing, 'acme', 1_000_000); // $1 of test-model at the margin
      const left = 5_000_000 - spent.valueMicros;

      const part = await billing.takeBack('acme', bucketId, { amountMicros: 1_500_000 }, { idempotencyKey: 'tb-1' });
      expect(part).toEqual({ accountId: 'acme', bucketId, takenMicros: 1_500_000, remainingMicros: left - 1_500_000, replayed: false });
      // A retry under its key is the first answer, nothing more taken.
      expect(await billing.takeBack('acme', bucketId, { amountMicros: 1_500_000 }, { idempotencyKey: 'tb-1' })).toEqual({ ...part, replayed: true });
      await expect(billing.takeBack('acme', bucketId, { amountMicros: 1 }, { idempotencyKey: 'tb-1' })).rejects.toMatchObject({ code: 'idempotency_conflict' });

      const over = await refused(sql, () => billing.takeBack('acme', bucketId, { amountMicros: left - 1_500_000 + 1 }, { idempotencyKey: 'tb-2' }));
      expect(over).toMatchObject({ code: 'take_back_exceeds_remaining', details: { bucketId, remainingMicros: left - 1_500_000 } });
      expect(over.message).toMatch(/^Bucket \d+ \(a bonus of \$5\.00\) has \$[\d.]+ left unspent: at most \$[\d.]+ can be taken back, not \$[\d.]+$/);

      // Left out, the amount is all that is left; then nothing is.
      expect(await billing.takeBack('acme', bucketId, {}, { idempotencyKey: 'tb-3' })).toMatchObject({ takenMicros: left - 1_500_000, remainingMicros: 0 });
      const none = await refused(sql, () => billing.takeBack('acme', bucketId, {}, { idempotencyKey: 'tb-4' }));
      expect(none.message).toMatch(/has nothing left unspent/);

      expect((await billing.balance('acme')).availableMicros).toBe(0);
      const entries = await sql.query<{ amount_micros: number }>(`SELECT amount_micros FROM ledger_entries WHERE kind = 'adjustment' AND bucket_id = $1 ORDER BY id`, [bucketId]);
      expect(entries.map((e) => e.amount_micros)).toEqual([-1_500_000, -(left - 1_500_000)]);
      await addsUp(billing, 'acme');
      // Spent value stays spent: the call's charge is still the event's.
      expect((await billing.usage('acme', { from: '2026-03-01', to: '2026-04-01' })).total.valueMicros).toBe(spent.valueMicros);
    });

    it('refuses a paid bucket, another account\'s bucket, one that does not exist and a bad amount, writing nothing', async () => {
      const { billing, sql } = t;
      await fundedAccounts(billing, ['acme', 'other'], 1_000_000);
      const { bucketId: packBucket } = completed(await billing.purchase('acme', 'credits-10', { idempotencyKey: 'pack' }));
      const paid = await refused(sql, () => billing.takeBack('acme', packBucket, {}, { idempotencyKey: 'k1' }));
      expect(paid).toMatchObject({ code: 'take_back_not_allowed' });
      expect(paid.message).toMatch(/only a bonus or an adjustment can be taken back; paid value leaves with its payment's refund/);
      const [theirs] = await sql.query<{ id: number }>(`SELECT id FROM buckets WHERE account_id = 'other'`);
      expect(await refused(sql, () => billing.takeBack('acme', theirs!.id, {}, { idempotencyKey: 'k2' }))).toMatchObject({ code: 'bucket_not_found' });
      expect(await refused(sql, () => billing.takeBack('acme', 999_999, {}, { idempotencyKey: 'k3' }))).toMatchObject({ code: 'bucket_not_found' });
      expect(await refused(sql, () => billing.takeBack('ghost', theirs!.id, {}, { idempotencyKey: 'k4' }))).toMatchObject({ code: 'account_not_found' });
      expect(await refused(sql, () => billing.takeBack('other', theirs!.id, { amountMicros: 0 }, { idempotencyKey: 'k5' }))).toMatchObject({ code: 'invalid_input' });
      expect(await refused(sql, () => billing.takeBack('other', 0, {}, { idempotencyKey: 'k6' }))).toMatchObject({ code: 'invalid_input' });
      await addsUp(billing, 'acme');
      await addsUp(billing, 'other');
    });

    it('leaves what calls in progress hold: their settles find it there, and the account owes nothing', async () => {
      const { billing, sql } = t;
      await fundedAccounts(billing, [], 0);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      const { bucketId } = await billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'oops' });
      const auth = await billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: 200_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      const held = (await billing.balance('acme')).heldMicros;
      expect(held).toBeGreaterThan(0);
      const error = await refused(sql, () => billing.takeBack('acme', bucketId, { amountMicros: 1_000_000 }, { idempotencyKey: 'all' }));
      expect(error).toMatchObject({ code: 'take_back_exceeds_remaining', details: { remainingMicros: 1_000_000, takeableMicros: 1_000_000 - held } });
      expect(error.message).toContain('of which calls in progress hold');
      expect(await billing.takeBack('acme', bucketId, {}, { idempotencyKey: 'rest' })).toMatchObject({ takenMicros: 1_000_000 - held, remainingMicros: held });
      await billing.settle(auth.hold.id, { inputTokens: 200_000, outputTokens: 0 }, { idempotencyKey: 'settle' });
      expect((await billing.balance('acme')).debtMicros).toBe(0);
      await addsUp(billing, 'acme');
    });

    it('many take-backs and calls at once never take a bucket below zero, nor more than it had', async () => {
      const { billing, sql } = t;
      await fundedAccounts(billing, [], 0);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      const { bucketId } = await billing.credit('acme', { source: 'adjustment', amountMicros: 10_000_000, reference: 'fix' });
      const results = await Promise.allSettled([
        ...Array.from({ length: 8 }, (_, i) => billing.takeBack('acme', bucketId, { amountMicros: 3_000_000 }, { idempotencyKey: `many-${i}` })),
        ...Array.from({ length: 4 }, () => call(billing, 'acme', 500_000)),
      ]);
      const taken = results.slice(0, 8).filter((r) => r.status === 'fulfilled').length;
      for (const r of results.slice(0, 8)) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'take_back_exceeds_remaining' });
      expect(taken).toBeGreaterThanOrEqual(2);
      expect(taken).toBeLessThanOrEqual(3);
      const [bucket] = await sql.query<{ remaining_micros: number }>('SELECT remaining_micros FROM buckets WHERE id = $1', [bucketId]);
      const [spent] = await sql.query<{ value: number }>(`SELECT coalesce(sum(value_micros), 0)::bigint AS value FROM usage_events WHERE account_id = 'acme'`);
      expect(bucket!.remaining_micros).toBeGreaterThanOrEqual(0);
      expect(bucket!.remaining_micros).toBe(10_000_000 - taken * 3_000_000 - Number(spent!.value));
      expect((await billing.balance('acme')).debtMicros).toBe(0);
      await addsUp(billing, 'acme');
    });
  });

  describe(`what the admin panel reads of an account on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('the ledger adds up to what is available, a write-off pending included, and after it is written off', async () => {
      const { billing, clock } = t;
      await fundedAccounts(billing, ['acme'], 2_000_000);
      await billing.credit('acme', { source: 'bonus', amountMicros: 500_000, reference: 'trial', expiresAt: new Date(clock.now.getTime() + DAY) });
      await mustCall(billing, 'acme', 100_000);
      const before = await addsUp(billing, 'acme');
      expect(before.pendingWriteOffs).toEqual([]);

      clock.advance(2 * DAY); // the trial expired; expireCredit writes it off a week after
      await billing.expireCredit();
      const pending = await addsUp(billing, 'acme');
      expect(pending.pendingWriteOffs).toHaveLength(1);
      expect(pending.pendingWriteOffs[0]).toMatchObject({ source: 'bonus' });
      expect(pending.pendingWriteOffs[0]!.amountMicros).toBeGreaterThan(0);
      expect(pending.ledgerMicros - pending.pendingWriteOffs[0]!.amountMicros).toBe(pending.availableMicros);

      clock.advance(7 * DAY);
      expect((await billing.expireCredit()).buckets).toBe(1);
      const after = await addsUp(billing, 'acme');
      expect(after.pendingWriteOffs).toEqual([]);
      expect(after.ledgerMicros).toBe(pending.availableMicros);
    });

    it('an account past its daily limit is refused until the next day starts in its time zone, as the gate says', async () => {
      const { billing, clock } = t;
      await fundedAccounts(billing, ['acme'], 5_000_000);
      await billing.upsertAccount({ id: 'acme', kind: 'team', timeZone: 'America/New_York' });
      const { valueMicros } = await mustCall(billing, 'acme', 100_000);
      // The day's use reaches the limit exactly: the smallest call passes it.
      await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 2 * valueMicros }] });
      expect(await billing.canStart('acme')).toEqual({ ok: true });
      await mustCall(billing, 'acme', 100_000);
      const refusal = await billing.canStart('acme');
      // 2026-03-10 12:00 UTC is 08:00 in New York (daylight time since March 8): the day ends at 04:00 UTC.
      expect(refusal).toMatchObject({ ok: false, code: 'daily_limit', resetsAt: new Date('2026-03-11T04:00:00Z') });
      expect((await billing.balance('acme')).availableMicros).toBeGreaterThan(0);
      clock.set('2026-03-11T03:59:59Z');
      expect(await billing.canStart('acme')).toMatchObject({ ok: false, code: 'daily_limit' });
      clock.set('2026-03-11T04:00:00Z');
      expect(await billing.canStart('acme')).toEqual({ ok: true });
    });
  });
}
