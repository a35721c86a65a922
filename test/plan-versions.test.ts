/**
 * Plan versions: a change to what a plan sells is a new version for new subscribers; an account
 * keeps the version it bought (its price, allowance and limits) until the admin moves it, one
 * account or all. Two facades over one database stand for two processes: one that remembers an
 * account sees a move made by the other at once.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import { DAY, ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, completed, mustCall, mustRefuse } from './support/spend.ts';
import { proBecomesHundred as proBecomesHundredOn } from './support/plan-versions.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import type { ProcessorEvent } from '../src/index.ts';
import { migrate } from '../src/db/migrate.ts';

/** test-model at the default 50% margin: each input token is 2 µ$ of value. */
const tokensFor = (micros: number) => micros / 2;
const PRO_20_LIMIT = [{ window: 'month', unit: 'usd', amount: 20_000_000 }];
const MAR_10 = new Date('2026-03-10T12:00:00Z');
const APR_10 = new Date('2026-04-10T12:00:00Z');
const MAY_10 = new Date('2026-05-10T12:00:00Z');
const paid = (eventId: string, start: Date, end: Date): Extract<ProcessorEvent, { type: 'subscription.paid' }> => ({
  type: 'subscription.paid', eventId, accountId: 'ana', subscriptionRef: 'sub_ana', planSlug: 'pro', paymentRef: `in_${eventId}`, amountCents: 20_00,
  periodStart: start, periodEnd: end, at: start,
});

