/**
 * A token limit binds calls that send no token counts. Such a call used to hold value only
 * (the settings' minimum hold) and no tokens, so any number of them passed a plan's token
 * limit, or a member's token cap, together. Now a count not given is held at its most (what
 * one call may report), and where that would pass a token limit, authorize asks for the
 * counts (`invalid_input` naming them) instead of guessing: concurrent calls, in one process
 * or several, cannot pass a token limit together.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, type Billing } from '../src/index.ts';
import { MAX_CALL_TOKENS } from '../src/core/input.ts';
import { billingErrorBody } from '../src/hono/errors.ts';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import type { Outcome } from './support/processes.ts';
import { useProcesses } from './support/process-world.ts';

const MODEL = { model: 'test-model', provider: 'test' } as const;
const LIMIT = 10_000;
/** What each call really uses, once it has run: three of them fit in the limit, four do not. */
const CALL_USAGE = { inputTokens: 2_000, outputTokens: 1_000 };

async function world(billing: Billing, limits: { plan?: boolean } = { plan: true }) {
  await billing.admin.applyPreset('credit-packs');
  await billing.admin.setModelPrice({ ...MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
  if (limits.plan) await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'tokens', amount: LIMIT }] });
  await billing.upsertAccount({ id: 'team', kind: 'team', name: 'Acme' });
  await billing.credit('team', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
}

/** Every call approved runs and is settled with what it used. */
async function runAll(billing: Billing, results: PromiseSettledResult<Awaited<ReturnType<Billing['authorize']>>>[]) {
  let n = 0;
  for (const r of results) {
    if (r.status === 'fulfilled' && r.value.ok) await billing.settle(r.value.hold.id, CALL_USAGE, { idempotencyKey: `call-${n++}` });
  }
  return n;
}

const tokensUsed = async (billing: Billing, userId?: string) => {
  const balance = await billing.balance('team');
  const limits = userId === undefined ? balance.limits : balance.members.find((m) => m.userId === userId)!.limits;
  return limits.find((l) => l.unit === 'tokens')!.used;
};

/** The answer for a call that left out counts a token limit needs. */
function expectCountsAsked(result: PromiseSettledResult<unknown>, missing: string[]) {
  expect(result.status).toBe('rejected');
  const error = (result as PromiseRejectedResult).reason;
  expect(error).toBeInstanceOf(BillingError);
  expect(error).toMatchObject({ code: 'invalid_input', details: { issues: missing.map((field) => expect.stringMatching(new RegExp(`^${field}: `))) } });
  expect(error.message).toMatch(/10,000 tokens/);
  for (const field of missing) expect(error.message).toContain(field);
}

