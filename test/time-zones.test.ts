/**
 * An account's days in its own time zone, far from UTC and off the hour: the limit counts a
 * call in the zone's day, refuses until that day's end, and usage by day names the same day; a
 * change of zone gives neither a fresh day nor a second allowance for the month.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, call, fundedAccounts, mustCall, mustRefuse } from './support/spend.ts';

const CENT = 10_000; // µ$
const CENT_OF_INPUT = 5_000; // input tokens of test-model worth one cent of usage value

for (const engine of ENGINES) {
  describe(`an account's time zone on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('refuses an offset for a time zone: the database would read it with the sign reversed', async () => {
      const { billing } = t;
      await fundedAccounts(billing, ['acme'], 100 * CENT);
      for (const offset of ['+05:45', '-03:30', '+14:00']) {
        await expect(billing.upsertAccount({ id: 'acme', kind: 'team', timeZone: offset })).rejects.toMatchObject({
          code: 'invalid_input', message: expect.stringMatching(/is an offset, not a named zone/),
        });
      }
      expect((await billing.getAccount('acme')).timeZone).toBe('UTC');
    });

    for (const [timeZone, callAt, day, resetsAt] of [
      ['Asia/Kathmandu', '2026-03-10T18:20:00Z', '2026-03-11', '2026-03-11T18:15:00.000Z'], // +05:45: already tomorrow
      ['Pacific/Kiritimati', '2026-03-10T12:30:00Z', '2026-03-11', '2026-03-11T10:00:00.000Z'], // +14
      ['America/St_Johns', '2026-03-11T02:00:00Z', '2026-03-10', '2026-03-11T02:30:00.000Z'], // -02:30 (daylight time from Mar 8)
    ] as const) {
      it(`counts a call in ${timeZone}'s day, refuses until its end, and shows it on that day`, async () => {
        const { billing, clock } = t;
        await fundedAccounts(billing, ['acme'], 100 * CENT);
        await billing.upsertAccount({ id: 'acme', kind: 'team', timeZone });
        await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 10 * CENT }] });
        clock.set(callAt);
        await mustCall(billing, 'acme', 10 * CENT_OF_INPUT);
        const refusal = await mustRefuse(billing, 'acme', CENT_OF_INPUT);
        expect(refusal).toMatchObject({ code: 'daily_limit' });
        expect(refusal.resetsAt?.toISOString()).toBe(resetsAt);
        const byDay = await billing.usage('acme', { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z'), groupBy: 'day' });
        expect(byDay.rows.map((r) => [r.key, r.valueMicros])).toEqual([[day, 10 * CENT]]);
        clock.set(resetsAt);
        await mustCall(billing, 'acme', CENT_OF_INPUT);
      });
    }
  });
}

for (const engine of ENGINES) {
  describe(`a change of time zone on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('moving west, where today began later, does not give the account a fresh day', async () => {
      const { billing, clock } = t;
      await fundedAccounts(billing, ['acme'], 100 * CENT);
      await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 10 * CENT }] });
      clock.set('2026-03-10T12:00:00Z');
      let spent = 0;
      // Each zone's day began later than the last one's, and before this morning's calls.
      for (const timeZone of ['UTC', 'America/St_Johns', 'America/New_York', 'Pacific/Honolulu']) {
        await billing.upsertAccount({ id: 'acme', kind: 'team', timeZone });
        for (let i = 0; i < 20; i++) {
          const { auth } = await call(billing, 'acme', CENT_OF_INPUT);
          if (!auth.ok) {
            expect(auth.code).toBe('daily_limit');
            break;
          }
          spent += CENT;
          clock.advance(1000);
        }
      }
      expect(spent).toBe(10 * CENT);
      expect((await billing.balance('acme')).limits[0]).toMatchObject({ window: 'day', used: 10 * CENT });
    });

    it("a change of zone keeps the month's allowance: it opens once a month, not once for each zone", async () => {
      const { billing, clock, sql } = t;
      await billing.admin.applyPreset('credit-packs'); // Pay as you go includes $0.10 a month
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'roamer', kind: 'personal' });
      clock.set('2026-03-10T12:00:00Z');
      let spent: number = (await mustCall(billing, 'roamer', CENT_OF_INPUT)).valueMicros; // opens March's allowance
      for (const timeZone of ['Europe/Paris', 'America/Los_Angeles', 'Asia/Tokyo', 'Pacific/Kiritimati']) {
        await billing.upsertAccount({ id: 'roamer', kind: 'personal', timeZone });
        spent += (await mustCall(billing, 'roamer', CENT_OF_INPUT)).valueMicros;
      }
      const allowances = () => sql.query<{ amount: number; expires: Date }>(`SELECT amount_micros::int AS amount, expires_at AS expires FROM buckets WHERE account_id = 'roamer' AND source = 'allowance' ORDER BY id`);
      // One, ending with March in Kiritimati (+14).
      expect(await allowances()).toEqual([{ amount: 100_000, expires: new Date('2026-03-31T10:00:00Z') }]);
      expect((await billing.balance('roamer')).availableMicros).toBe(100_000 - spent);
      // The month's usage counts on toward its limit in the new zone.
      await billing.admin.updatePlan('payg', { limits: [{ window: 'month', unit: 'usd', amount: 50 * CENT }] });
      await billing.upsertAccount({ id: 'roamer', kind: 'personal', timeZone: 'Pacific/Honolulu' }); // -10: March began 24 hours later there
      expect((await billing.balance('roamer')).limits).toMatchObject([{ window: 'month', used: spent }]);
      // And a capped member's month, on a team.
      await billing.upsertAccount({ id: 'crew', kind: 'team' });
      await billing.admin.setMemberLimits('crew', 'u_1', [{ window: 'month', unit: 'usd', amount: 3 * CENT }]);
      const { valueMicros: used } = await billing.record('crew', { model: 'test-model', provider: 'test', usage: { inputTokens: CENT_OF_INPUT, outputTokens: 0 }, userId: 'u_1' }, { idempotencyKey: 'crew-1' });
      await billing.upsertAccount({ id: 'crew', kind: 'team', timeZone: 'Pacific/Honolulu' });
      expect((await billing.balance('crew')).members).toMatchObject([{ userId: 'u_1', limits: [{ window: 'month', used }] }]);
      await billing.upsertAccount({ id: 'roamer', kind: 'personal', timeZone: 'Pacific/Kiritimati' });
      // April there: its own allowance, once.
      clock.set('2026-03-31T11:00:00Z');
      await mustCall(billing, 'roamer', CENT_OF_INPUT);
      expect((await allowances()).map((b) => b.expires)).toEqual([new Date('2026-03-31T10:00:00Z'), new Date('2026-04-30T10:00:00Z')]);
      expect((await billing.reconcile('roamer')).problems).toEqual([]);
    });
  });
}