for (const engine of ENGINES) {
  describe(`plan versions on ${engine.name}`, () => {
    const t = useBilling(engine);

    const proBecomesHundred = (...ids: string[]) => proBecomesHundredOn(t.billing, ...ids);
    const terms = async (billing: Billing, id: string) => {
      const { plan } = await billing.balance(id);
      return { slug: plan.slug, priceCents: plan.priceCents, limits: plan.limits };
    };

    it('keeps a subscriber on the $20 version it bought, and sells a new one the $100 version', async () => {
      await proBecomesHundred('ana');
      const pro = await t.billing.admin.getPlan('pro');
      expect(pro).toMatchObject({ priceCents: 100_00, limits: [] }); // the preset's terms whole: no $20 limit left behind
      expect(await terms(t.billing, 'ana')).toEqual({ slug: 'pro', priceCents: 20_00, limits: PRO_20_LIMIT });
      // The $20 allowance and limit still decide: $19.998 more goes through, a cent over does not.
      await mustCall(t.billing, 'ana', tokensFor(19_996_000));
      expect((await mustRefuse(t.billing, 'ana', tokensFor(10_000))).code).toBe('monthly_limit');
      // Its next period opens the $20 allowance again, not $100.
      t.clock.advance(31 * DAY);
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { priceCents: 20_00 }, availableMicros: 20_000_000 });

      await t.billing.upsertAccount({ id: 'bo', kind: 'personal' });
      completed(await t.billing.subscribe('bo', 'pro'));
      expect(await terms(t.billing, 'bo')).toEqual({ slug: 'pro', priceCents: 100_00, limits: [] });
      expect((await t.billing.balance('bo')).availableMicros).toBe(100_000_000);
      expect(await t.billing.admin.planVersions('pro')).toEqual({
        version: 2, behind: [{ accountId: 'ana', version: 1, priceCents: 20_00, includedMicros: 20_000_000, processor: 'fake', waiting: null }],
      });
      for (const id of ['ana', 'bo']) expect((await t.billing.reconcile(id)).problems).toEqual([]);
    });

    it('moves one account, then all, to the current version; a free plan’s accounts follow it at once', async () => {
      await proBecomesHundred('ana', 'bo', 'cy');
      await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'nobody' })).rejects.toMatchObject({ code: 'invalid_input' });
      expect(await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo' })).toEqual({ version: 2, when: 'now', moved: ['bo'], waiting: [], kept: [] });
      // Its limit and price at once; the allowance of the period it paid for stays, the next is $100.
      expect(await terms(t.billing, 'bo')).toEqual({ slug: 'pro', priceCents: 100_00, limits: [] });
      expect(await terms(t.billing, 'ana')).toMatchObject({ priceCents: 20_00 });
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => b.accountId)).toEqual(['ana', 'cy']);
      await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo' })).rejects.toMatchObject({ code: 'invalid_input' });

      expect(await t.billing.admin.moveToCurrentVersion('pro')).toEqual({ version: 2, when: 'now', moved: ['ana', 'cy'], waiting: [], kept: [] });
      expect((await t.billing.admin.planVersions('pro')).behind).toEqual([]);
      t.clock.advance(31 * DAY);
      for (const id of ['ana', 'bo', 'cy']) {
        expect(await t.billing.balance(id)).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
        expect((await t.billing.reconcile(id)).problems).toEqual([]);
      }

      // The free plan: nobody paid for it, so its accounts are on its terms as they are now.
      await t.billing.upsertAccount({ id: 'dee', kind: 'personal' });
      await t.billing.admin.updatePlan('free', { includedMicros: 700_000 });
      expect((await t.billing.balance('dee')).plan.includedMicrosOverride).toBe(700_000);
    });

    it('a free plan that takes a price keeps its accounts on the free version; they move by subscribing', async () => {
      await t.billing.admin.applyPreset('usage-subscription');
      await t.billing.admin.createPlan({ slug: 'starter', name: 'Starter', priceCents: 0, includedMicros: 1_000_000 });
      await t.billing.upsertAccount({ id: 'ana', kind: 'personal' });
      completed(await t.billing.subscribe('ana', 'starter'));
      await t.billing.admin.updatePlan('starter', { priceCents: 5_00, includedMicros: 5_000_000 });
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { slug: 'starter', priceCents: 0 }, availableMicros: 1_000_000 });
      expect((await t.billing.admin.planVersions('starter')).behind).toEqual([]); // nothing bought, nothing to move
      completed(await t.billing.subscribe('ana', 'starter'));
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { priceCents: 5_00 }, availableMicros: 5_000_000 });
    });

    it('the plan page counts the subscribers on older versions, and the move is confirmed on a page that names them', async () => {
      await proBecomesHundred('ana', 'bo');
      const admin = new AdminClient(await adminApp(t.billing));
      await admin.login();
      expect(text((await admin.page('/admin/plans/pro')).html)).toMatch(/Version 2 2 subscribers on older versions keep what they bought until moved\. Move them to this version…/);
      const confirm = text((await admin.page('/admin/plans/pro/move')).html);
      expect(confirm).toMatch(/Version 2 of Pro: \$100\.00 a month ?, \$100\.00 of usage included, limits: none\. 2 accounts are on an older version\./);
      expect(confirm).toMatch(/ana version 1 \$20\.00 \$20\.00 \$100\.00 a month, \$100\.00 included At its renewal Now bo version 1 \$20\.00/);
      expect(await terms(t.billing, 'ana')).toMatchObject({ priceCents: 20_00 }); // looking moves nobody

      const moved = await admin.post('/admin/plans/pro/move', { when: 'now' });
      expect(moved.status).toBe(303);
      expect(text((await admin.page('/admin/plans/pro')).html)).toMatch(/Moved 2 accounts to version 2\..*Every subscriber is on this version/);
      for (const id of ['ana', 'bo']) expect(await terms(t.billing, id)).toEqual({ slug: 'pro', priceCents: 100_00, limits: [] });
      // Without the form's token, nothing moves.
      await t.billing.admin.updatePlan('pro', { priceCents: 120_00 });
      expect((await admin.post('/admin/plans/pro/move', {}, { csrf: false })).status).toBe(403);
      expect((await t.billing.admin.planVersions('pro')).behind).toHaveLength(2);
    });

    it('a process that remembers an account sees a move another process made at once', async () => {
      // Pro at $100 with no limit, ana on it; then Pro becomes $20 with a $20 monthly limit.
      await t.billing.admin.applyPreset('tiers');
      await addTestModel(t.billing);
      await t.billing.upsertAccount({ id: 'ana', kind: 'personal' });
      completed(await t.billing.subscribe('ana', 'pro'));
      await mustCall(t.billing, 'ana', tokensFor(21_000_000));
      await t.billing.admin.applyPreset('usage-subscription');
      const other = await createBilling({ database: t.sql, clock: t.clock.read });
      try {
        await mustCall(t.billing, 'ana', 1_000); // this process knows ana, on the version without a limit
        await other.admin.moveToCurrentVersion('pro');
        // Past the new $20 limit: this process's write on what it knew fails, it reads the move and refuses.
        expect((await mustRefuse(t.billing, 'ana', 1_000)).code).toBe('monthly_limit');
        expect(await terms(t.billing, 'ana')).toEqual({ slug: 'pro', priceCents: 20_00, limits: PRO_20_LIMIT });
        expect((await t.billing.reconcile('ana')).problems).toEqual([]);
      } finally {
        await other.close();
      }
    });
  });

  it(`0022 keeps each account on a paid plan on the version it had, and lets free plans' accounts follow theirs, on ${engine.name}`, async () => {
    const db = await engine.open({ through: '0021_refund_reversals.sql' });
    try {
      await db.sql.exec(`
        INSERT INTO plans (id, slug, name, price_cents, limits) VALUES (1, 'free', 'Free', 0, '[]'), (2, 'pro', 'Pro', 2000, '[{"window":"month","unit":"usd","amount":20000000}]');
        INSERT INTO accounts (id, kind, plan_id) VALUES ('a', 'team', 1), ('b', 'team', 2);`);
      await migrate(db.sql);
      const onVersion = () => db.sql.query<{ id: string; plan_version: number | null }>('SELECT id, plan_version FROM accounts ORDER BY id');
      expect(await onVersion()).toEqual([{ id: 'a', plan_version: null }, { id: 'b', plan_version: 1 }]);
      await db.sql.exec(`UPDATE plans SET price_cents = 10000, limits = '[]' WHERE id = 2; UPDATE plans SET included_micros = 1 WHERE id = 1;`);
      const versions = await db.sql.query<{ plan_id: number; version: number; price_cents: number }>('SELECT plan_id, version, price_cents FROM plan_versions ORDER BY plan_id, version');
      expect(versions.map((v) => [v.plan_id, v.version, Number(v.price_cents)])).toEqual([[1, 1, 0], [1, 2, 0], [2, 1, 2000], [2, 2, 10000]]);
      expect(await onVersion()).toEqual([{ id: 'a', plan_version: null }, { id: 'b', plan_version: 1 }]);
      // Processor prices alone are the current version's: no new version.
      await db.sql.exec(`UPDATE plans SET processor_prices = '{"stripe":"price_2"}' WHERE id = 2`);
      expect(await db.sql.query('SELECT version, processor_prices FROM plan_versions WHERE plan_id = 2 ORDER BY version')).toEqual([
        { version: 1, processor_prices: {} }, { version: 2, processor_prices: { stripe: 'price_2' } },
      ]);
    } finally {
      await db.drop();
    }
  });

  describe(`plan versions at a processor, on ${engine.name}`, () => {
    const t = useBilling(engine, { processors: [signedProcessor()] });
    const receive = async (...events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return (await t.billing.receiveWebhook(SIGNED, body, headers)).events.map((e) => e.outcome);
    };

    it('renews a subscriber on the version it bought, and leaves it there: its processor bills the price it subscribed at', async () => {
      await t.billing.admin.applyPreset('usage-subscription');
      await t.billing.upsertAccount({ id: 'ana', kind: 'personal', processor: SIGNED });
      t.clock.set(MAR_10.toISOString());
      expect(await receive(paid('evt_1', MAR_10, APR_10))).toEqual(['applied']);
      await t.billing.admin.applyPreset('tiers');
      t.clock.set(APR_10.toISOString());
      expect(await receive(paid('evt_2', APR_10, MAY_10))).toEqual(['applied']);
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { slug: 'pro', priceCents: 20_00, limits: PRO_20_LIMIT }, availableMicros: 20_000_000 });

      await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'ana' })).rejects.toMatchObject({ code: 'subscription_active', details: { processor: SIGNED } });
      expect(await t.billing.admin.moveToCurrentVersion('pro')).toMatchObject({ version: 2, moved: [], kept: [{ accountId: 'ana', processor: SIGNED, reason: expect.stringMatching(/move it at its renewal/) }] });
      const admin = new AdminClient(await adminApp(t.billing));
      await admin.login();
      // Its only move: at its renewal, with the processor named.
      expect(text((await admin.page('/admin/plans/pro/move')).html)).toMatch(/ana signed version 1 \$20\.00 \$20\.00 \$100\.00 a month, \$100\.00 included At its renewal Move 1 account at its renewal Cancel/);
      expect((await t.billing.balance('ana')).plan).toMatchObject({ priceCents: 20_00, limits: PRO_20_LIMIT });
      expect((await t.billing.reconcile('ana')).problems).toEqual([]);
    });

    it('a first payment at an older version\'s price (a checkout opened before the change) is on that version; at the current price, or none told, on the current one', async () => {
      await t.billing.admin.applyPreset('usage-subscription');
      await t.billing.admin.updatePlan('pro', { processorPrices: { [SIGNED]: 'price_20' } });
      await t.billing.admin.applyPreset('tiers'); // version 2, at $100
      await t.billing.admin.updatePlan('pro', { processorPrices: { [SIGNED]: 'price_100' } });
      t.clock.set(MAR_10.toISOString());
      const firstPaid = (id: string, pricePaid?: string): ProcessorEvent => ({
        ...paid(`evt_${id}`, MAR_10, APR_10), accountId: id, subscriptionRef: `sub_${id}`, ...(pricePaid ? { pricePaid } : {}),
      });
      for (const [id, price] of [['cy', 'price_20'], ['dee', 'price_100'], ['eve', undefined]] as const) {
        await t.billing.upsertAccount({ id, kind: 'personal', processor: SIGNED });
        expect(await receive(firstPaid(id, price))).toEqual(['applied']);
      }
      expect(await t.billing.balance('cy')).toMatchObject({ plan: { priceCents: 20_00, limits: PRO_20_LIMIT }, availableMicros: 20_000_000 });
      for (const id of ['dee', 'eve']) expect(await t.billing.balance(id)).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => [b.accountId, b.version])).toEqual([['cy', 1]]);
    });

    it('a renewal opens on the version sold at the price it paid, not a newer one still showing that price until a sync; a price no version was sold at leaves the move written', async () => {
      const paidAt = (id: string, eventId: string, start: Date, end: Date, pricePaid: string): ProcessorEvent => ({
        ...paid(eventId, start, end), accountId: id, subscriptionRef: `sub_${id}`, pricePaid,
      });
      await t.billing.admin.applyPreset('usage-subscription');
      await t.billing.admin.updatePlan('pro', { processorPrices: { [SIGNED]: 'price_20' } });
      t.clock.set(MAR_10.toISOString());
      for (const id of ['ana', 'bo']) {
        await t.billing.upsertAccount({ id, kind: 'personal', processor: SIGNED });
        expect(await receive(paidAt(id, `evt_${id}_1`, MAR_10, APR_10, 'price_20'))).toEqual(['applied']);
      }
      await t.billing.admin.applyPreset('tiers'); // version 2, at $100
      await t.billing.admin.updatePlan('pro', { processorPrices: { [SIGNED]: 'price_100' } }); // its price at the processor, as a sync stores it
      await t.billing.admin.updatePlan('pro', { priceCents: 150_00 }); // version 3, at $150: still showing price_100 until a sync
      expect((await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo', when: 'renewal' })).waiting).toEqual([{ accountId: 'bo', at: APR_10 }]);

      t.clock.set(new Date(APR_10.getTime() + 3_600_000).toISOString());
      // ana's processor bills $100 (a move whose write was lost); bo's a price no version was sold at.
      expect(await receive(paidAt('ana', 'evt_ana_2', APR_10, MAY_10, 'price_100'), paidAt('bo', 'evt_bo_2', APR_10, MAY_10, 'price_other'))).toEqual(['applied', 'applied']);
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
      expect(await t.billing.balance('bo')).toMatchObject({ plan: { priceCents: 150_00, limits: [] }, availableMicros: 150_000_000 });
      // A copy of ana's renewal, and its first period's payment, told again: nothing more.
      expect(await receive(paidAt('ana', 'evt_ana_2b', APR_10, MAY_10, 'price_20'), paidAt('ana', 'evt_ana_1b', MAR_10, APR_10, 'price_20'))).toEqual(['ignored', 'ignored']);
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { priceCents: 100_00 }, availableMicros: 100_000_000 });
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => [b.accountId, b.version])).toEqual([['ana', 2]]);
      for (const id of ['ana', 'bo']) expect((await t.billing.reconcile(id)).problems).toEqual([]);
    });
  });
}
