/**
 * A move to a plan's newer version at the account's renewal: it keeps the version it paid for to
 * the end of that period, and its next period opens on the new one (price, allowance, limits).
 * At Stripe and Paddle the subscription's price is changed when the move is asked, with nothing
 * billed, and the account is on the new version once the processor says the period at the new
 * price is paid: a duplicate, a replay of an older payment, or two processes told it at once
 * apply it once. A move waiting is called off, at the processor too, before it happens.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import { DAY, ENGINES, HOUR, useBilling } from './support/harness.ts';
import { addTestModel, completed, mustCall, mustRefuse } from './support/spend.ts';
import { proBecomesHundred as proBecomesHundredOn } from './support/plan-versions.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';
import { useApi } from './support/http.ts';

/** test-model at the default 50% margin: each input token is 2 µ$ of value. */
const tokensFor = (micros: number) => micros / 2;
const PRO_20_LIMIT = [{ window: 'month', unit: 'usd', amount: 20_000_000 }];
const APR_10 = new Date('2026-04-10T12:00:00Z');

const termsOf = async (billing: Billing, id: string) => {
  const { plan } = await billing.balance(id);
  return { priceCents: plan.priceCents, limits: plan.limits };
};
const allowances = (billing: Billing, id: string) =>
  billing.sql.query<{ amount: number; starts_at: Date }>(`SELECT amount_micros AS amount, starts_at FROM buckets WHERE account_id = $1 AND source = 'allowance' ORDER BY starts_at`, [id]);

