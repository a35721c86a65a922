/**
 * A team's caps on one member: weighed in the same decision as the team's balance and limits,
 * so concurrent calls of one member stop at the cap, in one process or several; other members
 * go on. The counters follow charges, reset with the account's day and period, count usage
 * from before the cap was set, and `balance` and `usage` show them, each member with the name
 * the caps were last set with. A team that caps members cannot be made personal until they are lifted.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, createBilling, type Billing } from '../src/index.ts';
import { DAY, ENGINES, useBilling } from './support/harness.ts';

const MODEL = 'member-model';
const PROVIDER = 'test';
/** $1/M input, $2/M output at the default 50% margin: 2 µ$ an input token, 4 an output token. */
const CALL = { model: MODEL, inputTokens: 1_000, maxOutputTokens: 1_000 }; // a hold of 6,000 µ$ and 2,000 tokens
const HOLD_MICROS = 6_000;

for (const engine of ENGINES) {
  describe(`member caps on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function team(billing: Billing = t.billing) {
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.setModelPrice({ provider: PROVIDER, model: MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
      await billing.upsertAccount({ id: 'team', kind: 'team', name: 'Acme', timeZone: 'UTC' });
      await billing.credit('team', { source: 'bonus', amountMicros: 100_000_000, reference: 'seed' }); // $100: plenty
      return billing;
    }

    it('16 concurrent calls of one member stop at the cap; other members go on', async () => {
      const billing = await team();
      await billing.admin.setMemberLimits('team', 'u_capped', [{ window: 'day', unit: 'usd', amount: 5 * HOLD_MICROS }]);
      const results = await Promise.all(Array.from({ length: 16 }, () => billing.authorize('team', { ...CALL, userId: 'u_capped' })));
      const passed = results.filter((r) => r.ok);
      expect(passed).toHaveLength(5);
      for (const r of results.filter((r) => !r.ok)) {
        expect(r).toMatchObject({ ok: false, code: 'member_limit', remedy: { kind: 'wait_until', at: new Date('2026-03-11T00:00:00Z') }, resetsAt: new Date('2026-03-11T00:00:00Z') });
        if (!r.ok) expect(r.message).toBe('This member has reached the daily cap of 3 credits this account set for them. More becomes available at 00:00 UTC on Mar 11, 2026.');
      }
      // Other members, and calls that name no user, are not capped.
      const others = await Promise.all(Array.from({ length: 16 }, (_, i) => billing.authorize('team', { ...CALL, ...(i % 4 === 0 ? {} : { userId: `u_${i}` }) })));
      expect(others.every((r) => r.ok)).toBe(true);

      const balance = await billing.balance('team');
      expect(balance.members).toEqual([
        { userId: 'u_capped', name: null, limits: [{ window: 'day', unit: 'usd', amount: 30_000, used: 0, held: 5 * HOLD_MICROS, resetsAt: new Date('2026-03-11T00:00:00Z') }] },
      ]);
      expect(balance.heldMicros).toBe(21 * HOLD_MICROS);
    });

    it('two processes: calls of one member across both stop at the cap together', async () => {
      const billing = await team();
      const other = await createBilling({ database: t.sql, clock: t.clock.read });
      try {
        // Each process has served the account: both remember it.
        expect((await billing.authorize('team', { ...CALL, userId: 'u_warm' })).ok).toBe(true);
        expect((await other.authorize('team', { ...CALL, userId: 'u_warm' })).ok).toBe(true);
        // The cap is set by a third party (an admin process): both must honour it at once.
        const admin = await createBilling({ database: t.sql, clock: t.clock.read });
        await admin.admin.setMemberLimits('team', 'u_capped', [{ window: 'day', unit: 'tokens', amount: 6 * 2_000 }]);
        await admin.close();
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? billing : other).authorize('team', { ...CALL, userId: 'u_capped' })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(6);
        expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.code === 'member_limit')).toBe(true);
        expect((await other.authorize('team', { ...CALL, userId: 'u_other' })).ok).toBe(true);
      } finally {
        await other.close();
      }
    });

    it('charges count against the cap (settle and record), and the count resets with the day', async () => {
      const billing = await team();
      const termsVersion = async () => (await t.sql.query<{ v: number }>("SELECT terms_version AS v FROM accounts WHERE id = 'team'"))[0]!.v;
      const before = await termsVersion();
      await billing.admin.setMemberLimits('team', 'u_1', [
        { window: 'day', unit: 'usd', amount: 20_000 },
        { window: 'month', unit: 'tokens', amount: 1_000_000 },
      ]);
      // A cap is part of the account's terms: a decision read before it is not written.
      expect(await termsVersion()).toBe(before + 1);
      const auth = await billing.authorize('team', { ...CALL, userId: 'u_1' });
      if (!auth.ok) throw new Error(auth.message);
      await billing.settle(auth.hold.id, { inputTokens: 1_000, outputTokens: 500 }, { idempotencyKey: 'k1' }); // 4,000 µ$
      await billing.record('team', { model: MODEL, usage: { inputTokens: 3_000, outputTokens: 1_000 }, userId: 'u_1' }, { idempotencyKey: 'k2' }); // 10,000 µ$
      await billing.record('team', { model: MODEL, usage: { inputTokens: 3_000, outputTokens: 1_000 }, userId: 'u_2' }, { idempotencyKey: 'k3' });
      expect(await termsVersion()).toBe(before + 1); // the counters a charge writes are not terms
      expect((await billing.reconcile('team')).ok).toBe(true);
      const [member] = (await billing.balance('team')).members;
      expect(member!.limits.map((l) => [l.used, l.held])).toEqual([[14_000, 0], [5_500, 0]]);

      // 14,000 used + 6,000 = 20,000: the last call that fits; then no more today.
      expect((await billing.authorize('team', { ...CALL, userId: 'u_1' })).ok).toBe(true);
      expect(await billing.authorize('team', { ...CALL, userId: 'u_1' })).toMatchObject({ ok: false, code: 'member_limit' });

      t.clock.advance(DAY);
      expect((await billing.authorize('team', { ...CALL, userId: 'u_1' })).ok).toBe(true);
      const [tomorrow] = (await billing.balance('team')).members;
      expect(tomorrow!.limits.map((l) => l.used)).toEqual([0, 5_500]); // the month goes on
    });

    it('a cap set later counts the usage of the day and period so far; removing it lifts it', async () => {
      const billing = await team();
      for (const [i, userId] of ['u_1', 'u_1', 'u_2'].entries()) {
        await billing.record('team', { model: MODEL, usage: { inputTokens: 2_500, outputTokens: 0 }, userId }, { idempotencyKey: `r${i}` }); // 5,000 µ$
      }
      t.clock.advance(DAY); // yesterday's usage counts in the month only
      await billing.record('team', { model: MODEL, usage: { inputTokens: 2_500, outputTokens: 0 }, userId: 'u_1' }, { idempotencyKey: 'r3' });
      await billing.admin.setMemberLimits('team', 'u_1', [
        { window: 'day', unit: 'usd', amount: 10_000 },
        { window: 'month', unit: 'usd', amount: 100_000 },
      ]);
      expect((await billing.balance('team')).members[0]!.limits.map((l) => l.used)).toEqual([5_000, 15_000]);
      expect(await billing.authorize('team', { ...CALL, userId: 'u_1' })).toMatchObject({ ok: false, code: 'member_limit' });
      // Raising it keeps the count; removing it removes the member from the caps.
      await billing.admin.setMemberLimits('team', 'u_1', [{ window: 'day', unit: 'usd', amount: 11_000 }]);
      expect((await billing.balance('team')).members[0]!.limits.map((l) => l.used)).toEqual([5_000]);
      expect((await billing.authorize('team', { ...CALL, userId: 'u_1' })).ok).toBe(true);
      await billing.admin.setMemberLimits('team', 'u_1', []);
      expect((await billing.balance('team')).members).toEqual([]);
      expect((await billing.authorize('team', { ...CALL, userId: 'u_1' })).ok).toBe(true);
    });

    it('keeps a member\'s name with their caps: stored trimmed, kept when left out, replaced when given, refused when bad', async () => {
      const billing = await team();
      const day = [{ window: 'day', unit: 'usd', amount: 1_000_000 }] as const;
      const names = async () => (await billing.balance('team')).members.map((m) => [m.userId, m.name]);
      expect(await billing.admin.setMemberLimits('team', 'u_1', [...day], { name: '  Ada Lovelace ' })).toEqual({ accountId: 'team', userId: 'u_1', name: 'Ada Lovelace', limits: [...day] });
      await billing.admin.setMemberLimits('team', 'u_2', [...day]);
      expect((await names()).sort()).toEqual([['u_1', 'Ada Lovelace'], ['u_2', null]]);
      // Left out, the name stays; given, it replaces the one stored.
      expect(await billing.admin.setMemberLimits('team', 'u_1', [{ window: 'month', unit: 'tokens', amount: 5_000 }])).toMatchObject({ name: 'Ada Lovelace' });
      await billing.admin.setMemberLimits('team', 'u_2', [...day], { name: 'Zoë 🙂' });
      await billing.admin.setMemberLimits('team', 'u_1', [...day], { name: 'Ada King' });
      expect((await names()).sort()).toEqual([['u_1', 'Ada King'], ['u_2', 'Zoë 🙂']]);

      for (const [name, said] of [
        ['   ', 'name: must not be empty'],
        ['x'.repeat(101), 'name: must be at most 100 characters'],
        ['Ada\nLovelace', 'name: must not contain control characters'],
        ['Ada\u0000', 'name: must not contain the NUL character'],
        ['Ada\ud83d', 'name: must be well-formed Unicode'],
        [42, 'name: must be a string'],
      ] as const) {
        const refused = billing.admin.setMemberLimits('team', 'u_1', [...day], { name } as never);
        await expect(refused, String(name)).rejects.toBeInstanceOf(BillingError);
        await expect(refused, String(name)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining(`Invalid member options: ${said}`) });
      }
      await expect(billing.admin.setMemberLimits('team', 'u_1', [...day], { nickname: 'Ada' } as never)).rejects.toMatchObject({ code: 'invalid_input' });
      expect((await names()).sort()).toEqual([['u_1', 'Ada King'], ['u_2', 'Zoë 🙂']]);
      // Removing the caps removes the name with them: capped again without one, the member has none.
      expect(await billing.admin.setMemberLimits('team', 'u_1', [])).toMatchObject({ name: null });
      await billing.admin.setMemberLimits('team', 'u_1', [...day]);
      expect((await names()).sort()).toEqual([['u_1', null], ['u_2', 'Zoë 🙂']]);
    });

    it('personal accounts have no members; bad caps are refused; usage groups by user', async () => {
      const billing = await team();
      await billing.upsertAccount({ id: 'solo', kind: 'personal' });
      await expect(billing.admin.setMemberLimits('solo', 'u_1', [{ window: 'day', unit: 'usd', amount: 1 }])).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.admin.setMemberLimits('team', 'u_1', [{ window: 'week', unit: 'usd', amount: 1 }] as never)).rejects.toBeInstanceOf(BillingError);
      await expect(billing.admin.setMemberLimits('nobody', 'u_1', [])).rejects.toMatchObject({ code: 'account_not_found' });
      // A team that caps members stays a team until the caps are lifted: they would go on refusing on a personal account.
      await billing.admin.setMemberLimits('team', 'u_2', [{ window: 'day', unit: 'usd', amount: 0 }]);
      await expect(billing.upsertAccount({ id: 'team', kind: 'personal' })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/^Account "team" caps a member: lift the caps first/) });
      expect((await billing.getAccount('team')).kind).toBe('team');
      await billing.admin.setMemberLimits('team', 'u_2', []);
      expect((await billing.upsertAccount({ id: 'team', kind: 'personal' })).kind).toBe('personal');
      await billing.upsertAccount({ id: 'team', kind: 'team' });

      await billing.record('team', { model: MODEL, usage: { inputTokens: 100, outputTokens: 10 }, userId: 'u_1' }, { idempotencyKey: 'a' });
      await billing.record('team', { model: MODEL, usage: { inputTokens: 200, outputTokens: 20 }, userId: 'u_1' }, { idempotencyKey: 'b' });
      await billing.record('team', { model: MODEL, usage: { inputTokens: 300, outputTokens: 30 } }, { idempotencyKey: 'c' });
      const { rows, total } = await billing.usage('team', { from: '2026-03-01', to: '2026-04-01', groupBy: 'user' });
      expect(rows.map((r) => [r.key, r.events, r.inputTokens])).toEqual([['', 1, 300], ['u_1', 2, 300]]);
      expect(total.events).toBe(3);
    });
  });
}
