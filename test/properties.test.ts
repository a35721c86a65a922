/**
 * Model-based properties of the gate and the ledger. fast-check draws random command
 * sequences (grants, authorize, settle, release, record, refund, expireCredit, clock jumps across
 * hold TTLs, bucket expiry and month boundaries, and database crashes that lose the latest open
 * holds, which commit without waiting for the disk); each run drives a fresh account through them
 * next to a small in-memory model of what the library promises, through three processes whose
 * clocks are up to a few seconds apart, and after every step checks:
 *   - the model and the database agree on every bucket's remaining value, the debt, the
 *     holds and the usage events, and balance() reports what the model expects, each limit's
 *     usage in its day and month included (give or take the usage within the clocks'
 *     tolerance of its edges, which processes whose clocks disagree may count either side);
 *   - every authorize outcome is the one the model predicts, and every refusal carries a code
 *     from the closed list;
 *   - reconcile() finds no problem;
 *   - no usage event is lost or duplicated, replays answer with the first event;
 *   - value is conserved: charged − refunded + expired = granted − remaining + debt,
 *     so it never exceeds granted + debt; debt only ever comes from a charge's shortfall.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BillingError, createBilling, fakeProcessor, REFUSAL_CODES, type Billing, type Charge, type TokenUsage } from '../src/index.ts';
import { DAY, ENGINES, HOUR, MINUTE, useBilling, type TestClock } from './support/harness.ts';
import { CLOCK_TOLERANCE_MS, EXPIRY_GRACE_MS } from '../src/core/time.ts';
import type { Sql } from '../src/db/sql.ts';
import { holdKey } from '../src/core/hold-id.ts';
import { completed } from './support/spend.ts';

const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 40);
const MODEL = 'prop-model';
const PROVIDER = 'test';
// $0.15 per million input tokens, $0.60 per million output tokens: pico-dollars per token.
const INPUT_PICOS = 150_000n;
const OUTPUT_PICOS = 600_000n;
const TINY_PACK = { slug: 'tiny-1', priceCents: 1_00, valueMicros: 1_000_000, expiresAfterDays: 20 };
const BIG_PACK = { slug: 'credits-10', valueMicros: 10_000_000 };

// ---------------------------------------------------------------------------------------------
// Steps

type UsageSpec = { kind: 'scaled'; inPct: number; outPct: number } | { kind: 'abs'; inputTokens: number; outputTokens: number };

type Step =
  | { t: 'bonus'; amount: number; expiresIn: number | null; again: boolean; sameFields: boolean }
  | { t: 'purchase'; pack: 'tiny' | 'big' }
  | { t: 'authorize'; inputTokens: number | undefined; maxOutputTokens: number | undefined }
  | { t: 'settle'; pick: number; preferOpen: boolean; usage: UsageSpec; mode: 'fresh' | 'replay' | 'replayDifferent' | 'stealKey' }
  | { t: 'release'; pick: number; preferOpen: boolean }
  | { t: 'record'; inputTokens: number; outputTokens: number; mode: 'fresh' | 'replay' | 'conflict'; pick: number }
  | { t: 'refund'; pick: number; amount: 'full' | 'excess' | number }
  | { t: 'jump'; ms: number }
  | { t: 'crash'; lose: number }
  | { t: 'expire' }
  | { t: 'edge'; month: boolean; before: number };

const tokensArb = fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 3_000_000 }));

const usageArb: fc.Arbitrary<UsageSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('scaled' as const), inPct: fc.integer({ min: 0, max: 150 }), outPct: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abs' as const), inputTokens: tokensArb, outputTokens: tokensArb }) },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('bonus' as const),
      amount: fc.oneof(fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 1, max: 3_000_000 })),
      expiresIn: fc.option(fc.integer({ min: HOUR, max: 60 * DAY }), { nil: null }),
      again: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
      sameFields: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('purchase' as const), pack: fc.constantFrom('tiny' as const, 'tiny' as const, 'big' as const) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('authorize' as const),
      inputTokens: fc.option(tokensArb, { nil: undefined, freq: 6 }),
      maxOutputTokens: fc.option(tokensArb, { nil: undefined, freq: 4 }),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('settle' as const),
      pick: fc.nat(),
      preferOpen: fc.boolean(),
      usage: usageArb,
      mode: fc.constantFrom('fresh' as const, 'fresh' as const, 'fresh' as const, 'replay' as const, 'replayDifferent' as const, 'stealKey' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('release' as const), pick: fc.nat(), preferOpen: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('record' as const),
      inputTokens: tokensArb,
      outputTokens: tokensArb,
      mode: fc.constantFrom('fresh' as const, 'fresh' as const, 'replay' as const, 'conflict' as const),
      pick: fc.nat(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('refund' as const),
      pick: fc.nat(),
      amount: fc.oneof(fc.constant('full' as const), fc.constant('excess' as const), fc.integer({ min: 1, max: 100 })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('jump' as const),
      ms: fc.oneof(fc.integer({ min: MINUTE, max: 2 * HOUR }), fc.integer({ min: HOUR, max: 2 * DAY }), fc.integer({ min: DAY, max: 40 * DAY })),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'expire' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('edge' as const), month: fc.boolean(), before: fc.integer({ min: 0, max: 4000 }) }),
  },
);

/** A database crash loses the latest open holds, up to `lose` of them; the application restarts. */
const crashArb: fc.Arbitrary<Step> = fc.record({ t: fc.constant('crash' as const), lose: fc.integer({ min: 1, max: 3 }) });

