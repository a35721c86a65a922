/**
 * What is on sale and buying it: the public pricing table (plans and packs in their order,
 * usage value in the display unit), checkout through the account's processor (the fake one),
 * and admin changes showing in both.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { apiWorld, TEST_MODEL } from './support/api-world.ts';
import { useApi } from './support/http.ts';

for (const engine of ENGINES) {
  describe(`pricing and checkout over HTTP on ${engine.name}`, () => {
    const api = useApi(engine);
    const pricing = async () => (await api.call('GET', '/v1/pricing', undefined, { Authorization: null })).body;

    it('shows the active public plans and packs, usage value in credits with what a credit is worth', async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      expect(await pricing()).toEqual({
        unit: 'credits',
        credit: { micros: 10_000, display: '$0.01' },
        plans: [
          {
            slug: 'free', name: 'Free', price: { cents: 0, display: '$0.00' }, free: true, default: true,
            included: { micros: 500_000, amount: 50, display: '50 credits' },
            limits: [
              { window: 'day', unit: 'usd', value: { micros: 100_000, amount: 10, display: '10 credits' }, tokens: null, display: '10 credits a day' },
              { window: 'month', unit: 'usd', value: { micros: 500_000, amount: 50, display: '50 credits' }, tokens: null, display: '50 credits a month' },
            ],
            overage: 'block', models: expect.arrayContaining(['gpt-4o-mini', 'claude-haiku-*']),
          },
          {
            slug: 'plus', name: 'Plus', price: { cents: 20_00, display: '$20.00' }, free: false, default: false,
            included: { micros: 20_000_000, amount: 2_000, display: '2,000 credits' }, limits: [], overage: 'credits', models: [],
          },
        ],
        packs: [
          {
            slug: 'extra-10', name: '1,000 extra credits', price: { cents: 10_00, display: '$10.00' },
            value: { micros: 10_000_000, amount: 1_000, display: '1,000 credits' }, bonus: { micros: 0, amount: 0, display: '0 credits' },
            expiresAfterDays: null, addOn: true,
          },
        ],
      });
    });

    it('shows dollars when the display unit is usd, a pack\'s bonus and expiry, token limits, and follows the sort order', async () => {
      await api.billing.admin.applyPreset('credit-packs');
      await api.call('PATCH', '/v1/admin/settings', { displayUnit: 'usd' });
      await api.call('PATCH', '/v1/admin/packs/credits-50', { sort: -1, expiresAfterDays: 365 });
      await api.call('POST', '/v1/admin/packs', { slug: 'hidden', name: 'Hidden', priceCents: 1_00, public: false });
      await api.call('POST', '/v1/admin/packs', { slug: 'gone', name: 'Gone', priceCents: 1_00, status: 'archived' });
      await api.call('PATCH', '/v1/admin/plans/payg', { limits: [{ window: 'day', unit: 'tokens', amount: 2_500_000 }] });
      const table = await pricing();
      expect(table.unit).toBe('usd');
      expect(table.credit).toBeNull();
      expect(table.plans).toEqual([
        expect.objectContaining({ slug: 'payg', included: { micros: 100_000, amount: 0.1, display: '$0.10' }, limits: [{ window: 'day', unit: 'tokens', value: null, tokens: 2_500_000, display: '2,500,000 tokens a day' }] }),
      ]);
      expect(table.packs.map((p: { slug: string }) => p.slug)).toEqual(['credits-50', 'credits-10']);
      expect(table.packs[0]).toMatchObject({
        price: { cents: 50_00, display: '$50.00' }, value: { micros: 55_000_000, amount: 55, display: '$55.00' }, bonus: { micros: 5_000_000, amount: 5, display: '$5.00' },
        expiresAfterDays: 365, addOn: false,
      });
      // Credits worth 2.5 cents each.
      await api.call('PATCH', '/v1/admin/settings', { displayUnit: 'credits', creditValueMicros: 25_000 });
      const credits = await pricing();
      expect(credits.credit).toEqual({ micros: 25_000, display: '$0.025' });
      expect(credits.packs[1].value).toEqual({ micros: 10_000_000, amount: 400, display: '400 credits' });
      expect(credits.plans[0].included).toEqual({ micros: 100_000, amount: 4, display: '4 credits' });
    });

    it('leaves out a pack no plan on sale can spend, and offers it again once one can', async () => {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      const packs = async () => (await pricing()).packs.map((p: { slug: string }) => p.slug);
      await api.call('POST', '/v1/admin/packs', { slug: 'any', name: 'For anyone', priceCents: 5_00 });
      expect(await packs()).toEqual(['any', 'extra-10']); // by sort, then price
      // Plus blocks at its allowance: no plan on sale spends packs.
      await api.call('PATCH', '/v1/admin/plans/plus', { overage: 'block' });
      expect(await packs()).toEqual([]);
      // Free spends packs: the pack for anyone is back, the add-on (for paid plans only) is not.
      await api.call('PATCH', '/v1/admin/plans/free', { overage: 'credits' });
      expect(await packs()).toEqual(['any']);
      // A plan that spends packs but is hidden, and not the default, sells nothing.
      await api.call('PATCH', '/v1/admin/plans/plus', { overage: 'credits', public: false });
      expect(await packs()).toEqual(['any']);
      await api.call('PATCH', '/v1/admin/plans/plus', { public: true });
      expect(await packs()).toEqual(['any', 'extra-10']); // by sort, then price
      const checks = await api.call('GET', '/v1/admin/checks');
      expect(checks.body).toEqual({ data: [] });
    });

    it('subscribes, buys a pack and cancels through the fake processor, and the balance shows each', async () => {
      await apiWorld(api.billing);
      const subscription = await api.call('POST', '/v1/accounts/solo/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'sub-1' });
      expect(subscription.status).toBe(200);
      expect(subscription.body).toMatchObject({ accountId: 'solo', plan: { slug: 'plus' }, periodStart: '2026-03-10T12:00:00.000Z', periodEnd: '2026-04-10T12:00:00.000Z', endsAt: null });
      const account = await api.call('GET', '/v1/accounts/solo');
      expect(account.body).toMatchObject({ id: 'solo', kind: 'personal', planId: subscription.body.plan.id, planAnchorAt: '2026-03-10T12:00:00.000Z', processor: 'fake' });

      const purchase = await api.call('POST', '/v1/accounts/solo/purchases', { pack: 'extra-10' }, { 'Idempotency-Key': 'buy-1' });
      expect(purchase.status).toBe(201);
      expect(purchase.body).toEqual({ paymentRef: expect.stringMatching(/^fake_pay_/), bucketId: expect.any(Number), valueMicros: 10_000_000, debtPaidMicros: 0, replayed: false });
      // The retry of a purchase buys nothing more.
      const retry = await api.call('POST', '/v1/accounts/solo/purchases', { pack: 'extra-10' }, { 'Idempotency-Key': 'buy-1' });
      expect(retry.body).toEqual({ ...purchase.body, replayed: true });
      const balance = await api.call('GET', '/v1/accounts/solo/balance');
      expect(balance.body.availableMicros).toBe(30_000_000);
      expect(balance.body.buckets.map((b: { source: string; remainingMicros: number; usable: boolean }) => [b.source, b.remainingMicros, b.usable])).toEqual([
        ['allowance', 20_000_000, true],
        ['pack', 10_000_000, true],
      ]);

      const cancel = await api.call('POST', '/v1/accounts/solo/subscription/cancel', undefined, { 'Idempotency-Key': 'cancel-1' });
      expect(cancel.status).toBe(200);
      expect(cancel.body).toMatchObject({ plan: { slug: 'plus' }, endsAt: '2026-04-10T12:00:00.000Z' });
      const now = await api.call('POST', '/v1/accounts/solo/subscription/cancel', { immediately: true }, { 'Idempotency-Key': 'cancel-2' });
      expect(now.body.endsAt).toBe('2026-03-10T12:00:00.000Z');
      const again = await api.call('POST', '/v1/accounts/solo/subscription/cancel', {}, { 'Idempotency-Key': 'cancel-3' });
      expect({ status: again.status, code: again.body.error.code }).toEqual({ status: 409, code: 'no_subscription' });
    });

    it('refuses a pack the account\'s plan could never spend, naming the plans that can', async () => {
      await apiWorld(api.billing);
      await api.call('POST', '/v1/admin/packs', { slug: 'starter-pack', name: 'Starter pack', priceCents: 5_00 });
      const reply = await api.refused(409, 'pack_not_usable', 'POST', '/v1/accounts/solo/purchases', { pack: 'starter-pack' }, { 'Idempotency-Key': 'nope' });
      expect(reply.body.error.remedy).toEqual({ kind: 'upgrade', plans: ['plus'] });
      const archived = await api.call('POST', '/v1/admin/presets/tiers/apply');
      expect(archived.body.pricingMode).toBe('tiers');
      const gone = await api.refused(404, 'pack_not_found', 'POST', '/v1/accounts/acme/purchases', { pack: 'extra-10' }, { 'Idempotency-Key': 'gone' });
      expect(gone.body.error.message).toMatch(/no longer sold/);
      const legacy = await api.refused(409, 'plan_not_available', 'POST', '/v1/accounts/solo/subscription', { plan: 'plus' }, { 'Idempotency-Key': 'legacy' });
      expect(legacy.body.error.message).toMatch(/legacy/);
    });

    it('prices the next call with an admin\'s model price, and plans and settings read back as written', async () => {
      await apiWorld(api.billing);
      const price = await api.call('POST', '/v1/admin/model-prices', { ...TEST_MODEL, effectiveFrom: '2026-03-10T00:00:00Z', rates: { input: 10, output: { base: '20', tiers: [{ start: 100_000, price: '40' }] } } });
      expect(price.status).toBe(201);
      expect(price.body).toEqual({ source: 'override', provider: 'test', model: 'test-model', effectiveFrom: '2026-03-10T00:00:00.000Z', rates: { input: '10', output: { base: '20', tiers: [{ start: 100_000, price: '40' }] } } });
      const auth = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 0 });
      expect(auth.body.hold.amountMicros).toBe(20_000); // $10 per million, at a 50% margin

      const plan = await api.call('PATCH', '/v1/admin/plans/plus', { includedMicros: 1_000_000, models: ['test-*'] });
      expect(plan.body).toMatchObject({ slug: 'plus', priceCents: 20_00, includedMicrosOverride: 1_000_000, models: ['test-*'] });
      expect((await api.call('GET', '/v1/admin/plans/plus')).body).toEqual(plan.body);
      expect((await api.call('GET', '/v1/admin/plans')).body.data.map((p: { slug: string }) => p.slug)).toEqual(['free', 'plus']);
      const settings = await api.call('PATCH', '/v1/admin/settings', { marginBps: 2_000, holdTtlSeconds: 60 });
      expect(settings.body).toMatchObject({ marginBps: 2_000, holdTtlSeconds: 60, displayUnit: 'credits', pricingMode: 'subscription-plus-packs', fallbackPrice: null });
      expect((await api.call('GET', '/v1/admin/settings')).body).toEqual(settings.body);
      const next = await api.call('POST', '/v1/accounts/acme/authorize', { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 0 });
      expect(next.body.hold.amountMicros).toBe(12_500); // $0.01 of cost at a 20% margin
      expect(Date.parse(next.body.hold.expiresAt) - api.clock.now.getTime()).toBe(60_000);
      const credit = await api.call('POST', '/v1/accounts/acme/credits', { source: 'adjustment', amountMicros: 1_000, reference: 'fix-1' }, { 'Idempotency-Key': 'fix-1' });
      expect(credit.status).toBe(201);
      // The reference makes the credit once, whatever key a second request carries.
      const repeat = await api.call('POST', '/v1/accounts/acme/credits', { source: 'adjustment', amountMicros: 1_000, reference: 'fix-1' }, { 'Idempotency-Key': 'fix-1-again' });
      expect([repeat.status, repeat.body]).toEqual([200, { ...credit.body, created: false }]);
    });
  });
}
