/**
 * A call's value is its exact cost at the margin rounded up once, to the micro-dollar, however
 * fine the rates: never below its cost, and never free when its cost is not nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { valueFromCost } from '../src/core/money.ts';
import { costOf } from '../src/core/pricing/cost.ts';
import { decimalToYoctos } from '../src/core/pricing/price.ts';
import { priceEntryFromRates } from '../src/core/pricing/rates.ts';
import { ENGINES, useBilling } from './support/harness.ts';

const YOCTOS_PER_MICRO = 10n ** 18n;

describe('the value of a call', () => {
  it('is the exact cost at the margin rounded up once, for rates finer than a pico-dollar a token', () => {
    const rate = fc.oneof(
      fc.tuple(fc.nat(3), fc.bigInt({ min: 0n, max: 10n ** 18n - 1n })).map(([whole, fraction]) => `${whole}.${String(fraction).padStart(18, '0')}`),
      fc.constantFrom('0', '0.0000004', '0.000000000000000001', '0.08333333333333334'),
    );
    fc.assert(
      fc.property(rate, rate, fc.nat(2_000), fc.nat(2_000), fc.integer({ min: 0, max: 9999 }), (input, output, inputTokens, outputTokens, marginBps) => {
        const entry = priceEntryFromRates({ source: 'override', provider: 'p', model: 'm', rates: { input, output } });
        const yoctos = BigInt(inputTokens) * decimalToYoctos(input) + BigInt(outputTokens) * decimalToYoctos(output);
        const value = BigInt(valueFromCost(costOf(entry, { inputTokens, outputTokens }).costPicos, marginBps));
        // value ≥ cost / (1 − margin) > value − 1, in yocto-dollars × basis points.
        const kept = BigInt(10_000 - marginBps);
        expect(value * YOCTOS_PER_MICRO * kept).toBeGreaterThanOrEqual(yoctos * 10_000n);
        expect((value - 1n) * YOCTOS_PER_MICRO * kept).toBeLessThan(yoctos * 10_000n);
      }),
      { numRuns: 3000 },
    );
  });
});

for (const engine of ENGINES) {
  describe(`a call of a model priced below a pico-dollar a token on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('is charged a micro-dollar, not nothing', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 0 });
      await billing.upsertAccount({ id: 'acc', kind: 'personal' });
      await billing.credit('acc', { source: 'bonus', amountMicros: 1_000_000, reference: 'seed' });
      // $0.0000004 a million tokens: 0.4 pico-dollars a token.
      await billing.admin.setModelPrice({ provider: 'p', model: 'near-free', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '0.0000004', output: '0.0000004' } });
      await billing.admin.updateSettings({ marginBps: 0 });
      const charge = await billing.record('acc', { model: 'near-free', provider: 'p', usage: { inputTokens: 1, outputTokens: 0 } }, { idempotencyKey: 'k' });
      expect(charge).toMatchObject({ costMicros: 0, valueMicros: 1 });
      expect((await billing.balance('acc')).availableMicros).toBe(1_000_000 - 1);
    });
  });
}