// 2026-01-01 .. 2027-01-01, at any millisecond
const startArb = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) });
const stepsArb = fc.array(fc.oneof({ weight: 40, arbitrary: stepArb }, { weight: 1, arbitrary: crashArb }), { minLength: 20, maxLength: 40 });
/** The other two processes' clocks, ahead of or behind the first's, and which process runs each step. */
const skewsArb = fc.tuple(fc.integer({ min: -3000, max: 3000 }), fc.integer({ min: -3000, max: 3000 }));
const viasArb = fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 40, maxLength: 40 });

// ---------------------------------------------------------------------------------------------
// The model

interface MBucket {
  ref: string;
  source: 'allowance' | 'pack' | 'bonus' | 'refund';
  amount: number;
  remaining: number;
  priority: number;
  startsAt: number;
  expiresAt: number | null;
  createdAt: number;
  seq: number;
}

interface MHold {
  id: string;
  amount: number;
  createdAt: number;
  expiresAt: number;
  /** Lost in a crash: no row until a settle or release writes it back, reserving nothing. */
  lost?: 'lost' | 'restored';
  inputTokens: number | undefined;
  maxOutputTokens: number | undefined;
  status: 'open' | 'settled' | 'released';
  event?: MEvent;
}

interface MEvent {
  id: number;
  /** When it was charged: the windows it counts in. */
  at: number;
  key: string;
  holdId: string | null;
  usage: TokenUsage;
  value: number;
  cost: number;
  shortfall: number;
  refunded: number;
  /** What the charge drew, in ledger order: buckets in burn order, then the shortfall (ref null). */
  draws: { ref: string | null; amount: number }[];
}

interface Model {
  now: number;
  buckets: Map<string, MBucket>;
  seq: number;
  debt: number;
  /** Sum of every charge's shortfall: the only way debt can arise. */
  shortfalls: number;
  /** Value written off as expired, by expireCredit. */
  expired: number;
  holds: MHold[];
  events: MEvent[];
  bonuses: { reference: string; amount: number; expiresAt: number | null }[];
  keys: number;
  refusals: Map<string, number>;
  /** What the run reached, tallied over all runs: proof the sequences hit the interesting cases. */
  seen: Map<string, number>;
}

function see(m: Model, what: string) {
  m.seen.set(what, (m.seen.get(what) ?? 0) + 1);
}

interface Terms {
  planId: number;
  allowanceMicros: number;
  marginBps: number;
  minHoldMicros: number;
  holdTtlMs: number;
}

function priced(usage: { inputTokens: number; outputTokens: number }, marginBps: number): { value: number; cost: number } {
  const picos = BigInt(usage.inputTokens) * INPUT_PICOS + BigInt(usage.outputTokens) * OUTPUT_PICOS;
  const kept = BigInt(10_000 - marginBps) * 1_000_000n;
  const value = (picos * 10_000n + kept - 1n) / kept; // rounded up
  const cost = (picos * 2n + 1_000_000n) / 2_000_000n; // rounded half up
  return { value: Number(value), cost: Number(cost) };
}

function dayOf(at: number): { start: number; end: number } {
  const start = Math.floor(at / DAY) * DAY;
  return { start, end: start + DAY };
}

