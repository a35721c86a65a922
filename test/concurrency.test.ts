/**
 * Concurrency on a real PostgreSQL server (PGlite runs one transaction at a time, so it cannot
 * race): many workers on ONE team account whose value runs out midway, and racing calls on
 * the same hold. Skipped, with a note, when TEST_DATABASE_URL is not set.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, createBilling, REFUSAL_CODES, type Billing, type Charge, type TokenUsage } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { holdKey } from '../src/core/hold-id.ts';

const postgres = ENGINES.find((e) => e.name === 'postgres');
if (!POSTGRES_URL) {
  console.warn('\n[concurrency tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');
}

const MODEL = 'race-model';
const PROVIDER = 'test';
const WORKERS = 16;
const PAIRS = 2_000;

/** A small deterministic PRNG (mulberry32), so every run plays the same script. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Value at $1/M input, $2/M output and the default 50% margin: 2 µ$ per input token, 4 per output token. */
const valueOf = (u: { inputTokens: number; outputTokens: number }) => 2 * u.inputTokens + 4 * u.outputTokens;

/** What the database holds for an account, summed: value granted and left, debt, usage events, holds. */
async function ledgerTotals(sql: Sql, account: string) {
  const [totals] = await sql.query<{ granted: number; remaining: number; debt: number; events: number; value: number; open: number; holds: number }>(
    `SELECT
       (SELECT COALESCE(sum(amount_micros), 0) FROM buckets WHERE account_id = $1)::bigint AS granted,
       (SELECT COALESCE(sum(remaining_micros), 0) FROM buckets WHERE account_id = $1)::bigint AS remaining,
       (SELECT debt_micros FROM account_balances WHERE account_id = $1) AS debt,
       (SELECT count(*) FROM usage_events WHERE account_id = $1)::bigint AS events,
       (SELECT COALESCE(sum(value_micros), 0) FROM usage_events WHERE account_id = $1)::bigint AS value,
       (SELECT count(*) FROM holds WHERE account_id = $1 AND status = 'open')::bigint AS open,
       (SELECT count(*) FROM holds WHERE account_id = $1)::bigint AS holds`,
    [account],
  );
  return totals!;
}

