/**
 * Holds commit without waiting for the disk, so a database crash can lose the last ones. A
 * lost hold is simulated by deleting its row, as a crash would leave the table: its settle
 * must still charge the usage once, at the hold's price, and its release and second settle
 * must get the answers they would have had.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import { randomBytes } from 'node:crypto';
import { HoldIds, holdKey } from '../src/core/hold-id.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, MINUTE, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

describe('hold ids', () => {
  const call = { accountId: 'team-é', model: 'claude-sonnet-4-5', provider: 'anthropic', userId: 'u"1', createdAt: new Date('2026-03-10T12:00:00.123Z') };
  const ids = new HoldIds(randomBytes(32));

  it('carry the call they hold for, and are unique', () => {
    const id = ids.issue(call);
    expect(ids.open(id)).toEqual({ key: holdKey(id), call });
    expect(ids.open(ids.issue({ ...call, userId: null }))?.call).toEqual({ ...call, userId: null });
    expect(ids.issue(call)).not.toBe(id);
  });

  it('are known by a short key, in the order they were placed', () => {
    const issued = [0, 1, 2, 1_000, 86_400_000].map((ms) => ids.issue({ ...call, createdAt: new Date(call.createdAt.getTime() + ms) }));
    const keys = issued.map(holdKey);
    expect(keys.every((key, i) => key.length === 31 && issued[i]!.startsWith(`${key}.`))).toBe(true);
    expect([...keys].reverse().sort()).toEqual(keys);
  });

  it('show nobody the account or the user they name', () => {
    const named = { ...call, accountId: 'alice@example.com', userId: 'bob@example.com' };
    const id = ids.issue(named);
    const decoded = Buffer.from(id.slice(id.indexOf('.') + 1), 'base64url').toString('latin1');
    for (const text of [id, decoded]) {
      expect(text).not.toContain('alice');
      expect(text).not.toContain('bob');
      expect(text).not.toContain('claude');
    }
  });

  it('open to nothing when this key did not issue them, or when they were altered', () => {
    const id = ids.issue(call);
    const [key, sealed] = id.split('.') as [string, string];
    const flipped = Buffer.from(sealed, 'base64url');
    flipped[20]! ^= 1;
    const readable = `${key}.${Buffer.from(JSON.stringify([call.accountId, call.model, call.provider, call.userId, call.createdAt.getTime()])).toString('base64url')}`;
    const other = ids.issue({ ...call, accountId: 'other' });
    for (const bad of [
      new HoldIds(randomBytes(32)).issue(call), // another database's key
      `${key}.${flipped.toString('base64url')}`,
      `${holdKey(other)}.${sealed}`, // a description moved onto another hold's key
      readable, // the form ids had before they were sealed
      key,
      'hold_nope',
      id.slice(1),
      id.replace('.', '-'),
      `${key}.%%%`,
      `${key}.`,
      `${id}A`, // a character more, whose bits make no byte: the same bytes, but not the id issued
      `${id}=`,
      `${key}.${sealed.slice(0, 20)}!${sealed.slice(20)}`, // a character the alphabet does not have, which a decoder skips
    ]) {
      expect(ids.open(bad), bad).toBeUndefined();
    }
  });
});

/** The same database, noting which statements went through its asynchronous-commit handle. */
function watching(sql: Sql): { sql: Sql; asyncStatements: string[] } {
  const asyncStatements: string[] = [];
  const wrap = (inner: Sql, async: boolean): Sql => ({
    ...inner,
    query: (text, params) => {
      if (async) asyncStatements.push(text);
      return inner.query(text, params);
    },
    transaction: (work) => inner.transaction((tx) => work(wrap(tx, async))),
    uninterrupted: (work) => inner.uninterrupted((s) => work(wrap(s, async))),
    get asyncCommit() {
      return wrap(inner.asyncCommit, true);
    },
  });
  return { sql: wrap(sql, false), asyncStatements };
}

