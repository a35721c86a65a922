/**
 * The pricing modes as their users describe them. Test-model costs $1 per million input
 * tokens; at the default 50% margin each million input tokens is $2 of usage value.
 */
import { describe, expect, it } from 'vitest';
import { DAY, ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, mustCall, mustRefuse } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`pricing modes on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('"Pay $20 a month for usage, and stop when the month\'s $20 is used"', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('usage-subscription');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'ana', kind: 'personal' });
      await billing.subscribe('ana', 'pro');
      await mustCall(billing, 'ana', 9_000_000); // $18 of value
      const refusal = await mustRefuse(billing, 'ana', 1_500_000); // $3 more would pass $20
      expect(refusal.code).toBe('monthly_limit');
      expect(refusal.resetsAt?.toISOString()).toBe('2026-04-10T12:00:00.000Z');
      await mustCall(billing, 'ana', 1_000_000); // the last $2 fit exactly
      expect((await billing.balance('ana')).availableMicros).toBe(0);
      clock.advance(31 * DAY); // the next paid period: a new $20
      await mustCall(billing, 'ana', 5_000_000);
      expect((await billing.balance('ana')).availableMicros).toBe(10_000_000);
      expect((await billing.reconcile('ana')).ok).toBe(true);
    });

    it('"Pay $10 for 1,000 credits, and stop when they run out"', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'bo', kind: 'personal' });
      expect((await billing.admin.getSettings()).displayUnit).toBe('credits');
      // A new account has only the $0.10 welcome allowance.
      expect((await mustRefuse(billing, 'bo', 100_000)).remedy).toEqual({ kind: 'buy_pack' });
      await billing.purchase('bo', 'credits-10');
      expect((await billing.balance('bo')).availableMicros).toBe(10_100_000);
      await mustCall(billing, 'bo', 5_000_000); // $10 of value: the allowance first, then the pack
      const refusal = await mustRefuse(billing, 'bo', 100_000);
      expect(refusal.code).toBe('insufficient_balance');
      expect(refusal.message).toMatch(/Buy a credit pack/);
      await billing.purchase('bo', 'credits-10');
      await mustCall(billing, 'bo', 100_000);
      expect((await billing.reconcile('bo')).ok).toBe(true);
    });

    it('"Pay $20 a month, and $10 for extra credits once the month\'s usage is gone"', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'cy', kind: 'team' });
      await expect(billing.purchase('cy', 'extra-10')).rejects.toMatchObject({ code: 'pack_requires_plan' });
      await billing.subscribe('cy', 'plus');
      await billing.purchase('cy', 'extra-10');
      const first = await mustCall(billing, 'cy', 10_000_000); // exactly the $20 allowance
      expect(first.valueMicros).toBe(20_000_000);
      const b = await billing.balance('cy');
      expect(b.buckets.map((x) => [x.source, x.remainingMicros])).toEqual([['pack', 10_000_000]]);
      await mustCall(billing, 'cy', 5_000_000); // the pack pays for the rest
      expect((await mustRefuse(billing, 'cy', 1)).remedy).toEqual({ kind: 'buy_pack' });
      expect((await billing.reconcile('cy')).ok).toBe(true);
    });

    it('"$20, $100 or $200 a month": upgrading opens the bigger allowance at once', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('tiers');
      await addTestModel(billing);
      const plans = await billing.admin.listPlans({ status: 'active' });
      expect(plans.map((p) => [p.slug, p.priceCents])).toEqual([['free', 0], ['starter', 2000], ['pro', 10000], ['max', 20000]]);
      await billing.upsertAccount({ id: 'dee', kind: 'team' });
      await billing.subscribe('dee', 'starter');
      await mustCall(billing, 'dee', 10_000_000);
      const refusal = await mustRefuse(billing, 'dee', 1000);
      expect(refusal).toMatchObject({ code: 'insufficient_balance', remedy: { kind: 'upgrade' } });
      await billing.subscribe('dee', 'pro');
      expect((await billing.balance('dee')).availableMicros).toBe(100_000_000);
      await billing.subscribe('dee', 'max');
      expect((await billing.balance('dee')).availableMicros).toBe(200_000_000); // the old period's allowance lapsed
      expect((await billing.reconcile('dee')).ok).toBe(true);
    });

    it('"Try it free: cheap models only, 10 cents a day, 50 cents a month"', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('tiers');
      await billing.upsertAccount({ id: 'eve', kind: 'personal', timeZone: 'America/New_York' });
      const expensive = await billing.authorize('eve', { model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 });
      expect(expensive).toMatchObject({ ok: false, code: 'model_not_allowed', remedy: { kind: 'upgrade' } });
      // gpt-4o-mini: $0.15/M in, $0.60/M out; at 50% margin 100k input + 50k output is $0.09 of value.
      const call = async () => billing.authorize('eve', { model: 'gpt-4o-mini', inputTokens: 100_000, maxOutputTokens: 50_000 });
      const first = await call();
      if (!first.ok) throw new Error(first.message);
      await billing.settle(first.hold.id, { inputTokens: 100_000, outputTokens: 50_000 }, { idempotencyKey: 'eve-1' });
      const second = await call();
      expect(second).toMatchObject({ ok: false, code: 'daily_limit' });
      if (second.ok) return;
      // 12:00 UTC is 08:00 in New York: the day resets at the next New York midnight.
      expect(second.resetsAt?.toISOString()).toBe('2026-03-11T04:00:00.000Z');
      expect(second.remedy).toEqual({ kind: 'wait_until', at: new Date('2026-03-11T04:00:00.000Z') });
      for (let day = 1; day <= 4; day++) {
        clock.advance(DAY);
        const next = await call();
        if (!next.ok) throw new Error(`day ${day}: ${next.message}`);
        await billing.settle(next.hold.id, { inputTokens: 100_000, outputTokens: 50_000 }, { idempotencyKey: `eve-day-${day}` });
      }
      clock.advance(DAY); // $0.45 used: $0.09 more would pass the $0.50 month
      expect(await call()).toMatchObject({ ok: false, code: 'monthly_limit', resetsAt: new Date('2026-04-01T04:00:00.000Z') });
      clock.set('2026-04-01T04:00:00Z'); // April starts at New York midnight
      expect((await call()).ok).toBe(true);
    });

    it('50% margin and a $10 surcharge: a $20 plan includes $10 of value, which buys $5 of provider cost', async () => {
      const { billing } = t;
      await billing.admin.createPlan({ slug: 'basic', name: 'Basic', priceCents: 2000, surchargeCents: 1000, overage: 'block' });
      await billing.admin.createPlan({ slug: 'free', name: 'Free', priceCents: 0 });
      await billing.admin.updateSettings({ defaultPlan: 'free', marginBps: 5000 }); // the default plan is free
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'flo', kind: 'personal' });
      await billing.subscribe('flo', 'basic');
      expect((await billing.balance('flo')).availableMicros).toBe(10_000_000);
      const charge = await mustCall(billing, 'flo', 5_000_000); // $5 of provider cost
      expect(charge).toMatchObject({ costMicros: 5_000_000, valueMicros: 10_000_000, debtMicros: 0 });
      expect((await mustRefuse(billing, 'flo', 1)).code).toBe('insufficient_balance');
    });

    it('switching modes keeps old plans for their subscribers and never touches purchased credit', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'gus', kind: 'personal' });
      await billing.purchase('gus', 'credits-10');
      await billing.admin.applyPreset('usage-subscription');
      expect((await billing.admin.getPlan('payg')).status).toBe('legacy');
      expect((await billing.admin.getPack('credits-10')).status).toBe('archived');
      await expect(billing.purchase('gus', 'credits-10')).rejects.toMatchObject({ code: 'pack_not_found' });
      await expect(billing.subscribe('gus', 'payg')).rejects.toMatchObject({ code: 'plan_not_available' });
      // gus stays on pay-as-you-go, and his credit still pays.
      const b = await billing.balance('gus');
      expect(b.plan.slug).toBe('payg');
      expect(b.availableMicros).toBe(10_100_000);
      await mustCall(billing, 'gus', 1_000_000);
      // A new account gets the new default.
      await billing.upsertAccount({ id: 'hal', kind: 'personal' });
      expect((await billing.balance('hal')).plan.slug).toBe('free');
    });
  });
}
