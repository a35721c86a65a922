/**
 * recordBatch: many usages across accounts, all or nothing, each charged once per key. A batch
 * goes in one statement that locks its accounts' ledgers in account order and draws on them as
 * they are then; what that statement cannot write is charged under the ledger mutexes. Here:
 * the answers, debt where value runs out, the usage counters and member caps as single charges
 * write them, a grant made between two batches, one huge batch on one account, many batches at
 * once on shared accounts in one process and in several (PostgreSQL), none deadlocking.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { countUsage, type UsageWindows } from '../src/core/usage-windows.ts';
import { DAY, ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { BillingProcess } from './support/processes.ts';
import { fundedAccounts } from './support/spend.ts';

/** test-model at $1 per million input tokens, $2 per million output, and the default 50% margin. */
const valueOf = (u: { inputTokens: number; outputTokens: number }) => 2 * u.inputTokens + 4 * u.outputTokens;

/** An account's ledger summed: value granted and left in its buckets, its debt, its usage events and their value. */
async function totals(sql: Sql, account: string) {
  const [row] = await sql.query<{ granted: number; remaining: number; negative: number; debt: number; events: number; value: number; counted: number }>(
    `SELECT
       (SELECT COALESCE(sum(amount_micros), 0) FROM buckets WHERE account_id = $1)::bigint AS granted,
       (SELECT COALESCE(sum(remaining_micros), 0) FROM buckets WHERE account_id = $1)::bigint AS remaining,
       (SELECT count(*) FROM buckets WHERE account_id = $1 AND remaining_micros < 0)::bigint AS negative,
       (SELECT debt_micros FROM account_balances WHERE account_id = $1) AS debt,
       (SELECT count(*) FROM usage_events WHERE account_id = $1)::bigint AS events,
       (SELECT COALESCE(sum(value_micros), 0) FROM usage_events WHERE account_id = $1)::bigint AS value,
       (SELECT day_value_micros FROM account_balances WHERE account_id = $1) AS counted`,
    [account],
  );
  return row!;
}

/** Every usage is paid for: what the buckets gave plus the debt is the value of the account's events, and no bucket is below zero. */
async function paidFor(sql: Sql, account: string) {
  const t = await totals(sql, account);
  expect(t.negative).toBe(0);
  expect(t.granted - t.remaining + t.debt, `${account}: drawn + debt`).toBe(t.value);
  return t;
}