for (const engine of ENGINES) {
  describe(`a move at renewal, on the fake processor, on ${engine.name}`, () => {
    const t = useBilling(engine);

    const proBecomesHundred = (...ids: string[]) => proBecomesHundredOn(t.billing, ...ids);

    it('keeps the version it paid for to the end of the period, then opens the next on the new one; a move called off never happens', async () => {
      await proBecomesHundred('ana', 'bo', 'cy');
      expect(await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo', when: 'renewal' })).toEqual({
        version: 2, when: 'renewal', moved: [], waiting: [{ accountId: 'bo', at: APR_10 }], kept: [],
      });
      await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo', when: 'renewal' })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/at its renewal already/) });
      // All behind: those not waiting yet.
      expect((await t.billing.admin.moveToCurrentVersion('pro', { when: 'renewal' })).waiting).toEqual([{ accountId: 'ana', at: APR_10 }, { accountId: 'cy', at: APR_10 }]);
      expect(await t.billing.admin.callOffVersionMove('pro', 'cy')).toEqual({ version: 1 });
      await expect(t.billing.admin.callOffVersionMove('pro', 'cy')).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/nothing to call off/) });
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => [b.accountId, b.version, b.waiting])).toEqual([
        ['ana', 1, { version: 2, at: APR_10 }], ['bo', 1, { version: 2, at: APR_10 }], ['cy', 1, null],
      ]);

      // Until the renewal, the version paid for decides: $20 of allowance and its $20 limit.
      expect(await termsOf(t.billing, 'bo')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });
      await mustCall(t.billing, 'bo', tokensFor(19_996_000));
      expect((await mustRefuse(t.billing, 'bo', tokensFor(10_000))).code).toBe('monthly_limit');
      t.clock.set(new Date(APR_10.getTime() - 1).toISOString());
      expect(await termsOf(t.billing, 'bo')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });

      // From the renewal on: $100 and no limit for the two that move, the $20 version for the one called off.
      t.clock.set(new Date(APR_10.getTime() + HOUR).toISOString());
      for (const id of ['ana', 'bo']) {
        expect(await t.billing.balance(id)).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
        await mustCall(t.billing, id, tokensFor(30_000_000)); // past the old $20 limit
      }
      expect(await t.billing.balance('cy')).toMatchObject({ plan: { priceCents: 20_00, limits: PRO_20_LIMIT }, availableMicros: 20_000_000 });
      expect((await allowances(t.billing, 'bo')).map((b) => Number(b.amount))).toEqual([20_000_000, 100_000_000]);
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => b.accountId)).toEqual(['cy']);
      await expect(t.billing.admin.callOffVersionMove('pro', 'bo')).rejects.toMatchObject({ code: 'invalid_input' }); // it happened
      for (const id of ['ana', 'bo', 'cy']) expect((await t.billing.reconcile(id)).problems).toEqual([]);
    });

    it('a move now replaces one waiting, and a plan canceled at its period end has no renewal to move at', async () => {
      await proBecomesHundred('ana', 'bo');
      await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'ana', when: 'renewal' });
      expect((await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'ana' })).moved).toEqual(['ana']);
      expect(await termsOf(t.billing, 'ana')).toEqual({ priceCents: 100_00, limits: [] });
      expect((await t.billing.admin.planVersions('pro')).behind.map((b) => b.accountId)).toEqual(['bo']);

      await t.billing.cancel('bo');
      await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'bo', when: 'renewal' })).rejects.toMatchObject({ message: expect.stringMatching(/no renewal to move at/) });
      const all = await t.billing.admin.moveToCurrentVersion('pro', { when: 'renewal' });
      expect(all).toMatchObject({ waiting: [], kept: [{ accountId: 'bo', reason: expect.stringMatching(/no renewal to move at/) }] });
      await expect(t.billing.admin.moveToCurrentVersion('pro', { when: 'later' as 'now' })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/"now" or "renewal"/) });
    });

    it('a mode switch that moves subscribers at renewal: each keeps its version to its renewal, then is on the new one', async () => {
      await t.billing.admin.applyPreset('usage-subscription');
      await addTestModel(t.billing);
      await t.billing.upsertAccount({ id: 'ana', kind: 'personal' });
      completed(await t.billing.subscribe('ana', 'pro'));
      await t.billing.admin.applyPreset('tiers', { subscribers: 'renewal' });
      expect(await termsOf(t.billing, 'ana')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });
      expect((await t.billing.admin.planVersions('pro')).behind).toMatchObject([{ accountId: 'ana', waiting: { version: 2, at: APR_10 } }]);
      await expect(t.billing.admin.applyPreset('tiers', { subscribers: 'all' as 'keep' })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/"keep" or "renewal"/) });
      t.clock.advance(31 * DAY);
      expect(await t.billing.balance('ana')).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
    });

    it('a process that remembers the account sees the renewal on the new version, and two processes opening it at once open one allowance', async () => {
      await proBecomesHundred('ana');
      const other = await createBilling({ database: t.sql, clock: t.clock.read });
      try {
        await mustCall(other, 'ana', 1_000); // the other process knows ana on the $20 version
        await t.billing.admin.moveToCurrentVersion('pro', { when: 'renewal' });
        t.clock.set(new Date(APR_10.getTime() + HOUR).toISOString());
        const calls = await Promise.all([t.billing, other, t.billing, other].map((b) => b.authorize('ana', { model: 'test-model', provider: 'test', inputTokens: tokensFor(30_000_000), maxOutputTokens: 0 })));
        // $100 of allowance: three $30 calls fit, a fourth does not; on the $20 version none would have.
        expect(calls.filter((c) => c.ok)).toHaveLength(3);
        expect((await allowances(t.billing, 'ana')).map((b) => Number(b.amount))).toEqual([20_000_000, 100_000_000]);
        expect((await t.billing.reconcile('ana')).problems).toEqual([]);
      } finally {
        await other.close();
      }
    });
  });
}

