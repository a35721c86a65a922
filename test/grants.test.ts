/**
 * Value handed out only as asked and paid for: a credit's reference reused for another credit
 * is a conflict, a pack that could never be spent is refused at checkout, and the default plan
 * (everyone's, unpaid) is free.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, PRESETS } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, completed, mustCall } from './support/spend.ts';

async function written(sql: Sql) {
  const [row] = await sql.query(
    `SELECT (SELECT count(*) FROM buckets) AS buckets, (SELECT count(*) FROM ledger_entries) AS entries, (SELECT count(*) FROM payments) AS payments,
            (SELECT coalesce(sum(remaining_micros), 0) FROM buckets) AS remaining`,
  );
  return row;
}

/** The call's BillingError, checking it wrote nothing. */
async function refusal(sql: Sql, call: () => Promise<unknown>): Promise<BillingError> {
  const before = await written(sql);
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a BillingError').toBeInstanceOf(BillingError);
  expect(await written(sql)).toEqual(before);
  return error as BillingError;
}

for (const engine of ENGINES) {
  describe(`credit references on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('a retry gets the first grant back; the reference reused with another amount, source or expiry is idempotency_conflict', async () => {
      const { billing, sql } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 0 });
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      const expiresAt = new Date('2026-06-01T00:00:00Z');
      const first = await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome', expiresAt });
      expect(first).toMatchObject({ created: true });
      expect(await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome', expiresAt: new Date(expiresAt) })).toEqual({
        bucketId: first.bucketId,
        created: false,
        debtPaidMicros: 0,
        replayed: false,
      });
      for (const other of [
        { source: 'bonus', amountMicros: 50_000_000, reference: 'welcome', expiresAt },
        { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome', expiresAt: new Date('2026-07-01T00:00:00Z') },
        { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome' },
        { source: 'adjustment', amountMicros: 5_000_000, reference: 'welcome', expiresAt },
      ] as const) {
        const error = await refusal(sql, () => billing.credit('acme', other));
        expect(error).toMatchObject({ code: 'idempotency_conflict', details: { reference: 'welcome', bucketId: first.bucketId } });
        expect(error.message).toMatch(/"welcome" was used already, for a bonus of \$5\.00 expiring 2026-06-01/);
      }
      // Without an expiry, and as an adjustment: the same rules.
      const fix = await billing.credit('acme', { source: 'adjustment', amountMicros: 1_000_000, reference: 'ticket-7' });
      expect(await billing.credit('acme', { source: 'adjustment', amountMicros: 1_000_000, reference: 'ticket-7', expiresAt: null })).toMatchObject({ bucketId: fix.bucketId, created: false });
      await expect(billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'ticket-7' })).rejects.toMatchObject({ code: 'idempotency_conflict' });
      // References are per account.
      await billing.upsertAccount({ id: 'other', kind: 'team' });
      expect(await billing.credit('other', { source: 'bonus', amountMicros: 1, reference: 'welcome' })).toMatchObject({ created: true });
      expect((await billing.balance('acme')).availableMicros).toBe(6_000_000);
      expect((await billing.reconcile('acme')).problems).toEqual([]);

      // Expired as it is made, a credit could never be spent: refused, and nothing written.
      const expired = await refusal(sql, () => billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'late', expiresAt: t.clock.now }));
      expect(expired).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('is not in the future, so the credit could never be spent') });
      // The grant made earlier, retried once its expiry passed, is still that grant.
      t.clock.set('2026-06-02T00:00:00Z');
      expect(await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome', expiresAt })).toMatchObject({ bucketId: first.bucketId, created: false });
    });
  });

  describe(`packs at checkout on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('refuses a pack on a plan whose usage never draws on packs, before any payment, naming the plans that do', async () => {
      const { billing, sql } = t;
      await billing.admin.applyPreset('usage-subscription'); // free and pro, both overage: block
      await addTestModel(billing);
      await billing.admin.createPlan({ slug: 'flex', name: 'Flex', priceCents: 20_00, overage: 'credits', sort: 2 });
      await billing.admin.createPlan({ slug: 'private', name: 'Private', priceCents: 20_00, overage: 'credits', public: false });
      await billing.admin.createPack({ slug: 'credits-10', name: '1,000 credits', priceCents: 10_00 });
      await billing.upsertAccount({ id: 'ana', kind: 'personal' });
      for (const plan of ['free', 'pro']) {
        if (plan === 'pro') await billing.subscribe('ana', 'pro');
        const error = await refusal(sql, () => billing.purchase('ana', 'credits-10'));
        expect(error).toMatchObject({ code: 'pack_not_usable', details: { slug: 'credits-10', plan, remedy: { kind: 'upgrade', plans: ['flex'] } } });
        expect(error.message).toMatch(new RegExp(`could never be spent on the plan "${plan}".*upgrade to a plan whose usage can draw on credit packs \\(flex\\)`));
      }
      // An add-on pack is sold only with a paid plan: a free plan that spends packs is no remedy for it.
      await billing.admin.createPlan({ slug: 'payg', name: 'Pay as you go', priceCents: 0, overage: 'credits', sort: 3 });
      await billing.admin.createPack({ slug: 'addon', name: 'Add-on', priceCents: 5_00, requiresPlan: true });
      expect(await refusal(sql, () => billing.purchase('ana', 'addon'))).toMatchObject({ code: 'pack_not_usable', details: { remedy: { kind: 'upgrade', plans: ['flex'] } } });
      expect(await refusal(sql, () => billing.purchase('ana', 'credits-10'))).toMatchObject({ details: { remedy: { kind: 'upgrade', plans: ['flex', 'payg'] } } });
      await billing.subscribe('ana', 'flex');
      const bought = completed(await billing.purchase('ana', 'credits-10'));
      expect(bought.valueMicros).toBe(10_000_000);
      await mustCall(billing, 'ana', 14_000_000); // $28: the $20 allowance, then $8 of the pack
      expect((await billing.balance('ana')).availableMicros).toBe(2_000_000);
      expect((await billing.reconcile('ana')).problems).toEqual([]);
    });

    it('with no plan on sale that spends packs, the remedy is support', async () => {
      const { billing, sql } = t;
      await billing.admin.applyPreset('tiers');
      await billing.admin.createPack({ slug: 'credits-10', name: '1,000 credits', priceCents: 10_00 });
      await billing.upsertAccount({ id: 'bo', kind: 'personal' });
      const error = await refusal(sql, () => billing.purchase('bo', 'credits-10'));
      expect(error).toMatchObject({ code: 'pack_not_usable', details: { remedy: { kind: 'contact_support' } } });
      expect(error.message).toMatch(/contact support/);
    });
  });

  describe(`the default plan on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('refuses a paid plan as the default, and a price on the default plan', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('usage-subscription');
      const before = await billing.admin.getSettings();
      const paidDefault = billing.admin.updateSettings({ defaultPlan: 'pro' });
      await expect(paidDefault).rejects.toMatchObject({ code: 'invalid_input', details: { field: 'defaultPlan', slug: 'pro' } });
      await expect(paidDefault).rejects.toThrow(/"pro" has a price.*Make a free plan \(a price of \$0\.00\) the default/);
      expect(await billing.admin.getSettings()).toEqual(before);

      const pricedDefault = billing.admin.updatePlan('free', { priceCents: 5_00 });
      await expect(pricedDefault).rejects.toMatchObject({ code: 'invalid_input', details: { field: 'priceCents', slug: 'free' } });
      await expect(pricedDefault).rejects.toThrow(/"free" is the default plan.*Make a free plan the default first/);
      expect((await billing.admin.getPlan('free')).priceCents).toBe(0);
      expect((await billing.admin.updatePlan('free', { name: 'Free forever' })).name).toBe('Free forever');
      expect((await billing.admin.updatePlan('pro', { priceCents: 30_00 })).priceCents).toBe(30_00);

      // Another free plan the default first, and the old one may be priced.
      await billing.admin.createPlan({ slug: 'trial', name: 'Trial', priceCents: 0, includedMicros: 100_000 });
      await billing.admin.updateSettings({ defaultPlan: 'trial' });
      expect((await billing.admin.updatePlan('free', { priceCents: 5_00 })).priceCents).toBe(5_00);
    });

    it('every preset defaults to a free plan, and applies over a free default that it prices', async () => {
      for (const preset of Object.values(PRESETS)) expect(preset.plans.find((p) => p.slug === preset.defaultPlan)?.priceCents).toBe(0);
      const { billing } = t;
      await billing.admin.createPlan({ slug: 'pro', name: 'Pro (free for now)', priceCents: 0 });
      await billing.admin.updateSettings({ defaultPlan: 'pro' });
      const settings = await billing.admin.applyPreset('tiers'); // its pro costs $100
      expect(settings.defaultPlanId).toBe((await billing.admin.getPlan('free')).id);
      expect((await billing.admin.getPlan('pro')).priceCents).toBe(100_00);
    });
  });
}