for (const engine of ENGINES) {
  describe(`recordBatch on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function setup() {
      const { billing } = t;
      await fundedAccounts(billing, ['a', 'b'], 3_000_000);
      return billing;
    }

    const usage = (inputTokens: number) => ({ inputTokens, outputTokens: 0 });

    it('charges many usages across accounts in one go, in order, with debt where value runs out', async () => {
      const billing = await setup();
      const charges = await billing.recordBatch([
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a1' },
        { accountId: 'b', model: 'test-model', usage: usage(500_000), idempotencyKey: 'b1' },
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a2' }, // $2 + $2 > $3: $1 of debt
        { accountId: 'a', model: 'test-model', usage: usage(1_000_000), idempotencyKey: 'a1' }, // same key, same usage: the first answer
      ]);
      expect(charges.map((c) => [c.accountId, c.valueMicros, c.debtMicros, c.replayed])).toEqual([
        ['a', 2_000_000, 0, false],
        ['b', 1_000_000, 0, false],
        ['a', 2_000_000, 1_000_000, false],
        ['a', 2_000_000, 0, true],
      ]);
      expect(charges[3]!.usageEventId).toBe(charges[0]!.usageEventId);
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 0, debtMicros: 1_000_000 });
      expect(await billing.balance('b')).toMatchObject({ availableMicros: 2_000_000, debtMicros: 0 });
      expect((await billing.reconcile('a')).problems).toEqual([]);
      expect((await billing.reconcile('b')).problems).toEqual([]);
      // Sent again, the whole batch is answered from the first time.
      const again = await billing.recordBatch([{ accountId: 'b', model: 'test-model', usage: usage(500_000), idempotencyKey: 'b1' }]);
      expect(again[0]).toMatchObject({ usageEventId: charges[1]!.usageEventId, replayed: true });
    });

    it('is all or nothing', async () => {
      const billing = await setup();
      const ok = { accountId: 'a', model: 'test-model', usage: usage(10), idempotencyKey: 'fine' };
      await expect(billing.recordBatch([ok, { ...ok, accountId: 'ghost', idempotencyKey: 'g' }])).rejects.toMatchObject({ code: 'account_not_found', message: expect.stringMatching(/^Item 1: No account "ghost"/), details: { accountId: 'ghost', index: 1 } });
      await expect(billing.recordBatch([ok, { ...ok, model: 'mystery', idempotencyKey: 'm' }])).rejects.toMatchObject({ code: 'unknown_model' });
      await expect(billing.recordBatch([ok, { ...ok, usage: usage(11) }])).rejects.toMatchObject({ code: 'idempotency_conflict' });
      await expect(billing.recordBatch([ok, { ...ok, usage: { inputTokens: -1, outputTokens: 0 } }])).rejects.toMatchObject({ code: 'invalid_input' });
      expect(await t.sql.query('SELECT id FROM usage_events')).toEqual([]);
      expect(await billing.recordBatch([])).toEqual([]);
    });

    it('counts the day\'s and month\'s usage as single charges would, and into the next day', async () => {
      const billing = await setup();
      await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 100_000_000 }, { window: 'month', unit: 'tokens', amount: 100_000_000 }] });
      const item = (accountId: string, inputTokens: number, key: string) => ({ accountId, model: 'test-model', usage: { inputTokens, outputTokens: 100 }, idempotencyKey: key });
      await billing.recordBatch([item('a', 1_000, 'd1'), item('b', 2_000, 'd2'), item('a', 3_000, 'd3')]);
      const used = async (id: string) => (await billing.balance(id)).limits.map((l) => l.used);
      expect(await used('a')).toEqual([valueOf({ inputTokens: 4_000, outputTokens: 200 }), 4_200]);
      expect(await used('b')).toEqual([valueOf({ inputTokens: 2_000, outputTokens: 100 }), 2_100]);
      // The next day: a's day starts over, its month goes on; b's counters are left as they were.
      t.clock.advance(DAY);
      await billing.recordBatch([item('a', 5_000, 'n1'), item('a', 1_000, 'n2')]);
      expect(await used('a')).toEqual([valueOf({ inputTokens: 6_000, outputTokens: 200 }), 10_400]);
      // And the same usage recorded one at a time, on a twin account, counts the same.
      await billing.upsertAccount({ id: 'twin', kind: 'team' });
      await billing.credit('twin', { source: 'bonus', amountMicros: 3_000_000, reference: 'gift' });
      t.clock.advance(-DAY);
      for (const [i, n] of [1_000, 3_000].entries()) await billing.record('twin', { model: 'test-model', usage: { inputTokens: n, outputTokens: 100 } }, { idempotencyKey: `t${i}` });
      t.clock.advance(DAY);
      for (const [i, n] of [5_000, 1_000].entries()) await billing.record('twin', { model: 'test-model', usage: { inputTokens: n, outputTokens: 100 } }, { idempotencyKey: `u${i}` });
      expect(await used('twin')).toEqual(await used('a'));
      for (const id of ['a', 'b', 'twin']) expect((await billing.reconcile(id)).problems).toEqual([]);
    });

    it('draws on value granted between two batches before it owes anything', async () => {
      const billing = await setup();
      const item = (inputTokens: number, key: string) => ({ accountId: 'a', model: 'test-model', usage: { inputTokens, outputTokens: 0 }, idempotencyKey: key });
      // $3 of value, $4 charged: $1 of debt.
      expect((await billing.recordBatch([item(2_000_000, 'g1')]))[0]).toMatchObject({ debtMicros: 1_000_000 });
      // $5 granted: it pays the $1 first, $4 is left.
      await billing.credit('a', { source: 'bonus', amountMicros: 5_000_000, reference: 'top-up' });
      // The next batch draws on it: no new debt, $1 left.
      expect((await billing.recordBatch([item(1_500_000, 'g2')]))[0]).toMatchObject({ valueMicros: 3_000_000, debtMicros: 0 });
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 1_000_000, debtMicros: 0 });
      expect((await billing.reconcile('a')).problems).toEqual([]);
      await paidFor(t.sql, 'a');
    });

    it('counts a capped member\'s usage against the cap, and an uncapped member\'s not', async () => {
      const billing = await setup();
      await billing.admin.setMemberLimits('a', 'u_capped', [{ window: 'day', unit: 'usd', amount: 1_000_000 }]);
      await billing.recordBatch([
        { accountId: 'a', model: 'test-model', usage: usage(300_000), userId: 'u_capped', idempotencyKey: 'm1' },
        { accountId: 'a', model: 'test-model', usage: usage(300_000), userId: 'u_free', idempotencyKey: 'm2' },
        { accountId: 'b', model: 'test-model', usage: usage(100), idempotencyKey: 'm3' },
      ]);
      expect((await billing.balance('a')).members).toEqual([
        { userId: 'u_capped', name: null, limits: [expect.objectContaining({ amount: 1_000_000, used: 600_000 })] },
      ]);
      const refused = await billing.authorize('a', { model: 'test-model', inputTokens: 250_000, maxOutputTokens: 0, userId: 'u_capped' });
      expect(refused).toMatchObject({ ok: false, code: 'member_limit' });
      expect((await billing.authorize('a', { model: 'test-model', inputTokens: 250_000, maxOutputTokens: 0, userId: 'u_free' })).ok).toBe(true);
    });

    it('writes one huge batch on one account: every usage once, what the value does not cover as debt', async () => {
      const billing = await setup();
      const items = Array.from({ length: 10_000 }, (_, i) => ({ accountId: 'a', model: 'test-model', usage: usage(200 + (i % 50)), idempotencyKey: `h${i}` }));
      const value = items.reduce((sum, i) => sum + valueOf(i.usage), 0);
      const charges = await billing.recordBatch(items);
      expect(new Set(charges.map((c) => c.usageEventId)).size).toBe(10_000);
      expect(charges.reduce((sum, c) => sum + c.valueMicros, 0)).toBe(value);
      // $3 of value drawn first, in order; the rest owed, the first charge past it split between the two.
      expect(charges.reduce((sum, c) => sum + c.debtMicros, 0)).toBe(value - 3_000_000);
      const firstDebt = charges.findIndex((c) => c.debtMicros > 0);
      expect(charges.slice(0, firstDebt).every((c) => c.debtMicros === 0) && charges.slice(firstDebt + 1).every((c) => c.debtMicros === c.valueMicros)).toBe(true);
      expect(await billing.balance('a')).toMatchObject({ availableMicros: 0, debtMicros: value - 3_000_000 });
      expect((await totals(t.sql, 'a')).counted).toBe(value);
      expect((await billing.reconcile('a')).problems).toEqual([]);
      await paidFor(t.sql, 'a');
      // Sent again, it is all replayed, and nothing more is charged.
      expect((await billing.recordBatch(items)).every((c, i) => c.replayed && c.usageEventId === charges[i]!.usageEventId)).toBe(true);
      expect((await totals(t.sql, 'a')).events).toBe(10_000);
    }, 120_000);

    it('many batches at once on the same few accounts, value running out midway: each usage charged once, all paid for', async () => {
      const billing = await setup();
      const accounts = ['a', 'b', 'c', 'd'];
      for (const id of accounts.slice(2)) {
        await billing.upsertAccount({ id, kind: 'team' });
        await billing.credit(id, { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' });
      }
      for (const id of accounts) await billing.credit(id, { source: 'adjustment', amountMicros: 500_000, reference: 'second' }); // two buckets each
      let seed = 7;
      const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      const batches = Array.from({ length: 24 }, (_, b) =>
        Array.from({ length: 40 }, (_, i) => ({
          accountId: accounts[Math.floor(random() * accounts.length)]!, model: 'test-model', usage: usage(1_000 + Math.floor(random() * 60_000)),
          idempotencyKey: `k${b}-${i}`,
        })));
      const results = await Promise.all(batches.map((items) => billing.recordBatch(items)));
      expect(results.flat()).toHaveLength(24 * 40);
      for (const id of accounts) {
        const mine = batches.flat().filter((i) => i.accountId === id);
        const t2 = await paidFor(t.sql, id);
        expect(t2.events).toBe(mine.length);
        expect(t2.value).toBe(mine.reduce((sum, i) => sum + valueOf(i.usage), 0));
        expect(t2.counted).toBe(t2.value);
        expect((await billing.reconcile(id)).problems).toEqual([]);
      }
    }, 60_000);
  });
}

describe.skipIf(!POSTGRES_URL)(`record batches from several processes at once${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];
  const ACCOUNTS = Array.from({ length: 12 }, (_, i) => `acct-${String(i).padStart(2, '0')}`);

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    procs = await Promise.all([0, 1, 2].map(() => BillingProcess.start(db.url!)));
    const admin = procs[0]!;
    await admin.must('admin.applyPreset', 'credit-packs');
    await admin.must('admin.updatePlan', 'payg', { includedMicros: 0 });
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    for (const [i, id] of ACCOUNTS.entries()) {
      await admin.must('upsertAccount', { id, kind: 'team' });
      await admin.must('credit', id, { source: 'bonus', amountMicros: 2_000_000 + i * 250_000, reference: 'gift' });
      await admin.must('credit', id, { source: 'adjustment', amountMicros: 1_000_000, reference: 'second' });
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await db?.drop();
  });

  it('three processes, 8 batches each at once over shared accounts, keys sent twice: no deadlock, each usage once, all paid for', async () => {
    let seed = 20260310;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const usageOf = (key: number) => ({ inputTokens: 1_000 + ((key * 7_919) % 40_000), outputTokens: (key * 104_729) % 5_000 });
    // 3 processes × 8 batches × 60 items over 12 accounts: every batch shares accounts with every other, and a
    // sixth of the items repeat a key another batch (often in another process) sends too, with the same usage.
    let next = 0;
    const scripts = procs.map(() => Array.from({ length: 8 }, () => Array.from({ length: 60 }, () => {
      const key = random() < 1 / 6 && next > 0 ? Math.floor(random() * next) : next++;
      return { accountId: ACCOUNTS[key % ACCOUNTS.length]!, model: 'test-model', usage: usageOf(key), idempotencyKey: `key-${key}` };
    })));
    const outcomes = await Promise.all(procs.map((p, i) => p.burst('recordBatch', scripts[i]!.map((items) => [items]))));
    const failed = outcomes.flat().filter((o) => !o.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    // Every answer to a key names the one event that key has.
    const byKey = new Map<string, number>();
    outcomes.forEach((perProcess, p) => perProcess.forEach((o, b) => (o.ok ? o.value : []).forEach((charge: { usageEventId: number }, i: number) => {
      const key = scripts[p]![b]![i]!.idempotencyKey;
      expect(byKey.get(key) ?? charge.usageEventId).toBe(charge.usageEventId);
      byKey.set(key, charge.usageEventId);
    })));
    const admin = procs[0]!;
    for (const id of ACCOUNTS) {
      const keys = new Set(scripts.flat(2).filter((i) => i.accountId === id).map((i) => Number(i.idempotencyKey.slice(4))));
      const value = [...keys].reduce((sum, key) => sum + valueOf(usageOf(key)), 0);
      const t = await paidFor(db.sql, id);
      expect(t.events).toBe(keys.size);
      expect(t.value).toBe(value);
      expect(t.counted).toBe(value);
      expect((await admin.must('reconcile', id)).problems).toEqual([]);
    }
    expect(byKey.size).toBe(next);
  }, 120_000);
});