for (const engine of ENGINES) {
  describe(`a pricing mode's subscribers over HTTP, on ${engine.name}`, () => {
    const api = useApi(engine);

    it('takes "renewal" (each moves at its renewal) or "keep" (also with no body), and refuses another value saying the two it takes', async () => {
      await api.billing.admin.applyPreset('usage-subscription');
      for (const id of ['ana', 'bo']) {
        await api.billing.upsertAccount({ id, kind: 'personal' });
        completed(await api.billing.subscribe(id, 'pro'));
      }
      const all = await api.refused(400, 'invalid_input', 'POST', '/v1/admin/presets/tiers/apply', { subscribers: 'all' });
      expect(all.body.error.message).toMatch(/subscribers: must be "keep" or "renewal"/);
      expect((await api.call('POST', '/v1/admin/presets/tiers/apply', { subscribers: 'renewal' })).body.pricingMode).toBe('tiers');
      expect((await api.billing.admin.planVersions('pro')).behind).toMatchObject([
        { accountId: 'ana', version: 1, waiting: { version: 2, at: APR_10 } }, { accountId: 'bo', version: 1, waiting: { version: 2, at: APR_10 } },
      ]);
      // Back to one $20 Pro, kept (no body): both stay on version 1, the moves asked before still waiting for version 2.
      for (const request of [undefined, { subscribers: 'keep' }]) {
        expect((await api.call('POST', '/v1/admin/presets/usage-subscription/apply', request)).status).toBe(200);
      }
      expect((await api.billing.admin.planVersions('pro')).version).toBe(3);
      expect((await api.billing.admin.planVersions('pro')).behind.map((b) => [b.accountId, b.version, b.waiting?.version])).toEqual([['ana', 1, 2], ['bo', 1, 2]]);
    });
  });
}