function monthOf(at: number): { start: number; end: number } {
  const d = new Date(at);
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

function allowanceRef(terms: Terms, at: number): string {
  return `allowance:${terms.planId}:${new Date(monthOf(at).start).toISOString()}`;
}

function modelGrant(m: Model, b: Omit<MBucket, 'remaining' | 'seq' | 'createdAt'>): { pay: number; bucket: MBucket } {
  const pay = Math.min(m.debt, b.amount);
  if (pay > 0) see(m, `${b.source} grant paid debt`);
  m.debt -= pay;
  const bucket: MBucket = { ...b, remaining: b.amount - pay, createdAt: m.now, seq: ++m.seq };
  m.buckets.set(b.ref, bucket);
  return { pay, bucket };
}

function ensureAllowance(m: Model, terms: Terms) {
  const ref = allowanceRef(terms, m.now);
  if (m.buckets.has(ref) || terms.allowanceMicros <= 0) return;
  const { start, end } = monthOf(m.now);
  if ([...m.buckets.values()].some((b) => b.source === 'allowance')) see(m, 'allowance of a later month opened');
  modelGrant(m, { ref, source: 'allowance', amount: terms.allowanceMicros, priority: 0, startsAt: start, expiresAt: end });
}

function usable(m: Model): MBucket[] {
  return [...m.buckets.values()]
    .filter((b) => b.remaining > 0 && b.startsAt <= m.now + CLOCK_TOLERANCE_MS && (b.expiresAt === null || b.expiresAt > m.now))
    .sort(
      (a, b) =>
        a.priority - b.priority ||
        (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) ||
        a.createdAt - b.createdAt ||
        a.seq - b.seq,
    );
}

function heldMicros(m: Model): number {
  return m.holds.filter((h) => h.status === 'open' && h.expiresAt > m.now).reduce((s, h) => s + h.amount, 0);
}

function usableMicros(m: Model): number {
  return usable(m).reduce((s, b) => s + b.remaining, 0);
}

/** Charge in the model: open the allowance, draw in burn order, the rest becomes debt. */
function modelCharge(m: Model, terms: Terms, usage: TokenUsage, key: string, holdId: string | null): Omit<MEvent, 'id'> {
  ensureAllowance(m, terms);
  const { value, cost } = priced(usage, terms.marginBps);
  let left = value;
  const draws: MEvent['draws'] = [];
  for (const b of usable(m)) {
    if (left === 0) break;
    const take = Math.min(left, b.remaining);
    b.remaining -= take;
    left -= take;
    draws.push({ ref: b.ref, amount: take });
  }
  if (left > 0) {
    draws.push({ ref: null, amount: left });
    see(m, holdId ? 'settle shortfall' : 'record shortfall');
  }
  m.debt += left;
  m.shortfalls += left;
  return { at: m.now, key, holdId, usage, value, cost, shortfall: left, refunded: 0, draws };
}

// ---------------------------------------------------------------------------------------------
// Running steps against the model and the library side by side

interface Run {
  billing: Billing;
  /** Two more processes on the database, their clocks `skew` ms from the first's. */
  others: Other[];
  sql: Sql;
  clock: TestClock;
  account: string;
  terms: Terms;
  m: Model;
}

interface Other {
  billing: Billing;
  skew: number;
  /** The process restarts (after a crash of the database). */
  restart(): Promise<void>;
}

/** Run a step through process `via` (0: the first), the model at that process's time. */
async function runVia(run: Run, step: Step, via: number): Promise<void> {
  const other = step.t === 'jump' || step.t === 'edge' || step.t === 'crash' ? undefined : run.others[via - 1];
  if (!other) return runStep(run, step);
  const first = { billing: run.billing, now: run.m.now };
  run.billing = other.billing;
  run.m.now += other.skew;
  if (other.skew !== 0) see(run.m, other.skew > 0 ? 'step by a process whose clock runs ahead' : 'step by a process whose clock runs behind');
  try {
    await runStep(run, step);
  } finally {
    run.billing = first.billing;
    run.m.now = first.now;
  }
}

async function expectBillingError(promise: Promise<unknown>, code: string): Promise<void> {
  let failure: unknown;
  try {
    await promise;
  } catch (error) {
    failure = error;
  }
  expect(failure, `expected a BillingError ${code}`).toBeInstanceOf(BillingError);
  expect((failure as BillingError).code).toBe(code);
}

function pickHold(m: Model, pick: number, preferOpen: boolean): MHold | undefined {
  const open = m.holds.filter((h) => h.status === 'open');
  const list = preferOpen && open.length > 0 ? open : m.holds;
  return list.length === 0 ? undefined : list[pick % list.length];
}

function usageFor(spec: UsageSpec, hold: MHold): TokenUsage {
  if (spec.kind === 'abs') return { inputTokens: spec.inputTokens, outputTokens: spec.outputTokens };
  return {
    inputTokens: Math.floor(((hold.inputTokens ?? 1_000) * spec.inPct) / 100),
    outputTokens: Math.floor(((hold.maxOutputTokens ?? 1_000) * spec.outPct) / 100),
  };
}

function expectCharge(charge: Charge, expected: Omit<MEvent, 'id'>, replayed: boolean) {
  expect(charge.valueMicros).toBe(expected.value);
  expect(charge.costMicros).toBe(expected.cost);
  expect(charge.debtMicros).toBe(expected.shortfall);
  expect(charge.holdId).toBe(expected.holdId);
  expect(charge.replayed).toBe(replayed);
}

async function runStep(run: Run, step: Step): Promise<void> {
  const { billing, account, terms, m } = run;
  switch (step.t) {
    case 'jump': {
      const before = m.now;
      run.clock.advance(step.ms);
      m.now = run.clock.now.getTime();
      if (monthOf(before).start !== monthOf(m.now).start) see(m, 'jump across a month boundary');
      else if (dayOf(before).start !== dayOf(m.now).start) see(m, 'jump across a day boundary');
      if ([...m.buckets.values()].some((b) => b.remaining > 0 && b.expiresAt !== null && b.expiresAt > before && b.expiresAt <= m.now)) see(m, 'bucket expired with value left');
      if (m.holds.some((h) => h.status === 'open' && h.expiresAt > before && h.expiresAt <= m.now)) see(m, 'open hold lapsed');
      return;
    }
    case 'crash': {
      const lost = m.holds.filter((h) => h.status === 'open' && !h.lost).slice(-step.lose);
      for (const hold of lost) {
        await run.sql.query('DELETE FROM holds WHERE id = $1', [holdKey(hold.id)]);
        Object.assign(hold, { lost: 'lost', amount: 0, expiresAt: hold.createdAt });
        see(m, 'open hold lost in a crash');
      }
      run.billing = await createBilling({ database: run.sql, clock: run.clock.read, processors: [fakeProcessor()] });
      for (const other of run.others) await other.restart();
      return;
    }
    case 'edge': {
      // To just before the next day or month: the processes' clocks fall either side of it.
      const next = step.month ? monthOf(m.now).end : dayOf(m.now).end;
      return runStep(run, { t: 'jump', ms: Math.max(1, next - step.before - m.now) });
    }
    case 'expire': {
      // Every account's buckets expired a week ago are written off (this run's are checked).
      await billing.expireCredit();
      for (const b of m.buckets.values()) {
        if (b.remaining > 0 && b.expiresAt !== null && b.expiresAt <= m.now - EXPIRY_GRACE_MS) {
          see(m, 'expired value written off');
          m.expired += b.remaining;
          b.remaining = 0;
        }
      }
      if ([...m.buckets.values()].some((b) => b.remaining > 0 && b.expiresAt !== null && b.expiresAt <= m.now)) see(m, 'expired value kept for the grace');
      return;
    }
    case 'bonus': {
      const first = step.again ? m.bonuses[m.bonuses.length - 1] : undefined;
      const reference = first?.reference ?? `gift-${m.bonuses.length + 1}`;
      const retry = first !== undefined && step.sameFields;
      const amount = retry ? first.amount : step.amount;
      const expiresAt = retry ? first.expiresAt : step.expiresIn === null ? null : m.now + step.expiresIn;
      const credit = billing.credit(account, { source: 'bonus', amountMicros: amount, reference, expiresAt: expiresAt === null ? null : new Date(expiresAt) });
      if (first) {
        // A grant happens once per reference: a retry gets it back, another credit under its reference is a conflict.
        if (amount === first.amount && expiresAt === first.expiresAt) {
          expect(await credit).toMatchObject({ created: false, debtPaidMicros: 0 });
          see(m, 'bonus retried');
        } else {
          await expect(credit).rejects.toMatchObject({ code: 'idempotency_conflict' });
          see(m, 'bonus reference reused for another credit');
        }
        return;
      }
      const result = await credit;
      const { pay } = modelGrant(m, { ref: `bonus:${reference}`, source: 'bonus', amount, priority: 10, startsAt: m.now, expiresAt });
      expect(result).toMatchObject({ created: true, debtPaidMicros: pay });
      m.bonuses.push({ reference, amount, expiresAt });
      return;
    }
    case 'purchase': {
      const pack = step.pack === 'tiny' ? TINY_PACK : BIG_PACK;
      const result = completed(await billing.purchase(account, pack.slug));
      const expiresAt = step.pack === 'tiny' ? m.now + TINY_PACK.expiresAfterDays * DAY : null;
      const { pay } = modelGrant(m, { ref: `payment:fake:${result.paymentRef}`, source: 'pack', amount: pack.valueMicros, priority: 20, startsAt: m.now, expiresAt });
      expect(result).toMatchObject({ valueMicros: pack.valueMicros, debtPaidMicros: pay });
      return;
    }
    case 'authorize': {
      const input = { model: MODEL, provider: PROVIDER, inputTokens: step.inputTokens, maxOutputTokens: step.maxOutputTokens };
      const result = await billing.authorize(account, input);
      ensureAllowance(m, terms); // authorize opens the period's allowance, even when it refuses
      const known = step.inputTokens !== undefined && step.maxOutputTokens !== undefined;
      const worstCase = priced({ inputTokens: step.inputTokens ?? 0, outputTokens: step.maxOutputTokens ?? 0 }, terms.marginBps).value;
      const estimate = known ? worstCase : Math.max(worstCase, terms.minHoldMicros);
      const available = Math.max(0, usableMicros(m) - heldMicros(m) - m.debt);
      const expected = m.debt > 0 ? 'debt' : available < estimate ? 'insufficient_balance' : 'ok';
      if (!result.ok) {
        expect(REFUSAL_CODES).toContain(result.code);
        expect(result.message.length).toBeGreaterThan(0);
        expect(result.remedy).toBeDefined();
        m.refusals.set(result.code, (m.refusals.get(result.code) ?? 0) + 1);
      }
      expect(result.ok ? 'ok' : result.code, `authorize ${JSON.stringify(input)} with ${available} µ$ available, debt ${m.debt}`).toBe(expected);
      if (result.ok) {
        expect(result.hold.amountMicros).toBe(estimate);
        expect(result.hold.expiresAt.getTime()).toBe(m.now + terms.holdTtlMs);
        see(m, known ? 'authorized' : 'authorized with the minimum hold');
        m.holds.push({ id: result.hold.id, amount: estimate, createdAt: m.now, expiresAt: m.now + terms.holdTtlMs, inputTokens: step.inputTokens, maxOutputTokens: step.maxOutputTokens, status: 'open' });
      }
      return;
    }
    case 'settle': {
      const hold = pickHold(m, step.pick, step.preferOpen);
      if (!hold) {
        await expectBillingError(billing.settle(`hold_missing_${step.pick}`, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: `k-${++m.keys}` }), 'hold_not_found');
        return;
      }
      let usage = usageFor(step.usage, hold);
      if (hold.lost === 'lost') {
        hold.lost = 'restored';
        see(m, 'settle of a lost hold');
      }
      if (hold.status === 'released') {
        await expectBillingError(billing.settle(hold.id, usage, { idempotencyKey: `k-${++m.keys}` }), 'hold_released');
        see(m, 'settle of a released hold');
        return;
      }
      if (hold.status === 'settled') {
        const first = hold.event!;
        if (step.mode === 'replay') {
          const charge = await billing.settle(hold.id, first.usage, { idempotencyKey: first.key });
          expect(charge.usageEventId).toBe(first.id);
          expectCharge(charge, first, true);
          see(m, 'settle replayed');
        } else if (step.mode === 'replayDifferent') {
          if (usage.inputTokens === first.usage.inputTokens && usage.outputTokens === first.usage.outputTokens) usage = { ...usage, outputTokens: usage.outputTokens + 1 };
          await expectBillingError(billing.settle(hold.id, usage, { idempotencyKey: first.key }), 'idempotency_conflict');
          see(m, 'settle replay with other usage');
        } else {
          await expectBillingError(billing.settle(hold.id, usage, { idempotencyKey: `k-${++m.keys}` }), 'hold_settled');
          see(m, 'settle of a settled hold');
        }
        return;
      }
      if (step.mode === 'stealKey' && m.events.length > 0) {
        // A key that already names another charge: refused, and nothing is written (the hold stays open).
        const other = m.events[step.pick % m.events.length]!;
        await expectBillingError(billing.settle(hold.id, usage, { idempotencyKey: other.key }), 'idempotency_conflict');
        see(m, 'settle with a key of another charge');
        return;
      }
      const key = `k-${++m.keys}`;
      const charge = await billing.settle(hold.id, usage, { idempotencyKey: key });
      see(m, 'settled');
      if (hold.expiresAt <= m.now) see(m, 'settled a lapsed hold');
      const expected = modelCharge(m, terms, usage, key, hold.id);
      expectCharge(charge, expected, false);
      if (expected.value > hold.amount) see(m, 'settled above the hold');
      expect(m.events.some((e) => e.id === charge.usageEventId)).toBe(false);
      const event = { ...expected, id: charge.usageEventId };
      m.events.push(event);
      hold.status = 'settled';
      hold.event = event;
      return;
    }
    case 'release': {
      const hold = pickHold(m, step.pick, step.preferOpen);
      if (!hold) {
        await expectBillingError(billing.release(`hold_missing_${step.pick}`), 'hold_not_found');
        return;
      }
      if (hold.lost === 'lost') {
        hold.lost = 'restored';
        see(m, 'release of a lost hold');
      }
      if (hold.status === 'settled') {
        await expectBillingError(billing.release(hold.id), 'hold_settled');
        see(m, 'release of a settled hold');
        return;
      }
      see(m, hold.status === 'open' ? 'released' : 'released again');
      expect(await billing.release(hold.id)).toEqual({ holdId: hold.id, status: 'released' });
      hold.status = 'released';
      return;
    }
    case 'record': {
      let usage: TokenUsage = { inputTokens: step.inputTokens, outputTokens: step.outputTokens };
      const records = m.events.filter((e) => e.holdId === null);
      if (step.mode === 'replay' && records.length > 0) {
        const first = records[step.pick % records.length]!;
        const charge = await billing.record(account, { model: MODEL, provider: PROVIDER, usage: first.usage }, { idempotencyKey: first.key });
        expect(charge.usageEventId).toBe(first.id);
        expectCharge(charge, first, true);
        see(m, 'record replayed');
        return;
      }
      if (step.mode === 'conflict' && m.events.length > 0) {
        const first = m.events[step.pick % m.events.length]!;
        if (first.holdId === null && usage.inputTokens === first.usage.inputTokens && usage.outputTokens === first.usage.outputTokens) {
          usage = { ...usage, inputTokens: usage.inputTokens + 1 };
        }
        await expectBillingError(billing.record(account, { model: MODEL, provider: PROVIDER, usage }, { idempotencyKey: first.key }), 'idempotency_conflict');
        see(m, 'record with a used key');
        return;
      }
      const key = `k-${++m.keys}`;
      const charge = await billing.record(account, { model: MODEL, provider: PROVIDER, usage }, { idempotencyKey: key });
      const expected = modelCharge(m, terms, usage, key, null);
      expectCharge(charge, expected, false);
      expect(m.events.some((e) => e.id === charge.usageEventId)).toBe(false);
      m.events.push({ ...expected, id: charge.usageEventId });
      return;
    }
    case 'refund': {
      if (m.events.length === 0) {
        await expectBillingError(billing.refund(2_000_000_000), 'usage_event_not_found');
        return;
      }
      const event = m.events[step.pick % m.events.length]!;
      const refundable = event.value - event.refunded;
      const amount = step.amount === 'full' ? refundable : step.amount === 'excess' ? refundable + 1 : Math.max(1, Math.floor((refundable * step.amount) / 100));
      const input = step.amount === 'full' ? undefined : { amountMicros: amount };
      if (amount <= 0 || amount > refundable) {
        await expectBillingError(billing.refund(event.id, input), 'refund_exceeds_charge');
        see(m, 'refund refused');
        return;
      }
      const result = await billing.refund(event.id, input);
      // The model: give back the latest draws first, skipping what earlier refunds gave back.
      let skip = event.refunded;
      let left = amount;
      let forgiven = 0;
      let toRefundBucket = 0;
      for (const draw of [...event.draws].reverse()) {
        const skipped = Math.min(skip, draw.amount);
        skip -= skipped;
        const take = Math.min(left, draw.amount - skipped);
        if (take <= 0) continue;
        left -= take;
        if (draw.ref === null) {
          const forgive = Math.min(take, m.debt);
          if (forgive > 0) see(m, 'refund forgave debt');
          m.debt -= forgive;
          forgiven += forgive;
          toRefundBucket += take - forgive;
        } else {
          const bucket = m.buckets.get(draw.ref)!;
          if (bucket.expiresAt !== null && bucket.expiresAt <= m.now) {
            toRefundBucket += take;
            see(m, 'refund of a draw from an expired bucket');
          } else {
            bucket.remaining += take;
            see(m, 'refund back into its bucket');
          }
        }
      }
      expect(left).toBe(0);
      see(m, amount === refundable ? (event.refunded > 0 ? 'refund of the rest' : 'full refund') : 'partial refund');
      const refundedBefore = event.refunded;
      event.refunded += amount;
      if (toRefundBucket > 0) {
        modelGrant(m, { ref: `refund:${event.id}:${refundedBefore}`, source: 'refund', amount: toRefundBucket, priority: 10, startsAt: m.now, expiresAt: null });
      }
      expect(result.refundedMicros).toBe(amount);
      expect(result.debtForgivenMicros).toBe(forgiven);
      if (toRefundBucket > 0) see(m, 'refund bucket created');
      expect(result.toBuckets.reduce((s, b) => s + b.amountMicros, 0)).toBe(amount - forgiven);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants, checked after every step

interface Totals {
  events: number;
  charged: number;
  refunded: number;
  granted: number;
  remaining: number;
  debt: number;
  shortfalls: number;
  expired: number;
  negative_remaining: number;
}

async function checkInvariants(run: Run, after: string): Promise<void> {
  const { billing, sql, account, m } = run;
  const ctx = `after ${after}`;

  // The library's own proof: projections equal the ledger.
  const rec = await billing.reconcile(account);
  expect(rec.problems, ctx).toEqual([]);
  expect(rec.ok).toBe(true);

  // balance() reports what the model expects.
  const pending = m.buckets.has(allowanceRef(run.terms, m.now)) ? 0 : run.terms.allowanceMicros;
  const held = heldMicros(m);
  const balance = await billing.balance(account);
  expect(balance.availableMicros, ctx).toBeGreaterThanOrEqual(0);
  expect(balance.debtMicros, ctx).toBeGreaterThanOrEqual(0);
  expect({ available: balance.availableMicros, held: balance.heldMicros, debt: balance.debtMicros }, ctx).toEqual({
    available: Math.max(0, usableMicros(m) + pending - held - m.debt),
    held,
    debt: Math.max(0, m.debt - pending),
  });

  // Each limit's usage is the value, or the tokens, charged in its window (UTC days, calendar
  // months), whatever crashes, restarts and clock jumps came between; refunds leave it alone.
  // Processes whose clocks disagree may count usage within the tolerance of a window's edges in
  // the window next to it: never less than the window's own, never more than that as well.
  const used = (window: { start: number; end: number }, widen = 0) => {
    const charged = m.events.filter((e) => e.at >= window.start - widen && e.at < window.end + widen);
    return { usd: charged.reduce((s, e) => s + e.value, 0), tokens: charged.reduce((s, e) => s + e.usage.inputTokens + e.usage.outputTokens, 0) };
  };
  const counted = Object.fromEntries(balance.limits.map((l) => [`${l.window} ${l.unit}`, l.used]));
  for (const [window, of] of [['day', dayOf(m.now)], ['month', monthOf(m.now)]] as const) {
    const [own, near] = [used(of), used(of, CLOCK_TOLERANCE_MS)];
    for (const unit of ['usd', 'tokens'] as const) {
      const key = `${window} ${unit}`;
      if (own[unit] === near[unit]) expect(counted[key], `${ctx}: ${key}`).toBe(own[unit]);
      else {
        expect(counted[key], `${ctx}: ${key}`).toBeGreaterThanOrEqual(own[unit]);
        expect(counted[key], `${ctx}: ${key}`).toBeLessThanOrEqual(near[unit]);
        if (counted[key] !== own[unit]) see(m, `usage near a ${window}'s edge counted in the ${window} next to it`);
      }
    }
  }

  // Every bucket, expired ones included, holds what the model says.
  const buckets = await sql.query<{ reference: string; amount_micros: number; remaining_micros: number }>(
    'SELECT reference, amount_micros, remaining_micros FROM buckets WHERE account_id = $1',
    [account],
  );
  expect(Object.fromEntries(buckets.map((b) => [b.reference, [b.amount_micros, b.remaining_micros]])), ctx).toEqual(
    Object.fromEntries([...m.buckets.values()].map((b) => [b.ref, [b.amount, b.remaining]])),
  );

  // Holds: each one's state is the model's.
  const holds = await sql.query<{ id: string; status: string; amount_micros: number; usage_event_id: number | null }>(
    'SELECT id, status, amount_micros, usage_event_id FROM holds WHERE account_id = $1',
    [account],
  );
  expect(Object.fromEntries(holds.map((h) => [h.id, [h.status, h.amount_micros, h.usage_event_id]])), ctx).toEqual(
    Object.fromEntries(m.holds.filter((h) => h.lost !== 'lost').map((h) => [holdKey(h.id), [h.status, h.amount, h.event?.id ?? null]])),
  );

  // Usage events: none lost, none duplicated, each as charged and refunded.
  const events = await sql.query<{ id: number; idempotency_key: string; value_micros: number; refunded_micros: number }>(
    'SELECT id, idempotency_key, value_micros, refunded_micros FROM usage_events WHERE account_id = $1',
    [account],
  );
  expect(Object.fromEntries(events.map((e) => [e.id, [e.idempotency_key, e.value_micros, e.refunded_micros]])), ctx).toEqual(
    Object.fromEntries(m.events.map((e) => [e.id, [e.key, e.value, e.refunded]])),
  );

  // Value conservation, straight from the tables.
  const [totals] = await sql.query<Totals>(
    `SELECT
       (SELECT count(*) FROM usage_events WHERE account_id = $1)::bigint AS events,
       (SELECT COALESCE(sum(value_micros), 0) FROM usage_events WHERE account_id = $1)::bigint AS charged,
       (SELECT COALESCE(sum(refunded_micros), 0) FROM usage_events WHERE account_id = $1)::bigint AS refunded,
       (SELECT COALESCE(sum(amount_micros), 0) FROM buckets WHERE account_id = $1 AND source <> 'refund')::bigint AS granted,
       (SELECT COALESCE(sum(remaining_micros), 0) FROM buckets WHERE account_id = $1)::bigint AS remaining,
       (SELECT debt_micros FROM account_balances WHERE account_id = $1) AS debt,
       (SELECT COALESCE(-sum(amount_micros), 0) FROM ledger_entries WHERE account_id = $1 AND bucket_id IS NULL AND kind = 'usage')::bigint AS shortfalls,
       (SELECT COALESCE(-sum(amount_micros), 0) FROM ledger_entries WHERE account_id = $1 AND kind = 'expiry')::bigint AS expired,
       (SELECT count(*) FROM buckets WHERE account_id = $1 AND remaining_micros < 0)::bigint AS negative_remaining`,
    [account],
  );
  const t = totals!;
  expect(t.events, ctx).toBe(m.events.length);
  expect(t.debt, ctx).toBe(m.debt);
  expect(t.negative_remaining).toBe(0);
  // Net value consumed, and written off, is exactly what was granted and is gone, plus what is owed...
  expect(t.expired, ctx).toBe(m.expired);
  expect(t.charged - t.refunded + t.expired, ctx).toBe(t.granted - t.remaining + t.debt);
  // ...so it never exceeds what was granted plus the debt.
  expect(t.charged - t.refunded).toBeLessThanOrEqual(t.granted + t.debt);
  // Debt only arises from a charge's shortfall.
  expect(t.shortfalls, ctx).toBe(m.shortfalls);
  expect(t.debt).toBeLessThanOrEqual(t.shortfalls);
  if (t.debt > 0) expect(m.shortfalls).toBeGreaterThan(0);
}

// ---------------------------------------------------------------------------------------------

for (const engine of ENGINES) {
  describe(`billing properties on ${engine.name}`, () => {
    const t = useBilling(engine);

    it(
      'random command sequences keep the model, the ledger and the balance in agreement',
      async () => {
        const { billing, sql } = t;
        await billing.admin.applyPreset('credit-packs');
        await billing.admin.createPack({ slug: TINY_PACK.slug, name: 'Tiny', priceCents: TINY_PACK.priceCents, valueMicros: TINY_PACK.valueMicros, expiresAfterDays: TINY_PACK.expiresAfterDays });
        await billing.admin.setModelPrice({ provider: PROVIDER, model: MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '0.15', output: '0.6' } });
        // Limits that never bind, so that their counters are checked without changing a decision.
        const never = 1_000_000_000_000_000;
        await billing.admin.updatePlan('payg', {
          limits: (['day', 'month'] as const).flatMap((window) => (['usd', 'tokens'] as const).map((unit) => ({ window, unit, amount: never }))),
        });
        const plan = await billing.admin.getPlan('payg');
        expect(plan.overage).toBe('credits');
        const bigPack = await billing.admin.getPack(BIG_PACK.slug);
        expect(bigPack.valueMicrosOverride ?? bigPack.priceCents * 10_000).toBe(BIG_PACK.valueMicros);
        const settings = await billing.admin.getSettings();
        const terms: Terms = {
          planId: plan.id,
          allowanceMicros: plan.includedMicrosOverride ?? 0,
          marginBps: settings.marginBps,
          minHoldMicros: settings.minHoldMicros,
          holdTtlMs: settings.holdTtlSeconds * 1000,
        };
        expect(terms.allowanceMicros).toBe(100_000);

        // Two more processes on the database, each with a clock of its own (set for each run).
        const others = await Promise.all(
          [0, 1].map(async () => {
            const other = { skew: 0 } as Other;
            const clock = () => new Date(t.clock.now.getTime() + other.skew);
            other.restart = async () => {
              other.billing = await createBilling({ database: sql, clock, processors: [fakeProcessor()] });
            };
            await other.restart();
            return other;
          }),
        );
        let runs = 0;
        let steps = 0;
        const refusals = new Map<string, number>();
        const seen = new Map<string, number>();
        let debtRuns = 0;
        await fc.assert(
          fc.asyncProperty(startArb, stepsArb, skewsArb, viasArb, async (start, script, skews, vias) => {
            runs += 1;
            t.clock.now = new Date(start);
            const account = `prop-${engine.name}-${runs}`;
            await billing.upsertAccount({ id: account, kind: runs % 2 ? 'team' : 'personal' });
            const m: Model = { now: start, buckets: new Map(), seq: 0, debt: 0, shortfalls: 0, expired: 0, holds: [], events: [], bonuses: [], keys: 0, refusals, seen };
            skews.forEach((skew, k) => (others[k]!.skew = skew));
            const run: Run = { billing, others, sql, clock: t.clock, account, terms, m };
            let sawDebt = false;
            for (const [i, step] of script.entries()) {
              await runVia(run, step, vias[i]!);
              await checkInvariants(run, `step ${i} ${JSON.stringify(step)} via ${vias[i]} (skews ${skews})`);
              steps += 1;
              sawDebt ||= m.debt > 0;
            }
            if (sawDebt) debtRuns += 1;
          }),
          // Shrinking a failure replays whole sequences: stop it after a while and report the smallest found so far.
          { numRuns: NUM_RUNS, skipAllAfterTimeLimit: 120_000 },
        );
        console.info(`[properties ${engine.name}] ${runs} runs, ${steps} steps; refusals ${JSON.stringify(Object.fromEntries(refusals))}; runs with debt: ${debtRuns}`);
        console.info(`[properties ${engine.name}] reached: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
        // The sequences must reach the interesting states, or the property proves little.
        expect(refusals.get('insufficient_balance') ?? 0).toBeGreaterThan(0);
        expect(refusals.get('debt') ?? 0).toBeGreaterThan(0);
        expect(debtRuns).toBeGreaterThan(0);
      },
      240_000,
    );
  });
}