describe.skipIf(!postgres)(`concurrency on postgres${postgres ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const t = useBilling(postgres!);

  async function setup(account: string, bonusMicros: number) {
    const { billing } = t;
    await billing.admin.applyPreset('credit-packs');
    await billing.admin.setModelPrice({ provider: PROVIDER, model: MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: account, kind: 'team', name: 'Race team' });
    if (bonusMicros > 0) await billing.credit(account, { source: 'bonus', amountMicros: bonusMicros, reference: 'seed' });
    return billing;
  }

  it(`${WORKERS} workers, ${PAIRS} authorize/settle pairs on one team account that runs out of value`, async () => {
    const random = prng(20260310);
    const script = Array.from({ length: PAIRS }, () => {
      const inputTokens = 200 + Math.floor(random() * 1_800);
      const maxOutputTokens = 100 + Math.floor(random() * 900);
      // Mostly less than the hold; one call in five runs long, up to ten times the output it reserved.
      const over = random() < 0.2;
      const outputTokens = Math.floor(maxOutputTokens * (over ? 1 + random() * 9 : random()));
      return { inputTokens, maxOutputTokens, usage: { inputTokens, outputTokens } satisfies TokenUsage };
    });
    const wouldCost = script.reduce((s, p) => s + valueOf(p.usage), 0);
    // Enough value, with the plan's monthly allowance, for about half of the pairs.
    const billing = await setup('team', Math.floor(wouldCost / 2) - 100_000);

    const refusals: { code: string }[] = [];
    const charges: Charge[] = [];
    const errors: unknown[] = [];
    let authorized = 0;
    let next = 0;
    async function worker() {
      while (next < PAIRS) {
        const i = next++;
        const pair = script[i]!;
        try {
          const auth = await billing.authorize('team', { model: MODEL, provider: PROVIDER, inputTokens: pair.inputTokens, maxOutputTokens: pair.maxOutputTokens });
          if (!auth.ok) {
            refusals.push({ code: auth.code });
            continue;
          }
          authorized += 1;
          expect(auth.hold.amountMicros).toBe(valueOf({ inputTokens: pair.inputTokens, outputTokens: pair.maxOutputTokens }));
          charges.push(await billing.settle(auth.hold.id, pair.usage, { idempotencyKey: `pair-${i}` }));
        } catch (error) {
          errors.push(error);
        }
      }
    }
    const started = Date.now();
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const elapsed = Date.now() - started;

    expect(errors).toEqual([]);
    expect(charges.length + refusals.length).toBe(PAIRS);
    expect(charges.length).toBe(authorized);

    // Refusals: only codes from the closed list; here, running out and then owing.
    const codes = new Map<string, number>();
    for (const r of refusals) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    console.info(`[concurrency] ${charges.length} settled, refusals ${JSON.stringify(Object.fromEntries(codes))} in ${elapsed} ms`);
    for (const r of refusals) expect(REFUSAL_CODES).toContain(r.code);
    expect([...codes.keys()].every((c) => c === 'insufficient_balance' || c === 'debt')).toBe(true);
    expect(refusals.length).toBeGreaterThan(0);
    // The value ran out midway, not at the start nor never.
    expect(charges.length).toBeGreaterThan(PAIRS / 5);
    expect(charges.length).toBeLessThan(PAIRS);

    // Each charge is what its pair used, and is charged once.
    for (const c of charges) expect(c.replayed).toBe(false);
    expect(new Set(charges.map((c) => c.usageEventId)).size).toBe(charges.length);

    const balance = await billing.balance('team');
    const settledValue = charges.reduce((s, c) => s + c.valueMicros, 0);
    const shortfalls = charges.reduce((s, c) => s + c.debtMicros, 0);
    // Debt is exactly the sum of the shortfalls the settles reported (nothing paid it since).
    expect(balance.debtMicros).toBe(shortfalls);
    // The gate says "debt" only when a long call overran what was left. (Which refusal comes
    // first, and whether the last long calls overran at all, depends on timing.)
    if (codes.has('debt')) expect(shortfalls).toBeGreaterThan(0);
    const sql = t.sql;
    const db = await ledgerTotals(sql, 'team');
    expect(db.debt).toBe(shortfalls);
    expect(db.granted).toBe(Math.floor(wouldCost / 2));
    // Value: everything settled came out of the buckets or is owed.
    expect(settledValue).toBeLessThanOrEqual(db.granted + db.debt);
    expect(settledValue).toBe(db.granted - db.remaining + db.debt);
    // No usage event lost or duplicated; no hold left open.
    expect(db.events).toBe(charges.length);
    expect(db.value).toBe(settledValue);
    expect(db.holds).toBe(authorized);
    expect(db.open).toBe(0);
    expect(balance.heldMicros).toBe(0);
    expect(balance.availableMicros).toBe(Math.max(0, db.remaining - db.debt));

    // Every event is its own pair's usage, priced as the pair used it.
    const events = await sql.query<{ idempotency_key: string; value_micros: number }>(`SELECT idempotency_key, value_micros FROM usage_events WHERE account_id = 'team'`);
    for (const e of events) expect(e.value_micros, e.idempotency_key).toBe(valueOf(script[Number(e.idempotency_key.slice('pair-'.length))]!.usage));

    const reconciliation = await billing.reconcile('team');
    expect(reconciliation.problems).toEqual([]);
    expect(reconciliation.ok).toBe(true);
  });

  it('two processes, pairs and records mixed, on one team account that runs out: every call charged once, the ledger whole', async () => {
    const random = prng(20261121);
    const CALLS = 1_200;
    const script = Array.from({ length: CALLS }, (_, i) => {
      const inputTokens = 200 + Math.floor(random() * 1_800);
      const maxOutputTokens = 100 + Math.floor(random() * 900);
      const outputTokens = Math.floor(maxOutputTokens * (random() < 0.2 ? 1 + random() * 4 : random()));
      return { key: `call-${i}`, record: random() < 0.3, inputTokens, maxOutputTokens, usage: { inputTokens, outputTokens } satisfies TokenUsage };
    });
    const wouldCost = script.reduce((sum, c) => sum + valueOf(c.usage), 0);
    const first = await setup('team', Math.floor(wouldCost / 2));
    // A second facade over the same database: another process, with its own remembered accounts and batches.
    const second = await createBilling({ database: t.sql, clock: t.clock.read });
    const charges: Charge[] = [];
    const errors: unknown[] = [];
    let refused = 0;
    let next = 0;
    async function worker(billing: Billing) {
      while (next < CALLS) {
        const call = script[next++]!;
        try {
          if (call.record) {
            charges.push(await billing.record('team', { model: MODEL, provider: PROVIDER, usage: call.usage }, { idempotencyKey: call.key }));
            continue;
          }
          const auth = await billing.authorize('team', { model: MODEL, provider: PROVIDER, inputTokens: call.inputTokens, maxOutputTokens: call.maxOutputTokens });
          if (!auth.ok) refused += 1;
          else charges.push(await billing.settle(auth.hold.id, call.usage, { idempotencyKey: call.key }));
        } catch (error) {
          errors.push(error);
        }
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w % 2 === 0 ? first : second)));

    expect(errors).toEqual([]);
    expect(refused).toBeGreaterThan(0); // the value ran out and the gate closed
    expect(charges.length + refused).toBe(CALLS);
    expect(charges.every((c) => !c.replayed)).toBe(true);
    const db = await ledgerTotals(t.sql, 'team');
    const charged = charges.reduce((sum, c) => sum + c.valueMicros, 0);
    expect(db.events).toBe(charges.length);
    expect(db.value).toBe(charged);
    expect(charged).toBe(db.granted - db.remaining + db.debt); // drawn from the buckets, or owed
    expect(db.debt).toBe(charges.reduce((sum, c) => sum + c.debtMicros, 0));
    expect(db.open).toBe(0);
    const byKey = new Map(script.map((c) => [c.key, c]));
    const events = await t.sql.query<{ idempotency_key: string; value_micros: number; hold_id: string | null }>(
      `SELECT idempotency_key, value_micros, hold_id FROM usage_events WHERE account_id = 'team'`,
    );
    for (const e of events) {
      const call = byKey.get(e.idempotency_key)!;
      expect(e.value_micros, e.idempotency_key).toBe(valueOf(call.usage));
      expect(e.hold_id === null, e.idempotency_key).toBe(call.record);
    }
    expect((await first.reconcile('team')).problems).toEqual([]);
  });

  it('concurrent settles of one hold (and records) with one key write one usage event and all answer with it', async () => {
    const billing = await setup('team', 50_000_000);
    const HOLDS = 10;
    const RETRIES = 8;
    const usage = { inputTokens: 1_000, outputTokens: 500 };
    for (let h = 0; h < HOLDS; h++) {
      const auth = await billing.authorize('team', { model: MODEL, provider: PROVIDER, inputTokens: 1_000, maxOutputTokens: 1_000 });
      if (!auth.ok) throw new Error(auth.message);
      const results = await Promise.allSettled(Array.from({ length: RETRIES }, () => billing.settle(auth.hold.id, usage, { idempotencyKey: `same-${h}` })));
      const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as BillingError);
      expect(
        failures.map((f) => `${f.code ?? ''} ${f.message}`),
        `hold ${h}: every retry with the same key must get the first answer`,
      ).toEqual([]);
      const charges = results.map((r) => (r as PromiseFulfilledResult<Charge>).value);
      expect(new Set(charges.map((c) => c.usageEventId)).size).toBe(1);
      expect(charges.filter((c) => !c.replayed)).toHaveLength(1);
      for (const c of charges) expect(c).toEqual({ ...charges.find((x) => !x.replayed)!, replayed: c.replayed });
      const [row] = await t.sql.query<{ n: number }>('SELECT count(*)::bigint AS n FROM usage_events WHERE hold_id = $1', [holdKey(auth.hold.id)]);
      expect(row!.n).toBe(1);
    }
    // The same for record, which has no hold to lock: the key alone must make it happen once.
    const records = await Promise.allSettled(
      Array.from({ length: RETRIES }, () => billing.record('team', { model: MODEL, provider: PROVIDER, usage }, { idempotencyKey: 'same-record' })),
    );
    expect(records.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const recorded = records.map((r) => (r as PromiseFulfilledResult<Charge>).value);
    expect(new Set(recorded.map((c) => c.usageEventId)).size).toBe(1);
    expect(recorded.filter((c) => !c.replayed)).toHaveLength(1);

    const [all] = await t.sql.query<{ n: number; value: number }>(
      `SELECT count(*)::bigint AS n, COALESCE(sum(value_micros), 0)::bigint AS value FROM usage_events WHERE account_id = 'team'`,
    );
    expect(all).toEqual({ n: HOLDS + 1, value: (HOLDS + 1) * valueOf(usage) });
    expect((await billing.balance('team')).availableMicros).toBe(50_000_000 + 100_000 - (HOLDS + 1) * valueOf(usage));
    expect((await billing.reconcile('team')).problems).toEqual([]);
  });

  it('a settle racing a release of the same hold ends in exactly one of the two', async () => {
    const billing = await setup('team', 50_000_000);
    const TRIALS = 40;
    const usage = { inputTokens: 1_000, outputTokens: 500 };
    const outcomes = { settled: 0, released: 0 };
    for (let i = 0; i < TRIALS; i++) {
      const auth = await billing.authorize('team', { model: MODEL, provider: PROVIDER, inputTokens: 1_000, maxOutputTokens: 1_000 });
      if (!auth.ok) throw new Error(auth.message);
      const id = auth.hold.id;
      // Alternate which call starts first, so both orders get their chance.
      const [settle, release] =
        i % 2 === 0
          ? await Promise.allSettled([billing.settle(id, usage, { idempotencyKey: `race-${i}` }), billing.release(id)])
          : await Promise.allSettled([billing.release(id), billing.settle(id, usage, { idempotencyKey: `race-${i}` })]).then(([r, s]) => [s, r] as const);
      const [hold] = await t.sql.query<{ status: string; usage_event_id: number | null }>('SELECT status, usage_event_id FROM holds WHERE id = $1', [holdKey(id)]);
      const [events] = await t.sql.query<{ n: number }>('SELECT count(*)::bigint AS n FROM usage_events WHERE hold_id = $1', [holdKey(id)]);
      if (settle!.status === 'fulfilled') {
        // The settle won: the release must say so, and the usage is charged once.
        expect(release!.status, `trial ${i}`).toBe('rejected');
        expect((release as PromiseRejectedResult).reason).toBeInstanceOf(BillingError);
        expect((release as PromiseRejectedResult).reason.code).toBe('hold_settled');
        expect(hold).toEqual({ status: 'settled', usage_event_id: settle.value.usageEventId });
        expect(events!.n).toBe(1);
        outcomes.settled += 1;
      } else {
        // The release won: the settle is refused, and nothing is charged.
        expect(settle!.reason, `trial ${i}`).toBeInstanceOf(BillingError);
        expect(settle!.reason.code).toBe('hold_released');
        expect(release!.status).toBe('fulfilled');
        expect(hold).toEqual({ status: 'released', usage_event_id: null });
        expect(events!.n).toBe(0);
        outcomes.released += 1;
      }
    }
    console.info(`[concurrency] settle vs release: ${JSON.stringify(outcomes)}`);
    expect(outcomes.settled + outcomes.released).toBe(TRIALS);
    const [all] = await t.sql.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM usage_events WHERE account_id = 'team'`);
    expect(all!.n).toBe(outcomes.settled);
    const balance = await billing.balance('team');
    expect(balance.heldMicros).toBe(0);
    expect(balance.availableMicros).toBe(50_000_000 + 100_000 - outcomes.settled * valueOf(usage));
    expect((await billing.reconcile('team')).problems).toEqual([]);
  });
});
