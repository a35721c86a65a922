/**
 * The admin panel's reads: the account list agrees with balance(), one account's events and
 * ledger, analytics that add up to the usage events, the price list with its sources, and a
 * preset's preview that says exactly what applying it then does.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, PRESETS, type Billing } from '../src/index.ts';
import { PRICING_MODES } from '../src/core/settings.ts';
import { planToInput } from '../src/core/plan.ts';
import { packToInput } from '../src/core/pack.ts';
import { patchOf } from '../src/core/presets.ts';
import { ENGINES, DAY, useBilling } from './support/harness.ts';
import { addTestModel } from './support/spend.ts';

let key = 0;
const record = (billing: Billing, accountId: string, inputTokens: number, outputTokens = 0, model = 'test-model') =>
  billing.record(accountId, { model, provider: model === 'test-model' ? 'test' : undefined, usage: { inputTokens, outputTokens } }, { idempotencyKey: `r-${++key}` });

for (const engine of ENGINES) {
  describe(`admin reads on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('lists accounts with their plan, what balance() says they have, and this month’s usage', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(billing);
      for (const id of ['acme', 'globex', 'initech_1', 'initech%2']) await billing.upsertAccount({ id, kind: 'team', name: id === 'globex' ? 'Globex Corp' : '' });
      await billing.subscribe('acme', 'plus');
      await billing.purchase('acme', 'extra-10');
      await billing.credit('globex', { source: 'bonus', amountMicros: 2_000_000, reference: 'welcome' });
      clock.set('2026-02-20T12:00:00Z'); // last month: not this month's usage
      await record(billing, 'acme', 1_000_000);
      clock.set('2026-03-10T12:00:00Z');
      const march = await record(billing, 'acme', 2_000_000, 500_000);
      await billing.refund(march.usageEventId, { amountMicros: 1_000_000 });
      const hold = await billing.authorize('globex', { model: 'gpt-4o-mini', inputTokens: 100_000 }); // Free allows cheap models only
      expect(hold.ok).toBe(true);
      await record(billing, 'initech_1', 10_000_000); // beyond the free allowance: debt

      const list = await billing.admin.listAccounts();
      expect(list.total).toBe(4);
      expect(list.month).toEqual({ start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-04-01T00:00:00Z') });
      expect(list.rows.map((r) => r.id)).toEqual(['acme', 'globex', 'initech%2', 'initech_1']);
      for (const row of list.rows) {
        const balance = await billing.balance(row.id);
        expect(row.availableMicros, row.id).toBe(balance.availableMicros);
        expect(row.debtMicros, row.id).toBe(balance.debtMicros);
        expect(row.plan.slug, row.id).toBe(balance.plan.slug);
      }
      const acme = list.rows[0]!;
      expect(acme.plan).toEqual({ slug: 'plus', name: 'Plus', priceCents: 2000 });
      // 2M input at $1/M and 0.5M output at $2/M: $3 of cost, $6 of value at 50%, less the $1
      // refunded, as the money view and the billing page count a month's usage.
      expect(acme.month).toEqual({ events: 1, valueMicros: 5_000_000, costMicros: 3_000_000 });
      const usage = (await billing.usage('acme', { from: list.month.start, to: list.month.end })).total;
      expect(acme.month.valueMicros).toBe(usage.valueMicros - usage.refundedMicros);
      expect(list.rows[3]!.debtMicros).toBeGreaterThan(0);

      // Search by id or name, a LIKE's wildcards taken literally, and pages.
      expect((await billing.admin.listAccounts({ search: 'globex corp' })).rows.map((r) => r.id)).toEqual(['globex']);
      expect((await billing.admin.listAccounts({ search: '%' })).rows.map((r) => r.id)).toEqual(['initech%2']);
      expect((await billing.admin.listAccounts({ search: '_' })).rows.map((r) => r.id)).toEqual(['initech_1']);
      const page = await billing.admin.listAccounts({ limit: 2, offset: 2 });
      expect(page).toMatchObject({ total: 4, rows: [{ id: 'initech%2' }, { id: 'initech_1' }] });
      expect(await billing.admin.listAccounts({ search: 'nobody' })).toMatchObject({ total: 0, rows: [] });
      await expect(billing.admin.listAccounts({ limit: 0 })).rejects.toThrow(/limit: must be at least 1/);
    });

    it('shows an account’s latest usage events and ledger entries, newest first', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('credit-packs');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome' });
      await record(billing, 'acme', 1_000_000);
      clock.advance(60_000);
      const second = await record(billing, 'acme', 500_000, 100_000);
      await billing.refund(second.usageEventId, { amountMicros: 100_000 });

      const { usageEvents, ledger } = await billing.admin.accountActivity('acme');
      expect(usageEvents.map((e) => e.id)).toEqual([second.usageEventId, second.usageEventId - 1]);
      expect(usageEvents[0]).toMatchObject({ model: 'test-model', provider: 'test', inputTokens: 500_000, outputTokens: 100_000, costMicros: 700_000, valueMicros: 1_400_000, refundedMicros: 100_000 });
      expect(ledger[0]).toMatchObject({ kind: 'refund', amountMicros: 100_000, usageEventId: second.usageEventId });
      expect(ledger.map((l) => l.kind)).toContain('grant');
      expect(ledger.find((l) => l.kind === 'grant' && l.bucketSource === 'bonus')).toMatchObject({ amountMicros: 5_000_000 });
      expect((await billing.admin.accountActivity('acme', { limit: 1 })).usageEvents).toHaveLength(1);
      await expect(billing.admin.accountActivity('nobody')).rejects.toMatchObject({ code: 'account_not_found' });
    });

    it('adds up usage value charged, usage refunds, provider cost and margin by day and by model', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 0 });
      await addTestModel(billing);
      for (const id of ['a', 'b']) {
        await billing.upsertAccount({ id, kind: 'team' });
        await billing.credit(id, { source: 'bonus', amountMicros: 100_000_000, reference: 'gift' });
      }
      clock.set('2026-03-01T10:00:00Z');
      await record(billing, 'a', 1_000_000); // $1 cost, $2 value
      await record(billing, 'b', 0, 1_000_000); // $2 cost, $4 value
      clock.set('2026-03-03T23:30:00Z');
      const late = await record(billing, 'a', 1_000, 1_000, 'gpt-4o-mini');
      await billing.refund(late.usageEventId);
      clock.set('2026-03-05T00:00:00Z'); // outside the range
      await record(billing, 'a', 1_000_000);

      const result = await billing.admin.analytics({ from: '2026-03-01', to: '2026-03-05' });
      expect(result.days.map((d) => d.day)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04']);
      expect(result.days[0]!.usage).toMatchObject({ events: 2, costMicros: 3_000_000, chargedMicros: 6_000_000, refundedMicros: 0, valueMicros: 6_000_000, marginMicros: 3_000_000 });
      expect(result.days[1]!.usage).toMatchObject({ events: 0, costMicros: 0, valueMicros: 0, marginMicros: 0 });
      const mini = result.days[2]!.usage;
      expect(mini).toMatchObject({ events: 1, inputTokens: 1_000, outputTokens: 1_000, valueMicros: 0 });
      expect(mini.refundedMicros).toBe(mini.chargedMicros);
      expect(mini.marginMicros).toBe(-mini.costMicros);
      expect(result.models.map((m) => m.model)).toEqual(['test-model', 'gpt-4o-mini']);
      expect(result.models[0]).toMatchObject({ events: 2, costMicros: 3_000_000, valueMicros: 6_000_000 });
      for (const field of ['events', 'inputTokens', 'outputTokens', 'costMicros', 'chargedMicros', 'refundedMicros', 'valueMicros', 'marginMicros'] as const) {
        const byDay = result.days.reduce((s, d) => s + d.usage[field], 0);
        expect(result.total.usage[field], field).toBe(byDay);
        expect(result.models.reduce((s, d) => s + d[field], 0), field).toBe(byDay);
      }
      await expect(billing.admin.analytics({ from: '2026-03-05', to: '2026-03-01' })).rejects.toThrow(/from must be before to/);
      await expect(billing.admin.analytics({ from: '2020-01-01', to: '2026-03-01' })).rejects.toThrow(/at most 1000 days/);
      expect((await billing.admin.analytics({ from: new Date(clock.now.getTime() - 2 * DAY), to: clock.now })).days).toHaveLength(2);
    });

    it('lists the price book: bundled prices, overrides from their date, and searches', async () => {
      const { billing, clock } = t;
      const all = await billing.admin.priceList();
      expect(all.total).toBeGreaterThan(1_000);
      expect(all.rows).toHaveLength(50);
      const mini = await billing.admin.priceList({ search: 'gpt-4o-mini' });
      expect(mini.rows[0]).toMatchObject({ provider: expect.any(String), model: 'gpt-4o-mini', price: { source: 'bundled', rates: { input: '0.15', output: '0.6' } } });
      const sonnets = (await billing.admin.priceList({ search: 'Anthropic  sonnet', limit: 200 })).rows;
      expect(sonnets.some((r) => r.provider === 'anthropic')).toBe(true);
      for (const r of sonnets) expect(`${r.provider} ${r.model} ${r.name}`.toLowerCase()).toMatch(/anthropic.*sonnet|sonnet.*anthropic/);

      await billing.admin.setModelPrice({ model: 'gpt-4o-mini', effectiveFrom: '2026-03-01', rates: { input: '0.1', output: '0.5' } });
      await billing.admin.setModelPrice({ model: 'gpt-4o-mini', effectiveFrom: '2026-04-01', rates: { input: '0.2', output: '0.8' } });
      await billing.admin.setModelPrice({ provider: 'acme', model: 'house-model', effectiveFrom: '2026-01-01', rates: { input: '3', output: '9' } });
      const after = await billing.admin.priceList({ search: 'gpt-4o-mini' });
      const openai = after.rows.find((r) => r.model === 'gpt-4o-mini' && r.provider === 'openai')!;
      expect(openai.price).toMatchObject({ source: 'override', effectiveFrom: '2026-03-01T00:00:00.000Z', rates: { input: '0.1' } });
      expect(openai.upcoming.map((o) => o.effectiveFrom)).toEqual([new Date('2026-04-01T00:00:00Z')]);
      expect(after.overrides.map((o) => o.model)).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'house-model']);
      const house = await billing.admin.priceList({ search: 'house' });
      expect(house.rows).toEqual([expect.objectContaining({ provider: 'acme', model: 'house-model', name: null, price: expect.objectContaining({ source: 'override' }) })]);
      expect(await billing.admin.priceOf({ model: 'house-model' })).toMatchObject({ rates: { input: '3' } });
      expect(await billing.admin.priceOf({ model: 'no-such-model' })).toBeUndefined();
      clock.set('2026-04-02T00:00:00Z');
      expect(await billing.admin.priceOf({ model: 'gpt-4o-mini' })).toMatchObject({ rates: { input: '0.2' } });
    });

    it('previews what each preset will create, update, keep for subscribers, archive or leave alone, as applying it then does', async () => {
      const { billing } = t;
      const first = await billing.admin.previewPreset('subscription-plus-packs');
      expect(first.plans.create.map((p) => p.slug)).toEqual(['free', 'plus']);
      expect(first.plans.create[1]).toMatchObject({ priceCents: 2000, includedMicros: 20_000_000 });
      expect(first.packs.create.map((p) => p.slug)).toEqual(['extra-10']);
      await billing.admin.applyPreset('subscription-plus-packs');
      expect(await billing.admin.previewPreset('subscription-plus-packs')).toMatchObject({
        plans: { create: [], update: [], unchanged: [{ slug: 'free' }, { slug: 'plus' }], legacy: [], archive: [], untouched: [] },
        packs: { create: [], update: [], unchanged: [{ slug: 'extra-10' }], archive: [] },
      });
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.subscribe('acme', 'plus');
      await billing.admin.updatePlan('free', { name: 'Starter free' });

      // Every mode, applied from what the one before left: the preview says what then happens.
      for (const mode of [...PRICING_MODES, ...PRICING_MODES]) {
        const preview = await billing.admin.previewPreset(mode);
        const before = new Map((await billing.admin.listPlans()).map((p) => [p.slug, p]));
        const packsBefore = new Map((await billing.admin.listPacks()).map((p) => [p.slug, p]));
        await billing.admin.applyPreset(mode);
        const plans = new Map((await billing.admin.listPlans()).map((p) => [p.slug, p]));
        const packs = new Map((await billing.admin.listPacks()).map((p) => [p.slug, p]));
        for (const p of preview.plans.create) expect(before.has(p.slug), `${mode} creates ${p.slug}`).toBe(false);
        for (const p of [...preview.plans.create, ...preview.plans.update, ...preview.plans.unchanged]) expect(plans.get(p.slug)?.status, `${mode}: ${p.slug}`).toBe('active');
        for (const p of preview.plans.legacy) expect(plans.get(p.slug)?.status, `${mode}: ${p.slug}`).toBe('legacy');
        for (const p of preview.plans.archive) expect(plans.get(p.slug)?.status, `${mode}: ${p.slug}`).toBe('archived');
        for (const p of preview.plans.untouched) expect(plans.get(p.slug), `${mode}: ${p.slug}`).toEqual(before.get(p.slug));
        for (const p of preview.plans.unchanged) expect(plans.get(p.slug), `${mode}: ${p.slug}`).toEqual(before.get(p.slug));
        for (const p of preview.plans.update) {
          expect(p.changes.length).toBeGreaterThan(0);
          for (const c of p.changes) expect(c.from, `${mode}: ${p.slug}.${c.field}`).not.toEqual(c.to);
          // The change is what the plan then is, and nothing else about it moved.
          expect(planToInput(plans.get(p.slug)!), `${mode}: ${p.slug}`).toEqual({ ...planToInput(before.get(p.slug)!), ...patchOf(p) });
        }
        for (const p of preview.packs.update) expect(packToInput(packs.get(p.slug)!), `${mode}: ${p.slug}`).toEqual({ ...packToInput(packsBefore.get(p.slug)!), ...patchOf(p) });
        for (const p of preview.plans.create) expect(planToInput(plans.get(p.slug)!), `${mode}: ${p.slug}`).toMatchObject(p.input);
        for (const p of preview.packs.create) expect(packToInput(packs.get(p.slug)!), `${mode}: ${p.slug}`).toMatchObject(p.input);
        for (const p of preview.packs.archive) expect(packs.get(p.slug)?.status).toBe('archived');
        for (const p of [...preview.packs.untouched, ...preview.packs.unchanged]) expect(packs.get(p.slug)).toEqual(packsBefore.get(p.slug));
        for (const p of [...preview.packs.create, ...preview.packs.update, ...preview.packs.unchanged]) expect(packs.get(p.slug)?.status).toBe('active');
        // Everything in the catalog is in exactly one list.
        const named = [...Object.values(preview.plans).flat().map((p) => p.slug)];
        expect(named.sort()).toEqual([...plans.keys()].sort());
        expect(Object.values(preview.packs).flat().map((p) => p.slug).sort()).toEqual([...packs.keys()].sort());
        expect(preview.defaultPlan).toBe(PRESETS[mode].defaultPlan);
        // Applied, the preset has nothing left to do.
        expect(await billing.admin.previewPreset(mode), mode).toMatchObject({
          plans: { create: [], update: [], legacy: [], archive: [] },
          packs: { create: [], update: [], archive: [] },
        });
      }
      const renamed = await billing.admin.previewPreset('tiers');
      expect(renamed.plans.unchanged.map((p) => p.slug)).toContain('free');
      await billing.admin.updatePlan('free', { name: 'Free again' });
      expect((await billing.admin.previewPreset('tiers')).plans.update).toEqual([{ slug: 'free', name: 'Free', changes: [{ field: 'name', from: 'Free again', to: 'Free' }] }]);
      await expect(billing.admin.previewPreset('cheap' as never)).rejects.toBeInstanceOf(BillingError);
    });
  });
}
