/**
 * Time from one source: processes whose clocks disagree, and clocks that jump. Each test is a
 * scenario an operator's trial broke: limits that stopped refusing with a clock days or months
 * behind, a second of skew that turned a charge into debt, a clock that ran into next month
 * and wrote off the rest of this month's allowance. And the database's clock itself, which
 * every process on one PostgreSQL bills at when no clock is injected.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing } from '../src/index.ts';
import { databaseClock } from '../src/db/clock.ts';
import { DAY, ENGINES, MINUTE, TestClock, useBilling } from './support/harness.ts';
import { addTestModel, call, fundedAccounts, mustCall } from './support/spend.ts';

const CENT = 10_000; // µ$
const CENT_OF_INPUT = 5_000; // input tokens of test-model worth one cent of usage value

for (const engine of ENGINES) {
  describe(`time across processes on ${engine.name}`, () => {
    const t = useBilling(engine);

    /** Another process on the same database, with a clock of its own. */
    async function otherProcess(clock: TestClock, work: (billing: Billing) => Promise<void>): Promise<void> {
      const billing = await createBilling({ database: t.sql, clock: clock.read, processors: [fakeProcessor()] });
      try {
        await work(billing);
      } finally {
        await billing.close();
      }
    }

    /** Up to `calls` one-cent calls; how many went through, and the codes of the refusals. */
    async function spendCents(billing: Billing, calls: number): Promise<{ ok: number; refusals: Set<string> }> {
      const tally = { ok: 0, refusals: new Set<string>() };
      for (let i = 0; i < calls; i++) {
        const { auth } = await call(billing, 'acme', CENT_OF_INPUT);
        if (auth.ok) tally.ok += 1;
        else tally.refusals.add(auth.code);
      }
      return tally;
    }

    /**
     * $10 of value granted at `fundedAt` (before every clock in the test, so no process finds it
     * not yet started), a limit of ten cents a `window`, and the clock back at the default now.
     */
    async function limitedAccount(window: 'day' | 'month', fundedAt: string) {
      const { billing, clock } = t;
      const now = clock.now;
      clock.set(fundedAt);
      await fundedAccounts(billing, ['acme'], 10_000_000);
      clock.now = now;
      await billing.admin.updatePlan('payg', { limits: [{ window, unit: 'usd', amount: 10 * CENT }] });
    }

    const limitUsed = async (billing: Billing, window: 'day' | 'month') => (await billing.balance('acme')).limits.find((l) => l.window === window)!.used;

    it('a daily limit still refuses from a process whose clock is two days behind the last day counted', async () => {
      const { billing, clock } = t;
      await limitedAccount('day', '2026-03-01T00:00:00Z');
      expect((await spendCents(billing, 6)).ok).toBe(6); // 6 of the day's 10 cents
      await otherProcess(new TestClock(new Date(clock.now.getTime() - 2 * DAY)), async (behind) => {
        const spent = await spendCents(behind, 200);
        expect(spent).toEqual({ ok: 4, refusals: new Set(['daily_limit']) });
        // What it spent counts in the newest day, where every process sees it.
        expect(await limitUsed(behind, 'day')).toBe(10 * CENT);
      });
      expect(await limitUsed(billing, 'day')).toBe(10 * CENT);
      expect((await spendCents(billing, 1)).refusals).toEqual(new Set(['daily_limit']));
      // A record (no gate) from a clock a day behind counts in the newest day too.
      await otherProcess(new TestClock(new Date(clock.now.getTime() - DAY)), async (behind) => {
        await behind.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: CENT_OF_INPUT, outputTokens: 0 } }, { idempotencyKey: 'late' });
        expect((await spendCents(behind, 3)).refusals).toEqual(new Set(['daily_limit']));
      });
      expect(await limitUsed(billing, 'day')).toBe(11 * CENT);
      clock.advance(DAY); // the next day is a fresh one
      expect((await spendCents(billing, 1)).ok).toBe(1);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('a monthly limit still refuses from a process whose clock is two months behind the last month counted', async () => {
      const { billing } = t;
      await limitedAccount('month', '2026-01-01T00:00:00Z');
      expect((await spendCents(billing, 10)).ok).toBe(10);
      expect((await spendCents(billing, 1)).refusals).toEqual(new Set(['monthly_limit']));
      await otherProcess(new TestClock(new Date('2026-01-10T12:00:00Z')), async (behind) => {
        expect(await spendCents(behind, 200)).toEqual({ ok: 0, refusals: new Set(['monthly_limit']) });
      });
      expect(await limitUsed(billing, 'month')).toBe(10 * CENT);
    });

    /** Pay as you go, with `includedMicros` a month and nothing else. */
    async function paygAccount(billing: Billing, includedMicros: number) {
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros });
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
    }

    it('value granted by a process whose clock runs a second ahead is spent at once by the others, not charged as debt', async () => {
      const { billing, clock } = t;
      await paygAccount(billing, 0);
      await otherProcess(new TestClock(new Date(clock.now.getTime() + 1000)), async (ahead) => {
        await ahead.credit('acme', { source: 'bonus', amountMicros: 100 * CENT, reference: 'dollar' });
      });
      const charge = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: CENT_OF_INPUT, outputTokens: 0 } }, { idempotencyKey: 'r1' });
      expect(charge).toMatchObject({ valueMicros: CENT, debtMicros: 0 });
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 99 * CENT, debtMicros: 0 });
      expect((await spendCents(billing, 1)).ok).toBe(1);
    });

    it("a plan bought through a process whose clock runs a second ahead: its allowance is spent at once by the others", async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('usage-subscription');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await otherProcess(new TestClock(new Date(clock.now.getTime() + 1000)), async (ahead) => {
        await ahead.subscribe('acme', 'pro'); // its period, and its allowance, start a second from now here
      });
      const charge = await mustCall(billing, 'acme', CENT_OF_INPUT);
      expect(charge).toMatchObject({ valueMicros: CENT, debtMicros: 0 });
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 20_000_000 - CENT, debtMicros: 0 });
    });

    it('a clock that ran into next month and was set back has written off nothing of this month\'s allowance', async () => {
      const { billing, clock } = t;
      await paygAccount(billing, 100 * CENT);
      clock.set('2026-03-28T12:00:00Z');
      await mustCall(billing, 'acme', 20 * CENT_OF_INPUT); // 20 cents of March's dollar
      clock.set('2026-04-03T12:00:00Z'); // six days ahead: April's allowance opens
      await mustCall(billing, 'acme', 5 * CENT_OF_INPUT);
      expect(await billing.expireCredit()).toEqual({ buckets: 0, amountMicros: 0 });
      clock.set('2026-03-28T12:05:00Z'); // set back
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 80 * CENT, debtMicros: 0 });
      const charge = await mustCall(billing, 'acme', 30 * CENT_OF_INPUT);
      expect(charge).toMatchObject({ valueMicros: 30 * CENT, debtMicros: 0 });
      const [expired] = await t.sql.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ledger_entries WHERE kind = 'expiry'`);
      expect(expired!.n).toBe(0);
      // A week after March's allowance expired, what it left is written off, dated when it expired.
      clock.set('2026-04-08T00:00:00Z');
      expect(await billing.expireCredit()).toEqual({ buckets: 1, amountMicros: 50 * CENT });
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('holds placed by a process whose clock runs ahead lapse a moment later here, and count until then', async () => {
      const { billing, clock } = t;
      await fundedAccounts(billing, ['acme'], 100 * CENT);
      await billing.admin.updateSettings({ holdTtlSeconds: 60 });
      await otherProcess(new TestClock(new Date(clock.now.getTime() + 1000)), async (ahead) => {
        const auth = await ahead.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: 10 * CENT_OF_INPUT, maxOutputTokens: 0 });
        expect(auth.ok).toBe(true);
      });
      clock.advance(MINUTE);
      expect(await billing.balance('acme')).toMatchObject({ heldMicros: 10 * CENT, availableMicros: 90 * CENT });
      clock.advance(1000);
      expect(await billing.balance('acme')).toMatchObject({ heldMicros: 0, availableMicros: 100 * CENT });
    });

    it.skipIf(engine.name === 'pglite')('without an injected clock, processes on one PostgreSQL bill at its clock, whatever their own say', async () => {
      const readDatabase = async () => (await t.sql.query<{ ms: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms'))[0]!.ms;
      // Two processes whose own clocks are 3 seconds apart, either side of the truth.
      const skews = [-1500, 1500];
      const clocks = await Promise.all(skews.map((skew) => databaseClock(t.sql, { local: () => Date.now() + skew })));
      try {
        for (const [i, c] of clocks.entries()) {
          expect(Math.abs(c.offsetMs + skews[i]!)).toBeLessThan(50); // it found its own clock's error
          const before = c.now().getTime();
          const db = await readDatabase();
          const after = c.now().getTime();
          expect(db).toBeGreaterThanOrEqual(before - 20);
          expect(db).toBeLessThanOrEqual(after + 20);
        }
        expect(Math.abs(clocks[0]!.now().getTime() - clocks[1]!.now().getTime())).toBeLessThan(40);
      } finally {
        await Promise.all(clocks.map((c) => c.stop()));
      }
      // createBilling with no clock takes that one.
      const facades = [await createBilling({ database: t.sql }), await createBilling({ database: t.sql })];
      try {
        for (const facade of facades) {
          const before = facade.now().getTime();
          const db = await readDatabase();
          expect(db).toBeGreaterThanOrEqual(before - 20);
          expect(db).toBeLessThanOrEqual(facade.now().getTime() + 20);
        }
      } finally {
        await Promise.all(facades.map((f) => f.close()));
      }
    });

    it.skipIf(engine.name === 'postgres')('without an injected clock, PGlite, which runs in this process, bills at its clock', async () => {
      // The database's clock is this process's: there is nothing to sync.
      const facade = await createBilling({ database: t.sql });
      try {
        const before = Date.now();
        const now = facade.now().getTime();
        expect(now).toBeGreaterThanOrEqual(before);
        expect(now).toBeLessThanOrEqual(Date.now());
      } finally {
        await facade.close();
      }
    });
  });
}