/** The same usage counted one charge at a time and as a batch: the property the batch statement relies on. */
describe('usage counters', () => {
  const at = (iso: string) => new Date(iso);
  const countArb = fc.option(fc.record({
    startsAt: fc.constantFrom(at('2026-03-09T00:00:00Z'), at('2026-03-10T00:00:00Z'), at('2026-03-11T00:00:00Z')),
    valueMicros: fc.integer({ min: 0, max: 1_000_000 }), tokens: fc.integer({ min: 0, max: 1_000_000 }),
  }), { nil: null });
  const windowsArb = fc.record({
    day: fc.record({ current: countArb, previous: countArb }),
    month: fc.record({ current: countArb, previous: countArb }),
    usageAt: fc.option(fc.date({ min: at('2026-03-09T00:00:00Z'), max: at('2026-03-12T00:00:00Z'), noInvalidDate: true }), { nil: null }),
  });

  it('counting a batch of usages of one moment one by one is counting their sum once', () => {
    fc.assert(fc.property(
      windowsArb, fc.date({ min: at('2026-03-09T00:00:00Z'), max: at('2026-03-12T00:00:00Z'), noInvalidDate: true }),
      fc.array(fc.record({ valueMicros: fc.integer({ min: 0, max: 100_000 }), tokens: fc.integer({ min: 0, max: 100_000 }) }), { minLength: 1, maxLength: 8 }),
      (windows, moment, usages) => {
        const dayStart = new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth(), moment.getUTCDate()));
        const monthStart = new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth(), 1));
        const one = (u: { valueMicros: number; tokens: number }) => ({ at: moment, dayStart, monthStart, ...u });
        const byOne = usages.reduce((w, u) => countUsage(w, one(u)), windows as UsageWindows);
        const sum = usages.reduce((s, u) => ({ valueMicros: s.valueMicros + u.valueMicros, tokens: s.tokens + u.tokens }), { valueMicros: 0, tokens: 0 });
        expect(countUsage(windows as UsageWindows, one(sum))).toEqual(byOne);
      },
    ));
  });
});