/** A Stripe or Paddle subscriber to Pro at $20; then the tiers mode makes Pro $100, and the catalog is synced (a new $100 price, the $20 one archived). */
function atProcessor(vendor: 'stripe' | 'paddle') {
  for (const engine of ENGINES) {
    describe(`a move at renewal at ${vendor}, on ${engine.name}`, () => {
      const world = vendor === 'stripe' ? useStripeBilling(engine) : usePaddleBilling(engine);
      const { t, fake } = world;

      async function subscribedThenHundred() {
        await t.billing.admin.applyPreset('usage-subscription');
        await addTestModel(t.billing);
        await t.billing.admin.syncCatalog(vendor);
        t.clock.set(new Date().toISOString()); // the fake's periods are on the real clock
        await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: vendor });
        const { checkoutUrl } = (await t.billing.subscribe('acme', 'pro', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
        const from = fake().events.length;
        await checkoutPaid(checkoutUrl);
        await world.deliver(from);
        expect(await termsOf(t.billing, 'acme')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });
        await t.billing.admin.applyPreset('tiers');
      }
      const stripe = () => fake() as unknown as import('./support/stripe-fake.ts').StripeFake;
      const paddle = () => fake() as unknown as import('./support/paddle-fake.ts').PaddleFake;
      async function checkoutPaid(checkoutUrl: string) {
        if (vendor === 'stripe') await stripe().completeCheckout(checkoutUrl.split('/').pop()!);
        else await paddle().completeTransaction(paddle().transactionAt(checkoutUrl).id);
      }
      const subscription = async () => (await t.billing.admin.accountSubscription('acme')).subscription!;
      const priceAtVendor = async (): Promise<string> => {
        const ref = (await subscription()).reference;
        return vendor === 'stripe' ? stripe().subscriptions.get(ref)!.items.data[0].price.id : paddle().subscriptions.get(ref)!.items[0]!.price.id;
      };
      const renew = async () => {
        const ref = (await subscription()).reference;
        return vendor === 'stripe' ? stripe().renew(ref) : paddle().renew(ref);
      };
      const payments = async () => (await t.billing.payments('acme')).map((p) => p.amountCents);
      /** `action` dies right after the processor answered: the account's row refuses the write `when` says (as a process killed there writes nothing). */
      async function diesWriting(when: string, action: () => Promise<unknown>) {
        await t.sql.query(`CREATE FUNCTION test_dies() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the process died'; END $$`);
        await t.sql.query(`CREATE TRIGGER test_dies BEFORE UPDATE ON accounts FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION test_dies()`);
        try {
          await expect(action()).rejects.toThrow(/the process died/);
        } finally {
          await t.sql.query('DROP TRIGGER test_dies ON accounts');
          await t.sql.query('DROP FUNCTION test_dies()');
        }
      }
      /** The renewal at the vendor, told to two facades at once (two processes), then again, with the first period's payment told again late. */
      async function renewedAndToldTwice() {
        const { paidThrough } = (await t.billing.getAccount('acme')) as { paidThrough: Date };
        const from = fake().events.length;
        await renew();
        t.clock.set(new Date(paidThrough.getTime() + HOUR).toISOString());
        const twin = await world.twin();
        try {
          await Promise.all([world.deliver(from), world.deliver(from, twin)]);
        } finally {
          await twin.close();
        }
        await world.deliver(from);
        await world.deliver(0);
      }

      it('changes the price there with nothing billed; the next paid invoice opens the period on the new version, once, whatever the order or copies', async () => {
        await subscribedThenHundred();
        await expect(t.billing.admin.moveToCurrentVersion('pro', { accountId: 'acme' })).rejects.toMatchObject({ code: 'subscription_active' });
        const oldPrice = await priceAtVendor();
        await t.billing.admin.syncCatalog(vendor);
        const paidBefore = await payments();
        let from = fake().events.length;
        const { waiting } = await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'acme', when: 'renewal' });
        expect(waiting).toHaveLength(1);
        expect(await priceAtVendor()).toBe((await t.billing.admin.getPlan('pro')).processorPrices[vendor]);
        await world.deliver(from); // the subscription's update at the vendor: nothing billed, nothing applied
        expect(await payments()).toEqual(paidBefore);
        expect(await termsOf(t.billing, 'acme')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });

        // The renewal: the vendor charges $100 and says so; the account is on the $100 version.
        from = fake().events.length;
        await renew();
        t.clock.set(new Date(waiting[0]!.at.getTime() + HOUR).toISOString());
        const renewal = fake().events.slice(from);
        await world.deliver(from);
        expect(await payments()).toEqual([100_00, ...paidBefore]);
        expect(await t.billing.balance('acme')).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
        // Told again, and the first period's payment told again late: nothing more.
        await world.deliver(from);
        await world.deliver(0);
        expect(await payments()).toEqual([100_00, ...paidBefore]);
        expect((await allowances(t.billing, 'acme')).map((b) => Number(b.amount))).toEqual([20_000_000, 100_000_000]);
        expect(renewal.length).toBeGreaterThan(0);
        expect(oldPrice).not.toBe(await priceAtVendor());
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('two processes told the renewal at once apply it once; the move made the new price there, the catalog not synced since the change', async () => {
        await subscribedThenHundred();
        const { waiting } = await t.billing.admin.moveToCurrentVersion('pro', { when: 'renewal' });
        expect(waiting).toHaveLength(1);
        expect(await priceAtVendor()).toBe((await t.billing.admin.getPlan('pro')).processorPrices[vendor]);
        const from = fake().events.length;
        await renew();
        t.clock.set(new Date(waiting[0]!.at.getTime() + HOUR).toISOString());
        // Two facades over one database, each with its own connections: every event delivered to both at once.
        const twin = await world.twin();
        try {
          await Promise.all([world.deliver(from), world.deliver(from, twin)]);
        } finally {
          await twin.close();
        }
        expect(await payments()).toEqual([100_00, 20_00]);
        expect((await allowances(t.billing, 'acme')).map((b) => Number(b.amount))).toEqual([20_000_000, 100_000_000]);
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      if (vendor === 'stripe') {
        it('the same move asked by two processes at once changes the price there once, and waits once', async () => {
          await subscribedThenHundred();
          await t.billing.admin.syncCatalog(vendor);
          const ref = (await subscription()).reference;
          const updates = () => stripe().requests.filter((r) => r.method === 'POST' && r.path === `/v1/subscriptions/${ref}`).length;
          const before = updates();
          const twin = await world.twin();
          try {
            const results = await Promise.all([t.billing, twin].map((b) => b.admin.moveToCurrentVersion('pro', { accountId: 'acme', when: 'renewal' })));
            expect(results.map((r) => r.waiting.map((w) => w.accountId))).toEqual([['acme'], ['acme']]);
          } finally {
            await twin.close();
          }
          expect(updates() - before).toBe(1);
          expect(stripe().invoices.size).toBe(1); // the first period's only
          expect((await t.billing.admin.planVersions('pro')).behind).toMatchObject([{ accountId: 'acme', waiting: { version: 2 } }]);
        });
      }

      it('a move whose write was lost after the price there changed (the process died between): the renewal paid at the new price opens on the new version, once', async () => {
        await subscribedThenHundred();
        await diesWriting('NEW.plan_version_at_renewal IS NOT NULL', () => t.billing.admin.moveToCurrentVersion('pro', { accountId: 'acme', when: 'renewal' }));
        // The customer pays $100 from the next invoice, and no move was written.
        expect(await priceAtVendor()).toBe((await t.billing.admin.getPlan('pro')).processorPrices[vendor]);
        expect((await t.billing.admin.planVersions('pro')).behind).toMatchObject([{ accountId: 'acme', version: 1, waiting: null }]);
        expect(await termsOf(t.billing, 'acme')).toEqual({ priceCents: 20_00, limits: PRO_20_LIMIT });

        await renewedAndToldTwice();
        expect(await payments()).toEqual([100_00, 20_00]);
        expect(await t.billing.balance('acme')).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
        expect((await allowances(t.billing, 'acme')).map((b) => Number(b.amount))).toEqual([20_000_000, 100_000_000]);
        expect((await t.billing.admin.planVersions('pro')).behind).toEqual([]);
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('a call-off whose write was lost after the price there went back: the renewal paid at $20 opens on the $20 version, and the move is gone', async () => {
        await subscribedThenHundred();
        const oldPrice = await priceAtVendor();
        await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'acme', when: 'renewal' });
        await diesWriting('OLD.plan_version_at_renewal IS NOT NULL AND NEW.plan_version_at_renewal IS NULL', () => t.billing.admin.callOffVersionMove('pro', 'acme'));
        expect(await priceAtVendor()).toBe(oldPrice);
        expect((await t.billing.admin.planVersions('pro')).behind).toMatchObject([{ accountId: 'acme', version: 1, waiting: { version: 2 } }]);

        await renewedAndToldTwice();
        expect(await payments()).toEqual([20_00, 20_00]);
        expect(await t.billing.balance('acme')).toMatchObject({ plan: { priceCents: 20_00, limits: PRO_20_LIMIT }, availableMicros: 20_000_000 });
        expect((await allowances(t.billing, 'acme')).map((b) => Number(b.amount))).toEqual([20_000_000, 20_000_000]);
        expect((await t.billing.admin.planVersions('pro')).behind).toMatchObject([{ accountId: 'acme', version: 1, waiting: null }]);
        expect((await t.billing.reconcile('acme')).problems).toEqual([]);
      });

      it('a move called off puts the price back there (on sale again only for that), with nothing billed, and the renewal stays at $20', async () => {
        await subscribedThenHundred();
        const oldPrice = await priceAtVendor();
        await t.billing.admin.syncCatalog(vendor); // the $20 price is archived there now
        await t.billing.admin.moveToCurrentVersion('pro', { accountId: 'acme', when: 'renewal' });
        const paidBefore = await payments();
        expect(await t.billing.admin.callOffVersionMove('pro', 'acme')).toEqual({ version: 1 });
        expect(await priceAtVendor()).toBe(oldPrice);
        const stillArchived = vendor === 'stripe' ? stripe().prices.get(oldPrice)!.active === false : paddle().prices.get(oldPrice)!.status === 'archived';
        expect(stillArchived).toBe(true);
        const from = fake().events.length;
        const { paidThrough } = (await t.billing.getAccount('acme')) as { paidThrough: Date };
        await renew();
        t.clock.set(new Date(paidThrough.getTime() + HOUR).toISOString());
        await world.deliver(from);
        expect(await payments()).toEqual([20_00, ...paidBefore]);
        expect(await t.billing.balance('acme')).toMatchObject({ plan: { priceCents: 20_00, limits: PRO_20_LIMIT }, availableMicros: 20_000_000 });
      });
    });
  }
}
atProcessor('stripe');
atProcessor('paddle');
