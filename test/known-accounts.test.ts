/**
 * A process remembers the accounts it served and skips their reads; two facades over one
 * database stand for two processes. Whatever the other one changes — value spent or granted,
 * holds placed, the account's terms, the catalog — the first sees at once, because every
 * write it makes on what it remembers is guarded by the versions of what it remembered.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts, mustCall, mustRefuse } from './support/spend.ts';

/** test-model at the default 50% margin: each input token is 2 µ$ of value. */
const tokensFor = (micros: number) => micros / 2;

/** The same database, counting the statements run through it. */
function counting(sql: Sql): { sql: Sql; count: () => number } {
  let statements = 0;
  const wrap = (inner: Sql): Sql => ({
    ...inner,
    query: (text, params) => {
      statements++;
      return inner.query(text, params);
    },
    transaction: (work) => inner.transaction((tx) => work(wrap(tx))),
    uninterrupted: (work) => inner.uninterrupted((s) => work(wrap(s))),
    get asyncCommit() {
      return wrap(inner.asyncCommit);
    },
  });
  return { sql: wrap(sql), count: () => statements };
}

for (const engine of ENGINES) {
  describe(`accounts this process knows, on ${engine.name}`, () => {
    const t = useBilling(engine);
    const otherProcess = () => createBilling({ database: t.sql, clock: t.clock.read });

    async function knownAccount(billing: Billing, micros: number) {
      await fundedAccounts(billing, ['a'], micros);
      await mustCall(billing, 'a', 1_000); // now this process knows the account
    }

    it('authorizes and settles a known account in one statement each, the authorization on its guarded write', async () => {
      await knownAccount(t.billing, 5_000_000);
      const { sql, count } = counting(t.sql);
      const billing = await createBilling({ database: sql, clock: t.clock.read });
      await mustCall(billing, 'a', 1_000); // learns the account
      const before = count();
      const auth = await billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 });
      expect(auth.ok).toBe(true);
      expect(count() - before).toBe(1); // answered only once its hold is written
      if (!auth.ok) return;
      await billing.settle(auth.hold.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: 'one-statement' });
      expect(count() - before).toBe(2);
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('records on an account it learned from a record in one statement, and charges a record and a settle that come together in one', async () => {
      await fundedAccounts(t.billing, ['a'], 5_000_000);
      const { sql, count } = counting(t.sql);
      const billing = await createBilling({ database: sql, clock: t.clock.read });
      const usage = { inputTokens: 1_000, outputTokens: 0 }; // 2,000 µ$ of value each
      const record = (key: string) => billing.record('a', { model: 'test-model', provider: 'test', usage }, { idempotencyKey: key });
      await record('first'); // read, then write: now the account is known
      let before = count();
      await record('second');
      expect(count() - before).toBe(1);
      before = count();
      const auth = await billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      const [settled, recorded] = await Promise.all([billing.settle(auth.hold.id, usage, { idempotencyKey: 'settled' }), record('third')]);
      expect(count() - before).toBe(2); // the hold, written behind its answer; then the settle and the record together
      expect([settled.holdId, recorded.holdId]).toEqual([auth.hold.id, null]);
      expect(await record('third')).toMatchObject({ usageEventId: recorded.usageEventId, replayed: true });
      expect((await billing.balance('a')).availableMicros).toBe(5_000_000 - 4 * 2_000);
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('charges the calls on known accounts together when a call on an account it does not know comes with them', async () => {
      await fundedAccounts(t.billing, ['a', 'b', 'c'], 5_000_000);
      const { sql, count } = counting(t.sql);
      const billing = await createBilling({ database: sql, clock: t.clock.read });
      const usage = { inputTokens: 1_000, outputTokens: 0 };
      const record = (id: string, key: string) => billing.record(id, { model: 'test-model', provider: 'test', usage }, { idempotencyKey: key });
      await record('a', 'learn-a');
      await record('b', 'learn-b');
      const before = count();
      const charges = await Promise.all([record('a', 'x'), record('b', 'x'), record('c', 'x')]);
      expect(charges.map((c) => c.accountId)).toEqual(['a', 'b', 'c']);
      expect(count() - before).toBe(3); // a and b in one statement; c alone: a read, then a write
      for (const id of ['a', 'b', 'c']) expect((await billing.reconcile(id)).problems).toEqual([]);
    });

    it('a key repeated within one batch is charged once; the batch still goes in one statement', async () => {
      await fundedAccounts(t.billing, ['a'], 5_000_000);
      const { sql, count } = counting(t.sql);
      const billing = await createBilling({ database: sql, clock: t.clock.read });
      const usage = { inputTokens: 1_000, outputTokens: 0 };
      const record = (key: string) => billing.record('a', { model: 'test-model', provider: 'test', usage }, { idempotencyKey: key });
      await record('learn');
      const before = count();
      const [first, other, again, andAgain] = await Promise.all([record('twice'), record('once'), record('twice'), record('twice')]);
      // The batch writes 'twice' and 'once' together; each repeat goes alone: a read, a write the key refuses, the first answer.
      expect(count() - before).toBe(1 + 2 * 3);
      expect([other.replayed, first.replayed, again, andAgain]).toEqual([false, false, { ...first, replayed: true }, { ...first, replayed: true }]);
      expect((await billing.balance('a')).availableMicros).toBe(5_000_000 - 3 * 2_000);
    });

    it('a record on a known account draws first on credit another process granted that expires sooner', async () => {
      await knownAccount(t.billing, 1_000_000);
      const other = await otherProcess();
      await other.credit('a', { source: 'bonus', amountMicros: 300_000, reference: 'expiring', expiresAt: new Date('2026-03-20T00:00:00Z') });
      await t.billing.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: tokensFor(200_000), outputTokens: 0 } }, { idempotencyKey: 'here' });
      const buckets = (await t.billing.balance('a')).buckets.map((b) => [b.expiresAt === null ? 'lasting' : 'expiring', b.remainingMicros]);
      expect(buckets).toEqual([['expiring', 100_000], ['lasting', 1_000_000 - 2_000]]);
      expect((await t.billing.reconcile('a')).problems).toEqual([]);
    });

    it('sees value another process spent', async () => {
      await knownAccount(t.billing, 1_000_000);
      const other = await otherProcess();
      await other.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: tokensFor(900_000), outputTokens: 0 } }, { idempotencyKey: 'elsewhere' });
      const auth = await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: tokensFor(500_000), maxOutputTokens: 0 });
      expect(auth).toMatchObject({ ok: false, code: 'insufficient_balance' });
    });

    it('counts holds another process placed', async () => {
      await knownAccount(t.billing, 1_000_000);
      const other = await otherProcess();
      const theirs = await other.authorize('a', { model: 'test-model', provider: 'test', inputTokens: tokensFor(800_000), maxOutputTokens: 0 });
      expect(theirs.ok).toBe(true);
      const mine = await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: tokensFor(500_000), maxOutputTokens: 0 });
      expect(mine).toMatchObject({ ok: false, code: 'insufficient_balance' });
    });

    it('spends value another process granted at once', async () => {
      await knownAccount(t.billing, 100_000);
      const other = await otherProcess();
      await other.credit('a', { source: 'bonus', amountMicros: 5_000_000, reference: 'top-up' });
      const charge = await mustCall(t.billing, 'a', tokensFor(1_000_000));
      expect(charge.debtMicros).toBe(0);
    });

    it('charges at a margin an admin set elsewhere, even for a hold authorized before', async () => {
      await knownAccount(t.billing, 5_000_000);
      const auth = await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      const other = await otherProcess();
      await other.admin.updateSettings({ marginBps: 0 });
      const charge = await t.billing.settle(auth.hold.id, { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: 'after-margin' });
      expect(charge).toMatchObject({ costMicros: 100_000, valueMicros: 100_000 });
    });

    it('records on a known account at a margin an admin set elsewhere', async () => {
      await knownAccount(t.billing, 5_000_000);
      await t.billing.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: 1_000, outputTokens: 0 } }, { idempotencyKey: 'before' });
      const other = await otherProcess();
      await other.admin.updateSettings({ marginBps: 0 });
      const charge = await t.billing.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: 100_000, outputTokens: 0 } }, { idempotencyKey: 'after' });
      expect(charge).toMatchObject({ costMicros: 100_000, valueMicros: 100_000 });
    });

    it("counts usage in the day of the account's new time zone, changed elsewhere", async () => {
      await knownAccount(t.billing, 5_000_000);
      await t.billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 3_000_000 }] });
      await mustCall(t.billing, 'a', 1_000); // known again, under the new plan terms
      const auth = await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      const other = await otherProcess();
      // 12:00 UTC is 21:00 in Tokyo: a Tokyo day began at 15:00 UTC the day before.
      await other.upsertAccount({ id: 'a', kind: 'team', timeZone: 'Asia/Tokyo' });
      await t.billing.settle(auth.hold.id, { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: 'tokyo' });
      const day = (await t.billing.balance('a')).limits.find((l) => l.window === 'day')!;
      // The Tokyo day began before the UTC day it replaces, so it carries that day's 4,000 µ$ on: all of it happened in the Tokyo day too.
      expect(day).toMatchObject({ used: 204_000, resetsAt: new Date('2026-03-10T15:00:00Z') });
    });

    it("leaves out of the new day's usage a charge from a process whose clock still says yesterday", async () => {
      await knownAccount(t.billing, 5_000_000);
      await t.billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 3_000_000 }] });
      t.clock.set('2026-03-11T00:00:01Z');
      const today = await mustCall(t.billing, 'a', 100_000);
      const lagging = await createBilling({ database: t.sql, clock: () => new Date('2026-03-10T23:59:59Z') });
      const late = await lagging.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: 50_000, outputTokens: 0 } }, { idempotencyKey: 'late' });
      await mustCall(t.billing, 'a', 1_000); // this process, which knew the account, reads it afresh
      const limits = (await t.billing.balance('a')).limits;
      expect(limits.find((l) => l.window === 'day')!.used).toBe(today.valueMicros + 2_000);
      const fresh = await otherProcess();
      expect((await fresh.balance('a')).limits.find((l) => l.window === 'day')!.used).toBe(today.valueMicros + 2_000);
      expect(late.valueMicros).toBe(100_000);
      // Counted in the day it happened in, by the lagging process's clock.
      expect((await lagging.balance('a')).limits.find((l) => l.window === 'day')!.used).toBe(2_000 + late.valueMicros);
      expect((await t.billing.reconcile('a')).problems).toEqual([]);
    });

    it("keeps enforcing today's limit after a process whose clock runs fast has started tomorrow", async () => {
      await knownAccount(t.billing, 5_000_000);
      await t.billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 500_000 }] });
      t.clock.set('2026-03-10T23:55:00Z');
      await mustCall(t.billing, 'a', 100_000); // 202,000 µ$ of today's 500,000, with the 2,000 that made it known
      const fast = await createBilling({ database: t.sql, clock: () => new Date('2026-03-11T00:00:00Z') });
      await mustCall(fast, 'a', 100_000); // tomorrow's, by its clock
      t.clock.set('2026-03-10T23:56:00Z');
      await mustCall(t.billing, 'a', 100_000); // 402,000 µ$ today
      expect(await mustRefuse(t.billing, 'a', 100_000)).toMatchObject({ code: 'daily_limit' });
      expect((await (await otherProcess()).balance('a')).limits.find((l) => l.window === 'day')).toMatchObject({ used: 402_000 });
      t.clock.set('2026-03-11T00:00:30Z');
      expect((await t.billing.balance('a')).limits.find((l) => l.window === 'day')).toMatchObject({ used: 200_000 });
    });

    it('a settle on a known account that another process just charged reads afresh and charges once', async () => {
      await knownAccount(t.billing, 5_000_000);
      const auth = await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      const other = await otherProcess();
      const first = await other.settle(auth.hold.id, { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: 'raced' });
      const again = await t.billing.settle(auth.hold.id, { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: 'raced' });
      expect(again).toMatchObject({ usageEventId: first.usageEventId, replayed: true });
      expect((await t.billing.balance('a')).availableMicros).toBe(5_000_000 - 2_000 - 200_000);
      expect((await t.billing.reconcile('a')).problems).toEqual([]);
    });
  });
}
