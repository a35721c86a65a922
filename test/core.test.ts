/** The pure core: money, burn order and periods. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate, burnOrder, type DrawableBucket } from '../src/core/allocate.ts';
import { costFromValue, formatUsd, valueFromCost, type Micros } from '../src/core/money.ts';
import { anchoredMonthPeriod, calendarMonthPeriod, dayPeriod } from '../src/core/periods.ts';

const d = (iso: string) => new Date(iso);

describe('money', () => {
  it('sells $10 of cost as $20 of value at 50% margin, rounding value up', () => {
    expect(valueFromCost(10_000_000n * 1_000_000n, 5000)).toBe(20_000_000);
    expect(valueFromCost(1n, 5000)).toBe(1); // a pico-dollar of cost still costs a micro-dollar
    expect(valueFromCost(0n, 5000)).toBe(0);
    expect(costFromValue(10_000_000 as Micros, 5000)).toBe(5_000_000);
  });

  it('refuses a value past 2^53 micro-dollars instead of rounding it', () => {
    expect(() => valueFromCost(10n ** 18n, 9999)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('never sells value below its cost', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.integer({ min: 0, max: 9999 }), (costPicos, marginBps) => {
        const value = valueFromCost(costPicos, marginBps);
        expect(BigInt(value) * 1_000_000n * BigInt(10_000 - marginBps)).toBeGreaterThanOrEqual(costPicos * 10_000n);
      }),
    );
  });

  it('formats micro-dollars for people', () => {
    expect(formatUsd(20_000_000)).toBe('$20.00');
    expect(formatUsd(1_234_567_890)).toBe('$1,234.56789');
    expect(formatUsd(-540)).toBe('-$0.00054');
  });
});

describe('burn order', () => {
  const bucket = (id: number, priority: number, expiresAt: string | null, createdAt: string, remaining: number): DrawableBucket => ({
    id, priority, expiresAt: expiresAt ? d(expiresAt) : null, createdAt: d(createdAt), remainingMicros: remaining as Micros,
  });

  it('spends priority first, then soonest expiry, then oldest, then lowest id', () => {
    const buckets = [
      bucket(1, 20, null, '2026-01-01', 5),
      bucket(2, 10, null, '2026-01-01', 5),
      bucket(3, 10, '2026-06-01', '2026-02-01', 5),
      bucket(4, 10, '2026-05-01', '2026-03-01', 5),
      bucket(5, 10, null, '2025-12-01', 5),
      bucket(6, 10, null, '2025-12-01', 5),
    ];
    expect([...buckets].sort(burnOrder).map((b) => b.id)).toEqual([4, 3, 5, 6, 2, 1]);
    expect(allocate(buckets, 12 as Micros)).toEqual({
      allocations: [{ bucketId: 4, amountMicros: 5 }, { bucketId: 3, amountMicros: 5 }, { bucketId: 5, amountMicros: 2 }],
      shortfallMicros: 0,
    });
    expect(allocate(buckets, 40 as Micros).shortfallMicros).toBe(10);
  });

  it('allocates exactly the amount, or all there is plus the shortfall', () => {
    const arb = fc.array(fc.record({ priority: fc.integer({ min: 0, max: 3 }), remaining: fc.integer({ min: 0, max: 1000 }) }), { maxLength: 8 });
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 5000 }), (specs, amount) => {
        const buckets = specs.map((s, i) => bucket(i + 1, s.priority, null, '2026-01-01', s.remaining));
        const { allocations, shortfallMicros } = allocate(buckets, amount as Micros);
        const drawn = allocations.reduce((sum, a) => sum + a.amountMicros, 0);
        const total = specs.reduce((sum, s) => sum + s.remaining, 0);
        expect(drawn + shortfallMicros).toBe(amount);
        expect(shortfallMicros).toBe(Math.max(0, amount - total));
        for (const a of allocations) expect(a.amountMicros).toBeLessThanOrEqual(buckets[a.bucketId - 1]!.remainingMicros);
      }),
    );
  });
});

describe('periods', () => {
  it('counts paid months from the anchor, clamping short months', () => {
    const anchor = d('2026-01-31T10:00:00Z');
    expect(anchoredMonthPeriod(anchor, d('2026-02-15T00:00:00Z'))).toEqual({ start: anchor, end: d('2026-02-28T10:00:00Z') });
    expect(anchoredMonthPeriod(anchor, d('2026-03-01T00:00:00Z'))).toEqual({ start: d('2026-02-28T10:00:00Z'), end: d('2026-03-31T10:00:00Z') });
    expect(anchoredMonthPeriod(anchor, d('2026-03-31T10:00:00Z')).start).toEqual(d('2026-03-31T10:00:00Z'));
  });

  it('counts days and calendar months in the account time zone, across DST', () => {
    // Europe/Paris moves to summer time on 2026-03-29: that day has 23 hours.
    expect(dayPeriod(d('2026-03-29T12:00:00Z'), 'Europe/Paris')).toEqual({ start: d('2026-03-28T23:00:00Z'), end: d('2026-03-29T22:00:00Z') });
    expect(calendarMonthPeriod(d('2026-03-31T23:30:00Z'), 'Europe/Paris')).toEqual({ start: d('2026-03-31T22:00:00Z'), end: d('2026-04-30T22:00:00Z') });
    expect(calendarMonthPeriod(d('2026-03-31T23:30:00Z'), 'UTC')).toEqual({ start: d('2026-03-01T00:00:00Z'), end: d('2026-04-01T00:00:00Z') });
  });
});