for (const engine of ENGINES) {
  describe(`token limits and calls without token counts, on ${engine.name}`, () => {
    const t = useBilling(engine);

    it("a burst of calls without counts cannot pass the plan's token limit: each is asked for its counts", async () => {
      await world(t.billing);
      const results = await Promise.allSettled(Array.from({ length: 24 }, () => t.billing.authorize('team', MODEL)));
      const ran = await runAll(t.billing, results);
      expect(await tokensUsed(t.billing)).toBeLessThanOrEqual(LIMIT);
      expect(ran).toBe(0);
      for (const result of results) expectCountsAsked(result, ['inputTokens', 'maxOutputTokens']);
      // Over HTTP, a 400 that names the first field to send.
      const { status, body } = billingErrorBody((results[0] as PromiseRejectedResult).reason);
      expect({ status, code: body.error.code, param: body.error.param }).toEqual({ status: 400, code: 'invalid_input', param: 'inputTokens' });
      expect((await t.billing.reconcile('team')).problems).toEqual([]);
    });

    it("a burst of calls without counts cannot pass a member's token cap; the team's other members go on", async () => {
      await world(t.billing, { plan: false });
      await t.billing.admin.setMemberLimits('team', 'u_capped', [{ window: 'day', unit: 'tokens', amount: LIMIT }]);
      const results = await Promise.allSettled(Array.from({ length: 24 }, () => t.billing.authorize('team', { ...MODEL, userId: 'u_capped' })));
      expect(await runAll(t.billing, results)).toBe(0);
      expect(await tokensUsed(t.billing, 'u_capped')).toBeLessThanOrEqual(LIMIT);
      for (const result of results) expectCountsAsked(result, ['inputTokens', 'maxOutputTokens']);
      // A member without a cap, on a team without a token limit: no counts needed.
      expect(await t.billing.authorize('team', { ...MODEL, userId: 'u_free' })).toMatchObject({ ok: true });
    });

    it('a call that gives one count is asked for the other', async () => {
      await world(t.billing);
      const [input] = await Promise.allSettled([t.billing.authorize('team', { ...MODEL, inputTokens: 2_000 })]);
      expectCountsAsked(input!, ['maxOutputTokens']);
      const [output] = await Promise.allSettled([t.billing.authorize('team', { ...MODEL, maxOutputTokens: 1_000 })]);
      expectCountsAsked(output!, ['inputTokens']);
    });

    it('a burst of calls with their counts stops at the limit, and what they use stays within it', async () => {
      await world(t.billing);
      const results = await Promise.allSettled(
        Array.from({ length: 24 }, () => t.billing.authorize('team', { ...MODEL, inputTokens: CALL_USAGE.inputTokens, maxOutputTokens: CALL_USAGE.outputTokens })),
      );
      expect(await runAll(t.billing, results)).toBe(3);
      expect(await tokensUsed(t.billing)).toBe(9_000);
      expect(results.filter((r) => r.status === 'fulfilled' && !r.value.ok).map((r) => (r as PromiseFulfilledResult<{ code: string }>).value.code)).toEqual(Array(21).fill('daily_limit'));
    });

    it('an account at its token limit is refused with the limit, counts or not; canStart says so too', async () => {
      await world(t.billing);
      await t.billing.record('team', { ...MODEL, usage: { inputTokens: LIMIT, outputTokens: 0 } }, { idempotencyKey: 'all-of-it' });
      expect(await t.billing.authorize('team', MODEL)).toMatchObject({ ok: false, code: 'daily_limit' });
      expect(await t.billing.authorize('team', { ...MODEL, inputTokens: 1, maxOutputTokens: 0 })).toMatchObject({ ok: false, code: 'daily_limit' });
      expect(await t.billing.canStart('team', MODEL)).toMatchObject({ ok: false, code: 'daily_limit' });
    });

    it('a call without counts holds its worst case in tokens, so a limit that large still binds it', async () => {
      await world(t.billing, { plan: false });
      const worstCase = 2 * MAX_CALL_TOKENS;
      await t.billing.admin.updatePlan('payg', { limits: [{ window: 'month', unit: 'tokens', amount: 2 * worstCase }] });
      const first = await t.billing.authorize('team', MODEL);
      const second = await t.billing.authorize('team', { ...MODEL, inputTokens: 100 });
      expect([first, second]).toMatchObject([{ ok: true, hold: { tokens: worstCase } }, { ok: true, hold: { tokens: 100 + MAX_CALL_TOKENS } }]);
      expect((await t.billing.balance('team')).limits).toMatchObject([{ unit: 'tokens', held: 2 * worstCase - MAX_CALL_TOKENS + 100 }]);
      // No worst case fits in what is left: the next such call is asked for its counts, and one that gives them goes ahead.
      const [third] = await Promise.allSettled([t.billing.authorize('team', MODEL)]);
      expect(third).toMatchObject({ status: 'rejected', reason: { code: 'invalid_input' } });
      expect(await t.billing.authorize('team', { ...MODEL, inputTokens: 100, maxOutputTokens: 100 })).toMatchObject({ ok: true, hold: { tokens: 200 } });
    });
  });
}

/** The holds approved among a burst's outcomes. */
const approved = (outcomes: Outcome[]) => outcomes.flatMap((o) => (o.ok && o.value.ok ? [o.value.hold as { id: string }] : []));

