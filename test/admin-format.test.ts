/**
 * The panel's one money format (admin/format.ts usd, core/money.ts formatUsdRounded): to the
 * cent from a dollar up, three significant digits below a dollar and never fewer than cents,
 * rounded half away from zero; and rates of dollars per million tokens with at least cents.
 * support/amounts.ts says the rule as a check on text, which the scan of every page uses too.
 */
import { describe, expect, it } from 'vitest';
import { cents, rate, usd } from '../src/admin/format.ts';
import { formatCredits, formatUsd } from '../src/core/money.ts';
import { inRule, offRule, rateInRule } from './support/amounts.ts';

describe('usd: one format for amounts', () => {
  it.each([
    [0, '$0.00'],
    [1, '$0.000001'],
    [123, '$0.000123'],
    [999, '$0.000999'],
    [1_234, '$0.00123'],
    [12_345, '$0.0123'],
    [12_355, '$0.0124'],
    [100_000, '$0.10'],
    [850_000, '$0.85'],
    [854_582, '$0.855'],
    [854_499, '$0.854'],
    [999_499, '$0.999'],
    [999_500, '$1.00'],
    [1_000_000, '$1.00'],
    [1_004_999, '$1.00'],
    [1_005_000, '$1.01'],
    [84_390_000, '$84.39'],
    [84_385_000, '$84.39'],
    [84_384_999, '$84.38'],
    [1_234_567_890_000, '$1,234,567.89'],
    [-1, '-$0.000001'],
    [-854_582, '-$0.855'],
    [-84_390_000, '-$84.39'],
    [-4_000, '-$0.004'],
    [-4, '-$0.000004'],
  ])('%d µ$ → %s', (micros, shown) => {
    expect(usd(micros)).toBe(shown);
    expect(inRule(shown.replace('-', ''))).toBe(true);
  });

  it('never shows more than the amount rounded by half a step, and is exact under a tenth of a cent', () => {
    for (let micros = 0; micros < 1_000; micros++) expect(usd(micros)).toBe(formatUsd(micros));
    for (const micros of [1_001, 54_321, 333_333, 999_999, 1_999_999, 77_777_777]) {
      const shown = Number(usd(micros).replace(/[$,]/g, '')) * 1e6;
      const step = micros >= 1_000_000 ? 10_000 : 10 ** (String(micros).length - 3);
      expect(Math.abs(shown - micros)).toBeLessThanOrEqual(step / 2);
    }
  });

  it('shows prices in cents the same way', () => {
    expect(cents(0)).toBe('$0.00');
    expect(cents(5)).toBe('$0.05');
    expect(cents(20_00)).toBe('$20.00');
    expect(cents(123_456_789)).toBe('$1,234,567.89');
  });
});

describe('rate: dollars per million tokens', () => {
  it.each([
    ['0', '$0.00'],
    ['0.3', '$0.30'],
    ['2.5', '$2.50'],
    ['15', '$15.00'],
    ['0.075', '$0.075'],
    ['0.0375', '$0.0375'],
    ['1250', '$1,250.00'],
    ['0.08333333333333334', '≈ $0.0833'],
    ['0.00005', '≈ $0.0001'],
  ])('%s → %s', (decimal, shown) => {
    expect(rate(decimal)).toBe(shown);
    expect(rateInRule(shown)).toBe(true);
  });

  it('says a tiered rate by its base', () => {
    expect(rate({ base: '3', tiers: [{ start: 200_000, price: '6' }] })).toBe('$3.00+ (tiered)');
    expect(rate(undefined)).toBe('—');
  });
});

describe('the scan of a page for amounts off the rule', () => {
  it('finds exact amounts beside rounded ones, a rate without cents and a sum with too many digits', () => {
    expect(offRule('Available $84.39, used $0.854582')).toBe('$0.854582');
    expect(offRule('Input $0.3 per 1M tokens')).toBe('$0.3');
    expect(offRule('Collected $41.298999')).toBe('$41.298999');
    expect(offRule('Debt $1234.50')).toBe('$1234.50');
    expect(offRule('Sold at $0.850 and $0.0')).toBe('$0.850');
    expect(offRule('$20/month plus $10 per 1,000 extra credits; $0.50 included; $0.000123 a call; -$1,234,567.89.')).toBeUndefined();
    expect(rateInRule('$0.3')).toBe(false);
    expect(rateInRule('≈ $0.2143')).toBe(true);
  });
});

describe('credits: the same rule in credits', () => {
  it.each([
    [0, '0 credits'],
    [29, '0.0029 credits'],
    [2_910, '0.291 credits'],
    [2_915, '0.292 credits'],
    [5_000, '0.5 credits'],
    [9_999, '1 credit'],
    [10_000, '1 credit'],
    [12_345, '1.23 credits'],
    [1_234_567, '123.46 credits'],
    [10_000_000_000, '1,000,000 credits'],
    [-40, '-0.004 credits'],
  ])('%d µ$ at a cent a credit → %s', (micros, shown) => {
    expect(formatCredits(micros, 10_000)).toBe(shown);
  });

  it('never shows a call that cost something as nothing', () => {
    for (const micros of [1, 7, 49, 99, 499]) expect(formatCredits(micros, 10_000)).not.toMatch(/^-?0 credits$/);
  });
});
