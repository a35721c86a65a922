/**
 * The gate's guarantees across processes: several child processes on one PostgreSQL
 * database, each with its own memory of the accounts it served, its own pools and batches.
 * No value is approved twice, whatever each process last knew; a change of plan, limits or
 * models made in one binds the others' next answers; and one caller's bad input never costs
 * other callers their holds or charges. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess, type Outcome } from './support/processes.ts';

if (!POSTGRES_URL) console.warn('\n[process tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

/** test-model at $1 per million input tokens and the default 50% margin: 2 µ$ of value per input token. */
const ask = (inputTokens: number, extra: Record<string, unknown> = {}) => ({ model: 'test-model', provider: 'test', inputTokens, maxOutputTokens: 0, ...extra });
const approved = (outcomes: Outcome[]) => outcomes.flatMap((o) => (o.ok && o.value.ok ? [o.value.hold as { id: string; amountMicros: number }] : []));
const refusals = (outcomes: Outcome[]) => outcomes.flatMap((o) => (o.ok && !o.value.ok ? [o.value.code as string] : []));

describe.skipIf(!POSTGRES_URL)(`several processes on one database${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let procs: BillingProcess[];
  let admin: BillingProcess;
  let keys = 0;

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    procs = await Promise.all([0, 1, 2, 3].map(() => BillingProcess.start(db.url!)));
    admin = procs[0]!;
    await admin.must('admin.applyPreset', 'credit-packs');
    await admin.must('admin.updatePlan', 'payg', { includedMicros: 0 });
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await db?.drop();
  });

  async function fundedTeam(id: string, micros: number) {
    await admin.must('upsertAccount', { id, kind: 'team' });
    await admin.must('credit', id, { source: 'bonus', amountMicros: micros, reference: 'gift' });
  }

  /** One small call in each process, so that each knows the account. */
  async function warm(id: string, processes: BillingProcess[]) {
    for (const p of processes) {
      const auth = await p.must('authorize', id, ask(1_000));
      expect(auth.ok, JSON.stringify(auth)).toBe(true);
      await p.must('settle', auth.hold.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: `warm-${++keys}` });
    }
  }

  const balance = (id: string) => admin.must('balance', id);
  const problems = async (id: string) => (await admin.must('reconcile', id)).problems;

  it('approves no value twice: three processes that knew the account burst 8 calls each on what is left', async () => {
    await fundedTeam('four', 2_000_000);
    await warm('four', procs.slice(1));
    // One process spends the account down to $0.20; the others knew it with $1.99 left.
    const left = (await balance('four')).availableMicros;
    await admin.must('record', 'four', { model: 'test-model', provider: 'test', usage: { inputTokens: (left - 200_000) / 2, outputTokens: 0 } }, { idempotencyKey: 'spend' });
    expect((await balance('four')).availableMicros).toBe(200_000);

    const outcomes = (await Promise.all(procs.slice(1).map((p) => p.burst('authorize', Array.from({ length: 8 }, () => ['four', ask(35_000)]))))).flat();
    const holds = approved(outcomes);
    expect(holds.length).toBe(2); // $0.07 each: two fit in $0.20, a third does not
    expect(refusals(outcomes)).toEqual(Array(22).fill('insufficient_balance'));

    // Each hold is settled in full by a process other than the one that placed it.
    await Promise.all(holds.map((h, i) => procs[(i % 3) + 1]!.must('settle', h.id, { inputTokens: 35_000, outputTokens: 0 }, { idempotencyKey: `full-${i}` })));
    expect(await balance('four')).toMatchObject({ availableMicros: 60_000, heldMicros: 0, debtMicros: 0 });
    expect(await problems('four')).toEqual([]);
  });

  it('approves no value twice: one process with 60 concurrent calls on $0.20', async () => {
    await fundedTeam('sixty', 200_000);
    await warm('sixty', [procs[1]!]);
    const outcomes = await procs[1]!.burst('authorize', Array.from({ length: 60 }, () => ['sixty', ask(35_000)]));
    expect(approved(outcomes).length).toBe(2); // 196,000 µ$ left after the warm-up: two of 70,000
    expect((await balance('sixty')).heldMicros).toBe(140_000);
  });

  it("a plan with a tiny daily limit, taken in one process, binds the others' very next calls", async () => {
    await admin.must('admin.createPlan', {
      slug: 'tiny', name: 'Tiny', priceCents: 500, includedMicros: 0, overage: 'credits', limits: [{ window: 'day', unit: 'usd', amount: 10_000 }],
    });
    await fundedTeam('limited', 2_000_000);
    await warm('limited', procs.slice(1, 3)); // 4,000 µ$ of today's usage
    await admin.must('subscribe', 'limited', 'tiny');

    const outcomes = (await Promise.all(procs.slice(1, 3).map((p) => p.burst('authorize', Array.from({ length: 8 }, () => ['limited', ask(1_000)]))))).flat();
    const holds = approved(outcomes);
    expect(holds.reduce((sum, h) => sum + h.amountMicros, 0)).toBeLessThanOrEqual(10_000 - 4_000);
    expect(holds.length).toBe(3);
    expect(new Set(refusals(outcomes))).toEqual(new Set(['daily_limit']));
  });

  it("a limit added to the account's current plan, and a model taken off it, bind the others' very next calls once the account is moved to that version", async () => {
    await admin.must('admin.createPlan', { slug: 'open', name: 'Open', priceCents: 500, includedMicros: 0, overage: 'credits' });
    await fundedTeam('changed', 2_000_000);
    await admin.must('subscribe', 'changed', 'open');
    await warm('changed', procs.slice(1, 3)); // 4,000 µ$ of today's usage
    await admin.must('admin.updatePlan', 'open', { limits: [{ window: 'day', unit: 'usd', amount: 10_000 }] });
    await admin.must('admin.moveToCurrentVersion', 'open'); // a subscriber keeps the version it bought until moved

    const limited = (await Promise.all(procs.slice(1, 3).map((p) => p.burst('authorize', Array.from({ length: 8 }, () => ['changed', ask(1_000)]))))).flat();
    expect(approved(limited).length).toBe(3);
    for (const hold of approved(limited)) await procs[1]!.must('release', hold.id);

    await admin.must('admin.updatePlan', 'open', { models: ['other-*'] });
    await admin.must('admin.moveToCurrentVersion', 'open');
    const disallowed = (await Promise.all(procs.slice(1, 3).map((p) => p.burst('authorize', Array.from({ length: 4 }, () => ['changed', ask(1)]))))).flat();
    expect(refusals(disallowed)).toEqual(Array(8).fill('model_not_allowed'));
  });

  it('take-backs from three processes at once, with calls in flight, never take a bucket below what is left nor past what calls hold', async () => {
    await admin.must('upsertAccount', { id: 'mistake', kind: 'team' });
    const { bucketId } = await admin.must('credit', 'mistake', { source: 'adjustment', amountMicros: 1_000_000, reference: 'oops' });
    await warm('mistake', procs.slice(1)); // each process knows the account; 6,000 µ$ spent
    const [takes, calls] = await Promise.all([
      Promise.all(procs.slice(1).map((p, i) => p.burst('takeBack', Array.from({ length: 4 }, (_, j) => ['mistake', bucketId, { amountMicros: 150_000 }, { idempotencyKey: `oops-${i}-${j}` }])))),
      Promise.all(procs.slice(1).map((p) => p.burst('authorize', Array.from({ length: 4 }, () => ['mistake', ask(10_000)])))),
    ]);
    const taken = takes.flat().filter((o) => o.ok).length;
    for (const o of takes.flat()) if (!o.ok) expect(o.error.code).toBe('take_back_exceeds_remaining');
    const holds = approved(calls.flat());
    // 994,000 µ$ left before: six take-backs of 150,000 fit, a seventh does not, and the holds come off what can be taken.
    expect(taken).toBeGreaterThanOrEqual(5);
    expect(taken).toBeLessThanOrEqual(6);
    const held = holds.reduce((sum, h) => sum + h.amountMicros, 0);
    const after = await balance('mistake');
    expect(after.availableMicros + after.heldMicros).toBe(994_000 - taken * 150_000);
    expect(after.heldMicros).toBe(held);
    for (const hold of holds) await procs[1]!.must('settle', hold.id, { inputTokens: 10_000, outputTokens: 0 }, { idempotencyKey: `oops-settle-${hold.id}` });
    expect((await balance('mistake')).debtMicros).toBe(0);
    expect(await problems('mistake')).toEqual([]);
  });

  it("a price override set in one process prices the others' very next holds and charges", async () => {
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'dear-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await fundedTeam('repriced', 2_000_000);
    await warm('repriced', procs.slice(1)); // each process has loaded its price book
    await admin.must('admin.setModelPrice', { provider: 'test', model: 'dear-model', effectiveFrom: '2020-01-02T00:00:00Z', rates: { input: '10', output: '20' } });
    for (const [i, p] of procs.slice(1).entries()) {
      const auth = await p.must('authorize', 'repriced', { ...ask(1_000), model: 'dear-model' });
      expect(auth.hold.amountMicros).toBe(20_000); // $10 per million at 50% margin: 20 µ$ a token
      const charge = await p.must('record', 'repriced', { model: 'dear-model', provider: 'test', usage: { inputTokens: 1_000, outputTokens: 0 } }, { idempotencyKey: `dear-${i}` });
      expect(charge.valueMicros).toBe(20_000);
    }
  });

  it("a member's cap, set in one process, stops that member's bursts in the others together; other members go on", async () => {
    await fundedTeam('capped', 2_000_000);
    await warm('capped', procs.slice(1)); // each process knows the account before the cap
    await admin.must('admin.setMemberLimits', 'capped', 'u_capped', [{ window: 'day', unit: 'usd', amount: 10_000 }]);
    const member = (userId: string) => Array.from({ length: 8 }, () => ['capped', ask(1_000, { userId })]);
    const outcomes = (await Promise.all(procs.slice(1).map((p) => p.burst('authorize', member('u_capped'))))).flat();
    expect(approved(outcomes).length).toBe(5); // 2,000 µ$ each: five fit in the member's 10,000
    expect(new Set(refusals(outcomes))).toEqual(new Set(['member_limit']));
    const others = (await Promise.all(procs.slice(1).map((p) => p.burst('authorize', member('u_free'))))).flat();
    expect(approved(others).length).toBe(24);
  });

  it("one caller's bad string costs the others in its burst neither their holds nor their charges", async () => {
    await fundedTeam('mixed', 2_000_000);
    await warm('mixed', [procs[1]!]);
    const outcomes = await procs[1]!.burst('authorize', [
      ['mixed', ask(1_000, { userId: 'u1' })], ['mixed', ask(1_000, { userId: 'u2' })], ['mixed', ask(1_000, { userId: 'u\u0000' })],
      ['mixed', ask(1_000, { userId: 'u4' })], ['mixed', ask(1_000, { userId: 'u5' })], ['mixed', ask(1_000, { userId: 'u6' })],
    ]);
    expect(outcomes[2]).toMatchObject({ ok: false, error: { name: 'BillingError', code: 'invalid_input' } });
    const holds = approved(outcomes);
    expect(holds.length).toBe(5);
    const open = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM holds WHERE account_id = 'mixed' AND status = 'open'`);
    expect(open[0]!.n).toBe(5);
    expect((await balance('mixed')).heldMicros).toBe(5 * 2_000);

    const settles = await procs[2]!.burst('settle', holds.map((h, i) => [
      h.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: `mixed-${i}`, metadata: { title: i === 1 ? 'caf\ud83d' : 'café' } },
    ]));
    expect(settles.map((s) => (s.ok ? 'charged' : s.error.code))).toEqual(['charged', 'invalid_input', 'charged', 'charged', 'charged']);
    await procs[2]!.must('settle', holds[1]!.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: 'mixed-1', metadata: { title: 'caf' } });
    const events = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM usage_events WHERE account_id = 'mixed'`);
    expect(events[0]!.n).toBe(1 + 5);
    expect(await balance('mixed')).toMatchObject({ heldMicros: 0, debtMicros: 0 });
    expect(await problems('mixed')).toEqual([]);
  });

  it('a hold id issued by one process opens in every other; a forged one in none', async () => {
    await fundedTeam('ids', 1_000_000);
    const auth = await procs[1]!.must('authorize', 'ids', ask(1_000));
    const forged = `${auth.hold.id.slice(0, -4)}AAAA`;
    for (const p of procs.slice(2)) expect(await p.call('release', forged)).toMatchObject({ ok: false, error: { code: 'hold_not_found' } });
    expect(await procs[3]!.must('release', auth.hold.id)).toEqual({ holdId: auth.hold.id, status: 'released' });
  });
});
