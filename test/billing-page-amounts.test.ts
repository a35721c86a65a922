/**
 * The billing page's form amounts in credits: what the form shows back (amountValue) reads back
 * (amountField) as the very same micro-dollars, whatever a credit is worth and however the amount
 * was set (the API takes any micro-dollars), so a form saved unchanged changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { amountField, amountValue, type Display } from '../src/billing-page/money.ts';

const inCredits = (creditValueMicros: number): Display => ({ displayUnit: 'credits', creditValueMicros });
const readBack = (shown: string, display: Display) => amountField({ threshold: shown }, 'threshold', 'When less than this is left', display);

describe('a form amount in credits', () => {
  it('is shown with the fewest decimals that say it', () => {
    expect(amountValue(2_500_000, inCredits(10_000))).toBe('250');
    expect(amountValue(2_505_000, inCredits(10_000))).toBe('250.5');
    expect(amountValue(2_505_001, inCredits(10_000))).toBe('250.5001');
    expect(amountValue(1, inCredits(1_000_000))).toBe('0.000001');
    expect(amountValue(Number.MAX_SAFE_INTEGER, inCredits(10_000))).toBe('900719925474.0991');
    // A third of a micro-dollar has no decimal: the nearest one that reads back as it.
    expect(amountValue(1, inCredits(3))).toBe('0.3');
    expect(amountValue(2, inCredits(3))).toBe('0.7');
  });

  it('reads back as the micro-dollars it was shown for, whatever a credit is worth', () => {
    let seed = 7;
    const next = () => (seed = (seed * 48_271) % 2_147_483_647);
    for (const creditValueMicros of [1, 3, 7, 10_000, 12_345, 25_000, 1_000_000, 99_999_999]) {
      const display = inCredits(creditValueMicros);
      const amounts = [1, creditValueMicros - 1, creditValueMicros, creditValueMicros + 1, 2_505_001, Number.MAX_SAFE_INTEGER, ...Array.from({ length: 200 }, () => next() * (next() % 1_000))];
      for (const micros of amounts.filter((m) => m > 0)) expect(readBack(amountValue(micros, display), display), `${micros} µ$ at ${creditValueMicros} µ$ a credit`).toBe(micros);
    }
  });

  it('is read as typed, to the nearest micro-dollar, and refused in words when it is no amount or too large', () => {
    expect(readBack('1,200.25', inCredits(10_000))).toBe(12_002_500);
    expect(readBack('0.00005', inCredits(10_000))).toBe(1); // half a micro-dollar, up
    expect(readBack('0.00004', inCredits(10_000))).toBe(0);
    expect(readBack(' ', inCredits(10_000))).toBeUndefined();
    expect(() => readBack('-5', inCredits(10_000))).toThrow('When less than this is left: "-5" is not an amount of credits such as 200 or 12.5');
    expect(() => readBack('1e9', inCredits(10_000))).toThrow('is not an amount of credits');
    expect(() => readBack('900719925474.0992', inCredits(10_000))).toThrow('When less than this is left: 900,719,925,474.0992 credits is more than 900,719,925,474, the most it can be');
  });
});