for (const engine of ENGINES) {
  describe(`holds lost in a crash, on ${engine.name}`, () => {
    const t = useBilling(engine);
    const usage = { inputTokens: 1_000, outputTokens: 500 };
    /** A process that never saw the hold: it knows only the database. */
    const otherProcess = () => createBilling({ database: t.sql, clock: t.clock.read });
    const lose = (holdId: string) => t.sql.query('DELETE FROM holds WHERE id = $1', [holdKey(holdId)]);
    const eventsOf = (holdId: string) => t.sql.query<{ id: number; user_id: string | null }>('SELECT id, user_id FROM usage_events WHERE hold_id = $1', [holdKey(holdId)]);

    async function holdOn(billing: Billing, accountId = 'acme') {
      const auth = await billing.authorize(accountId, { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 1_000, userId: 'ann' });
      if (!auth.ok) throw new Error(auth.message);
      return auth.hold;
    }

    it('places holds through the asynchronous-commit handle, and charges through the durable one', async () => {
      await fundedAccounts(t.billing, ['acme'], 5_000_000);
      const { sql, asyncStatements } = watching(t.sql);
      const billing = await createBilling({ database: sql, clock: t.clock.read });
      const hold = await holdOn(billing);
      expect(asyncStatements.some((s) => s.includes('INSERT INTO holds'))).toBe(true);
      await billing.settle(hold.id, usage, { idempotencyKey: 'durable' });
      expect(asyncStatements.some((s) => s.includes('INSERT INTO usage_events') || s.includes('ledger_entries'))).toBe(false);
    });

    it("a lost hold's settle charges its usage once, at the hold's price and for its user", async () => {
      await fundedAccounts(t.billing, ['acme'], 5_000_000);
      const kept = await holdOn(t.billing);
      const lost = await holdOn(t.billing);
      await lose(lost.id);
      // The price doubles after the holds were placed: both settle at the price they were placed at.
      t.clock.advance(MINUTE);
      await t.billing.admin.setModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: t.clock.read().toISOString(), rates: { input: '2', output: '4' } });
      const billing = await otherProcess();
      const keptCharge = await billing.settle(kept.id, usage, { idempotencyKey: 'kept' });
      const lostCharge = await billing.settle(lost.id, usage, { idempotencyKey: 'lost' });
      expect(lostCharge).toMatchObject({ holdId: lost.id, accountId: 'acme', model: 'test-model', replayed: false });
      expect(lostCharge.costMicros).toBe(keptCharge.costMicros);
      expect(lostCharge.valueMicros).toBe(4_000); // (1,000 × $1 + 500 × $2) per million, at a 50% margin
      expect(await eventsOf(lost.id)).toEqual([{ id: lostCharge.usageEventId, user_id: 'ann' }]);

      expect(await billing.settle(lost.id, usage, { idempotencyKey: 'lost' })).toEqual({ ...lostCharge, replayed: true });
      await expect(billing.settle(lost.id, usage, { idempotencyKey: 'again' })).rejects.toMatchObject({ code: 'hold_settled' });
      await expect(billing.release(lost.id)).rejects.toMatchObject({ code: 'hold_settled' });
      expect(await eventsOf(lost.id)).toHaveLength(1);
      expect((await billing.balance('acme')).availableMicros).toBe(5_000_000 - 8_000);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('a lost hold that is released cannot be settled afterwards', async () => {
      await fundedAccounts(t.billing, ['acme'], 5_000_000);
      const lost = await holdOn(t.billing);
      await lose(lost.id);
      const billing = await otherProcess();
      expect(await billing.release(lost.id)).toEqual({ holdId: lost.id, status: 'released' });
      await expect(billing.settle(lost.id, usage, { idempotencyKey: 'late' })).rejects.toMatchObject({ code: 'hold_released' });
      expect(await eventsOf(lost.id)).toHaveLength(0);
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 5_000_000, heldMicros: 0 });
    });

    it('a lost hold settled by the process that remembered it is not charged again by another', async () => {
      await fundedAccounts(t.billing, ['acme'], 5_000_000);
      const lost = await holdOn(t.billing);
      await lose(lost.id);
      const first = await t.billing.settle(lost.id, usage, { idempotencyKey: 'remembered' });
      expect(first.valueMicros).toBe(4_000);
      // The charge wrote the hold back, settled: the ledger reconciles at once.
      expect(await t.sql.query('SELECT status, amount_micros, usage_event_id FROM holds WHERE id = $1', [holdKey(lost.id)])).toEqual([
        { status: 'settled', amount_micros: 0, usage_event_id: first.usageEventId },
      ]);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      const billing = await otherProcess();
      await expect(billing.settle(lost.id, usage, { idempotencyKey: 'elsewhere' })).rejects.toMatchObject({ code: 'hold_settled' });
      expect(await billing.settle(lost.id, usage, { idempotencyKey: 'remembered' })).toEqual({ ...first, replayed: true });
      expect(await eventsOf(lost.id)).toHaveLength(1);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('refuses a call whose names are too long to carry in a hold id, and writes nothing', async () => {
      const account = 'é'.repeat(200); // 400 bytes
      await fundedAccounts(t.billing, [account], 5_000_000);
      const long = { model: 'test-model', provider: 'test', inputTokens: 1, maxOutputTokens: 1, userId: '\u0001'.repeat(200) }; // 1,200 bytes as JSON
      await expect(t.billing.authorize(account, long)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/too long/) });
      expect(await t.sql.query('SELECT id FROM holds')).toEqual([]);
      const fits = await t.billing.authorize(account, { ...long, userId: 'u'.repeat(200) });
      expect(fits.ok).toBe(true);
      if (fits.ok) expect((await t.billing.settle(fits.hold.id, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: 'long' })).holdId).toBe(fits.hold.id);
    });

    it('an id that names no account, or that Tollgate did not issue, is not found, and nothing is written', async () => {
      await fundedAccounts(t.billing, ['acme'], 5_000_000);
      const billing = await otherProcess();
      const [secret] = await t.sql.query<{ value: Uint8Array }>("SELECT value FROM secrets WHERE name = 'hold_ids'");
      const ghost = new HoldIds(secret!.value).issue({ accountId: 'nobody', model: 'test-model', provider: 'test', userId: null, createdAt: t.clock.read() });
      const forged = new HoldIds(randomBytes(32)).issue({ accountId: 'acme', model: 'test-model', provider: 'test', userId: null, createdAt: t.clock.read() });
      const count = async () => (await t.sql.query<{ n: number }>('SELECT (SELECT count(*) FROM holds) + (SELECT count(*) FROM usage_events) AS n'))[0]!.n;
      const before = await count();
      for (const id of [ghost, forged, holdKey(forged), 'hold_nope']) {
        await expect(billing.settle(id, usage, { idempotencyKey: `k-${id}` })).rejects.toMatchObject({ code: 'hold_not_found' });
        await expect(billing.release(id)).rejects.toMatchObject({ code: 'hold_not_found' });
      }
      expect(await count()).toBe(before);
    });
  });
}

for (const engine of ENGINES.filter((e) => e.name === 'postgres')) {
  describe('the asynchronous-commit handle on postgres', () => {
    const t = useBilling(engine);

    it('commits without waiting for the disk; the durable handle and its transactions wait', async () => {
      const setting = async (sql: Sql) => (await sql.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))[0]!.synchronous_commit;
      expect(await setting(t.sql.asyncCommit)).toBe('off');
      expect(await setting(t.sql)).toBe('on');
      expect(await t.sql.transaction((tx) => setting(tx.asyncCommit))).toBe('on');
      expect(await t.sql.asyncCommit.transaction((tx) => setting(tx))).toBe('on');
    });
  });
}
