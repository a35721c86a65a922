/**
 * An authorization on an account this process knows, with room for many more like it, is
 * answered before its hold is written; the hold is written behind it. Near a limit or the
 * balance, for an account not known or not confirmed lately, and after any change this
 * process makes, the gate decides on a guarded write as before.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { createBilling, type Billing } from '../src/index.ts';
import { LEASE_MS } from '../src/billing/known-accounts.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { fundedAccounts, mustCall } from './support/spend.ts';

/** test-model at the default 50% margin: each input token is 2 µ$ of value. */
const tokensFor = (micros: number) => micros / 2;

type PauseKind = 'behind' | 'guarded' | 'late';

/**
 * The same database, whose writes of holds can stop and go on: those written behind answers
 * given ahead (statements of their own on the asynchronous handle), those of guarded
 * authorizations (after their read, within one uninterrupted run), or the answers of guarded
 * ones that already ran ('late': a busy event loop). `only` picks, among them, the writes
 * whose parameters hold that text, from the `from`-th on.
 */
function pausable(sql: Sql) {
  let paused: { kind: PauseKind; until: Promise<void>; only?: string; from: number; seen: number; reached: () => void } | undefined;
  let resume = () => {};
  let reached = Promise.resolve();
  const stops = (kind: PauseKind, text: string, params: readonly unknown[] | undefined) => {
    if (paused?.kind !== kind || !text.includes('INSERT INTO holds')) return false;
    if (paused.only !== undefined && !(params ?? []).map(String).join(' ').includes(paused.only)) return false;
    return ++paused.seen >= paused.from;
  };
  const waitFor = async (kind: PauseKind, text: string, params: readonly unknown[] | undefined) => {
    if (!stops(kind, text, params)) return;
    paused!.reached();
    while (paused?.kind === kind) await paused.until;
  };
  const guarded = (inner: Sql): Sql => ({
    ...inner,
    query: async <Row,>(text: string, params?: readonly unknown[]) => {
      await waitFor('guarded', text, params);
      const rows = await inner.query<Row>(text, params);
      await waitFor('late', text, params);
      return rows;
    },
  });
  const holding: Sql = {
    ...sql.asyncCommit,
    query: async (text, params) => {
      await waitFor('behind', text, params);
      return sql.asyncCommit.query(text, params);
    },
    uninterrupted: (work) => sql.asyncCommit.uninterrupted((inner) => work(guarded(inner))),
  };
  return {
    sql: { ...sql, asyncCommit: holding } satisfies Sql,
    /** Stop the writes of holds answered ahead (the default), or those of guarded authorizations, or their answers. */
    pause(kind: PauseKind = 'behind', { only, from = 1 }: { only?: string; from?: number } = {}) {
      let reach = () => {};
      reached = new Promise<void>((resolve) => (reach = resolve));
      paused = { kind, only, from, seen: 0, reached: reach, until: new Promise((resolve) => (resume = () => { paused = undefined; resolve(); })) };
    },
    /** Resolves once a write stopped. */
    reached: () => reached,
    resume: () => resume(),
  };
}

/** 'pending' if `promise` has not settled within a few turns of the event loop and a short while. */
async function within<T>(promise: Promise<T>, ms = 50): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

const ask = (billing: Billing, micros: number) => billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: tokensFor(micros), maxOutputTokens: 0 });