describe.skipIf(!POSTGRES_URL)(`token limits across processes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const world = useProcesses(4, async (admin) => {
    await admin.must('admin.applyPreset', 'credit-packs');
    await admin.must('admin.setModelPrice', { ...MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
  });
  let keys = 0;

  /** A team with $10, known to each of the other processes (one small counted call each). */
  async function team(id: string, userId?: string) {
    await world.admin.must('upsertAccount', { id, kind: 'team' });
    await world.admin.must('credit', id, { source: 'bonus', amountMicros: 10_000_000, reference: 'gift' });
    for (const p of world.processes.slice(1)) {
      const auth = await p.must('authorize', id, { ...MODEL, inputTokens: 1, maxOutputTokens: 0, ...(userId && { userId }) });
      expect(auth.ok, JSON.stringify(auth)).toBe(true);
      await p.must('settle', auth.hold.id, { inputTokens: 1, outputTokens: 0 }, { idempotencyKey: `warm-${++keys}` });
    }
  }

  /** Three processes burst 8 calls each; every call approved is settled with what it used, by another process. */
  async function burst(id: string, input: Record<string, unknown>) {
    const outcomes = (await Promise.all(world.processes.slice(1).map((p) => p.burst('authorize', Array.from({ length: 8 }, () => [id, { ...MODEL, ...input }]))))).flat();
    const holds = approved(outcomes);
    await Promise.all(holds.map((h, i) => world.processes[(i % 3) + 1]!.must('settle', h.id, CALL_USAGE, { idempotencyKey: `run-${++keys}` })));
    return { outcomes, holds };
  }

  const used = async (id: string, userId?: string) => {
    const balance = await world.admin.must('balance', id);
    const limits = userId === undefined ? balance.limits : balance.members.find((m: { userId: string }) => m.userId === userId).limits;
    return limits.find((l: { unit: string }) => l.unit === 'tokens').used as number;
  };
  const asked = (outcomes: Outcome[]) => outcomes.filter((o) => !o.ok && o.error.code === 'invalid_input' && /inputTokens/.test(o.error.message ?? '')).length;

  it("calls without counts from three processes that knew the team cannot pass the plan's token limit together", async () => {
    await team('plan-limited');
    await world.admin.must('admin.updatePlan', 'payg', { limits: [{ window: 'day', unit: 'tokens', amount: LIMIT }] });
    try {
      const { outcomes, holds } = await burst('plan-limited', {});
      expect(await used('plan-limited')).toBeLessThanOrEqual(LIMIT);
      expect(holds).toEqual([]);
      expect(asked(outcomes)).toBe(24);
      // With their counts, three of 24 fit, and what they use stays within the limit.
      const counted = await burst('plan-limited', { inputTokens: CALL_USAGE.inputTokens, maxOutputTokens: CALL_USAGE.outputTokens });
      expect(counted.holds.length).toBe(3);
      expect(await used('plan-limited')).toBe(9_000 + 3);
      expect((await world.admin.must('reconcile', 'plan-limited')).problems).toEqual([]);
    } finally {
      await world.admin.must('admin.updatePlan', 'payg', { limits: [] });
    }
  });

  it("calls without counts from three processes cannot pass a member's token cap together", async () => {
    await team('member-capped', 'u_capped');
    await world.admin.must('admin.setMemberLimits', 'member-capped', 'u_capped', [{ window: 'day', unit: 'tokens', amount: LIMIT }]);
    const { outcomes, holds } = await burst('member-capped', { userId: 'u_capped' });
    expect(await used('member-capped', 'u_capped')).toBeLessThanOrEqual(LIMIT);
    expect(holds).toEqual([]);
    expect(asked(outcomes)).toBe(24);
    const counted = await burst('member-capped', { userId: 'u_capped', inputTokens: CALL_USAGE.inputTokens, maxOutputTokens: CALL_USAGE.outputTokens });
    expect(counted.holds.length).toBe(3);
    expect(await used('member-capped', 'u_capped')).toBeLessThanOrEqual(LIMIT);
    expect((await world.admin.must('reconcile', 'member-capped')).problems).toEqual([]);
  });
});