for (const engine of ENGINES) {
  describe(`answers ahead of the hold's write, on ${engine.name}`, () => {
    const t = useBilling(engine);
    const opened: { billing: Billing; resume(): void }[] = [];
    afterEach(async () => {
      vi.restoreAllMocks();
      // Whatever a failed test left stopped goes on, and its holds are written, as the harness closes its own.
      for (const { billing, resume } of opened.splice(0)) {
        resume();
        await billing.close();
      }
    });

    /** Another facade over the database, whose hold writes the test can stop. */
    async function facade() {
      const db = pausable(t.sql);
      const billing = await createBilling({ database: db.sql, clock: t.clock.read });
      opened.push({ billing, resume: db.resume });
      return { billing, ...db };
    }

    /** Such a facade, knowing account a. */
    async function knowing(micros: number) {
      await fundedAccounts(t.billing, ['a'], micros);
      const opened = await facade();
      await mustCall(opened.billing, 'a', 1_000); // now it knows the account: 2,000 µ$ spent
      return opened;
    }

    const openHolds = async () =>
      (await t.sql.query<{ id: string; status: string; amount_micros: number }>(`SELECT id, status, amount_micros FROM holds WHERE status = 'open'`)).length;

    it('answers a call with room for ten more like it before its hold is written, and writes it behind', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const auth = await within(ask(billing, 400_000)); // 4,400,000 µ$ for it and ten more: there are 4,998,000
      expect(auth).toMatchObject({ ok: true, hold: { amountMicros: 400_000 } });
      expect(await openHolds()).toBe(0); // not written yet
      resume();
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 400_000, availableMicros: 4_998_000 - 400_000 });
      expect(await openHolds()).toBe(1);
      // Another process sees it and counts it.
      const { billing: other } = await facade();
      expect(await other.authorize('a', { model: 'test-model', provider: 'test', inputTokens: tokensFor(4_700_000), maxOutputTokens: 0 })).toMatchObject({
        ok: false, code: 'insufficient_balance',
      });
    });

    it('decides on a guarded write, waiting for it, when fewer than ten more like it would fit', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause('guarded');
      const pending = ask(billing, 460_000); // 5,060,000 µ$ for it and ten more: there are 4,998,000
      expect(await within(pending)).toBe('pending');
      resume();
      expect(await pending).toMatchObject({ ok: true, hold: { amountMicros: 460_000 } });
      expect(await openHolds()).toBe(1);
    });

    it('counts holds answered ahead in every decision before they are written, guarded ones too, without waiting for them', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const ahead = await Promise.all(Array.from({ length: 5 }, () => within(ask(billing, 100_000))));
      expect(ahead.every((a) => a !== 'pending' && a.ok)).toBe(true);
      // The database still shows 4,998,000 available; 500,000 of it is held ahead.
      expect(await within(ask(billing, 4_600_000))).toMatchObject({ ok: false, code: 'insufficient_balance' });
      expect(await within(ask(billing, 420_000))).toMatchObject({ ok: true }); // too near for ahead: guarded, and written at once
      expect(await openHolds()).toBe(1);
      expect(await within(ask(billing, 4_100_000))).toMatchObject({ ok: false, code: 'insufficient_balance' });
      resume();
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 920_000 });
      expect(await openHolds()).toBe(6);
    });

    it('a record that reads the account afresh remembers it with the holds answered ahead not yet written', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      expect(await within(ask(billing, 400_000))).toMatchObject({ ok: true });
      await billing.upsertAccount({ id: 'a', kind: 'team' }); // forgotten: the record below reads afresh
      await billing.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: tokensFor(1_000), outputTokens: 0 } }, { idempotencyKey: 'r' });
      // 4,998,000 − 1,000 recorded − 400,000 held ahead = 4,597,000: not enough for 4,600,000.
      expect(await within(ask(billing, 4_600_000))).toMatchObject({ ok: false, code: 'insufficient_balance' });
      resume();
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 400_000, availableMicros: 4_597_000 });
    });

    it('answers none ahead on an account while a guarded authorization of it is in flight', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause('guarded');
      const near = ask(billing, 4_000_000);
      expect(await within(near)).toBe('pending');
      const small = ask(billing, 1_000); // would fit many times over on what was known before the 4,000,000
      expect(await within(small)).toBe('pending');
      resume();
      expect(await near).toMatchObject({ ok: true });
      expect(await small).toMatchObject({ ok: true });
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 4_001_000 });
    });

    // On PGlite a guarded authorization's read and write run with nothing in between.
    it.skipIf(engine.name === 'pglite')('a guarded authorization that read before a change this process made does not leave its state to answer ahead on', async () => {
      await fundedAccounts(t.billing, ['a'], 5_000_000);
      const { billing, pause, resume } = await facade();
      pause('guarded');
      const first = ask(billing, 1_000); // read, then its hold's write stops
      expect(await within(first)).toBe('pending');
      await billing.admin.updatePlan('payg', { models: ['other-model'] });
      resume();
      expect(await first).toMatchObject({ ok: true }); // decided before the change
      expect(await ask(billing, 1_000)).toMatchObject({ ok: false, code: 'model_not_allowed' });
    });

    it('an account updated under an id with spaces around it is the account its next call reads afresh', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      await billing.upsertAccount({ id: ' a ', kind: 'team', timeZone: 'Asia/Tokyo' });
      pause();
      expect(await within(ask(billing, 1_000))).toMatchObject({ ok: true });
      expect(await openHolds()).toBe(1); // guarded, written before the answer
      resume();
      await expect(billing.upsertAccount(undefined as never)).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('a settle that reaches its hold before the write charges it once, and the write then leaves it settled', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const auth = await ask(billing, 100_000);
      if (!auth.ok) throw new Error(auth.message);
      const charge = await billing.settle(auth.hold.id, { inputTokens: tokensFor(60_000), outputTokens: 0 }, { idempotencyKey: 'first' });
      expect(charge).toMatchObject({ valueMicros: 60_000, holdId: auth.hold.id });
      resume();
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 0, availableMicros: 4_998_000 - 60_000 });
      // What this process knows holds nothing for it either: 4,938,000 left has room for eleven of 440,000, answered ahead.
      pause();
      expect(await within(ask(billing, 440_000))).toMatchObject({ ok: true });
      expect(await openHolds()).toBe(0);
      resume();
      const [row] = await t.sql.query<{ status: string }>('SELECT status FROM holds WHERE id = $1', [auth.hold.id.split('.')[0]]);
      expect(row).toEqual({ status: 'settled' });
      await expect(billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 0 }, { idempotencyKey: 'second' })).rejects.toMatchObject({ code: 'hold_settled' });
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('a release that reaches its hold before the write releases it, and the write leaves it released', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const auth = await ask(billing, 100_000);
      if (!auth.ok) throw new Error(auth.message);
      expect(await billing.release(auth.hold.id)).toEqual({ holdId: auth.hold.id, status: 'released' });
      resume();
      expect(await billing.balance('a')).toMatchObject({ heldMicros: 0, availableMicros: 4_998_000 });
      await expect(billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 0 }, { idempotencyKey: 'late' })).rejects.toMatchObject({ code: 'hold_released' });
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('an answer ahead on value another process spent meanwhile is charged as debt, and the first write after it ends such answers', async () => {
      const { billing } = await knowing(5_000_000);
      const { billing: other } = await facade();
      await other.record('a', { model: 'test-model', provider: 'test', usage: { inputTokens: tokensFor(4_998_000), outputTokens: 0 } }, { idempotencyKey: 'all' });
      const stale = await ask(billing, 2_000); // what this process knows still shows 4,998,000
      expect(stale.ok).toBe(true);
      await billing.balance('a'); // its hold is written, and the write found the ledger moved elsewhere
      expect(await ask(billing, 2_000)).toMatchObject({ ok: false, code: 'insufficient_balance' });
      if (!stale.ok) return;
      const charge = await billing.settle(stale.hold.id, { inputTokens: tokensFor(2_000), outputTokens: 0 }, { idempotencyKey: 'stale' });
      expect(charge).toMatchObject({ valueMicros: 2_000, debtMicros: 2_000 });
      expect(await ask(billing, 2)).toMatchObject({ ok: false, code: 'debt' });
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('does not answer ahead on what the database last confirmed longer ago than the lease', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      const started = performance.now();
      vi.spyOn(performance, 'now').mockImplementation(() => started + LEASE_MS + 1);
      pause();
      expect(await within(ask(billing, 1_000))).toMatchObject({ ok: true });
      expect(await openHolds()).toBe(1); // guarded, written before the answer
      expect(await within(ask(billing, 1_000))).toMatchObject({ ok: true }); // confirmed again by that write: ahead
      expect(await openHolds()).toBe(1);
      resume();
    });

    it('a change this process makes is seen by its next call at once', async () => {
      const { billing } = await knowing(5_000_000);
      await billing.admin.updatePlan('payg', { models: ['other-model'] });
      expect(await ask(billing, 1_000)).toMatchObject({ ok: false, code: 'model_not_allowed' });
      await billing.admin.updatePlan('payg', { models: [] });
      await mustCall(billing, 'a', 1_000);
      await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 5_000 }] });
      expect(await ask(billing, 2_000)).toMatchObject({ ok: false, code: 'daily_limit' });
    });

    it('pairs whose settles race their holds\' writes charge every call once and leave no hold open', async () => {
      await fundedAccounts(t.billing, ['a', 'b', 'c'], 50_000_000);
      const { billing } = await facade();
      const ids = ['a', 'b', 'c'];
      for (const id of ids) await mustCall(billing, id, 1_000); // known: each of the 160 calls below is answered ahead
      const worker = async (w: number) => {
        for (let i = 0; i < 20; i++) {
          const id = ids[(w + i) % ids.length]!;
          const auth = await billing.authorize(id, { model: 'test-model', provider: 'test', inputTokens: 5_000, maxOutputTokens: 0 });
          if (!auth.ok) throw new Error(auth.message);
          await billing.settle(auth.hold.id, { inputTokens: 5_000, outputTokens: 0 }, { idempotencyKey: `race-${w}-${i}` });
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      await billing.balance('a'); // every hold written
      const holds = await t.sql.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM holds GROUP BY status`);
      expect(holds).toEqual([{ status: 'settled', n: 3 + 8 * 20 }]);
      const available = await Promise.all(ids.map(async (id) => (await billing.balance(id)).availableMicros));
      expect(available.reduce((sum, a) => sum + a, 0)).toBe(3 * 50_000_000 - 3 * 2_000 - 8 * 20 * 10_000);
      for (const id of ids) expect((await billing.reconcile(id)).problems).toEqual([]);
    });

    // On PGlite a guarded authorization's read, write and answer run with nothing in between.
    it.skipIf(engine.name === 'pglite')('a guarded authorization whose answer comes after a change this process made does not leave its state to answer ahead on', async () => {
      await fundedAccounts(t.billing, ['a'], 5_000_000);
      const { billing, pause, reached, resume } = await facade();
      pause('late');
      const first = ask(billing, 1_000); // read, written, and its answer waits
      await reached();
      await billing.admin.updatePlan('payg', { models: ['other-model'] });
      resume();
      expect(await first).toMatchObject({ ok: true });
      expect(await ask(billing, 1_000)).toMatchObject({ ok: false, code: 'model_not_allowed' });
    });

    it.skipIf(engine.name === 'pglite')('a state read while an authorization of the account went alone is not answered ahead on without its hold', async () => {
      const { billing, pause, reached, resume } = await knowing(5_000_000); // 4,998,000 left
      await t.billing.authorize('a', { model: 'test-model', provider: 'test', inputTokens: 500, maxOutputTokens: 0 }); // elsewhere: the gate moves
      pause('guarded', { only: '"amount_micros":4000000', from: 2 });
      const alone = ask(billing, 4_000_000); // its batch's guard fails; alone, its write stops
      await reached();
      expect(await ask(billing, 1_000)).toMatchObject({ ok: true }); // read afresh, without it
      resume();
      expect(await alone).toMatchObject({ ok: true });
      const burst = await Promise.all(Array.from({ length: 6 }, () => ask(billing, 300_000)));
      expect(burst.filter((b) => b.ok).length).toBe(3); // 4,998,000 − 1,000 − 4,000,000 − 1,000 holds three
      expect((await billing.balance('a')).availableMicros).toBe(4_998_000 - 1_000 - 4_000_000 - 1_000 - 3 * 300_000);
    });

    it('a hold settled elsewhere before its write is not charged again here', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const hold = await within(ask(billing, 100_000));
      if (hold === 'pending' || !hold.ok) throw new Error('not answered ahead');
      const elsewhere = await t.billing.settle(hold.hold.id, { inputTokens: tokensFor(60_000), outputTokens: 0 }, { idempotencyKey: 'k1' });
      expect(await ask(billing, 450_000)).toMatchObject({ ok: true }); // near the limit: guarded, and the account is read afresh next
      expect(await ask(billing, 1_000)).toMatchObject({ ok: true });
      resume();
      await billing.balance('a');
      await expect(billing.settle(hold.hold.id, { inputTokens: tokensFor(60_000), outputTokens: 0 }, { idempotencyKey: 'k2' })).rejects.toMatchObject({ code: 'hold_settled' });
      const [events] = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE hold_id = $1', [hold.hold.id.split('.')[0]]);
      expect(events!.n).toBe(1);
      expect((await billing.balance('a')).availableMicros).toBe(4_998_000 - elsewhere.valueMicros - 450_000 - 1_000);
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('a hold settled elsewhere is not charged again here, even before its write lands', async () => {
      const { billing, pause, resume } = await knowing(5_000_000);
      pause();
      const hold = await within(ask(billing, 100_000));
      if (hold === 'pending' || !hold.ok) throw new Error('not answered ahead');
      await t.billing.settle(hold.hold.id, { inputTokens: tokensFor(60_000), outputTokens: 0 }, { idempotencyKey: 'k1' });
      expect(await ask(billing, 450_000)).toMatchObject({ ok: true }); // guarded: the account is read afresh next, the hold added back as open
      expect(await ask(billing, 1_000)).toMatchObject({ ok: true });
      // The charge statement finds the hold settled and leaves it to the settle alone.
      await expect(billing.settle(hold.hold.id, { inputTokens: tokensFor(60_000), outputTokens: 0 }, { idempotencyKey: 'k2' })).rejects.toMatchObject({ code: 'hold_settled' });
      resume();
      const [events] = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE hold_id = $1', [hold.hold.id.split('.')[0]]);
      expect(events!.n).toBe(1);
      expect((await billing.reconcile('a')).problems).toEqual([]);
    });

    it('closing writes the holds answered ahead first', async () => {
      const { billing } = await knowing(5_000_000);
      const auth = await ask(billing, 100_000);
      expect(auth.ok).toBe(true);
      await billing.close();
      expect(await openHolds()).toBe(1);
    });
  });
}
