/** The pure core: money, burn order, periods and usage windows. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate, burnOrder, type DrawableBucket } from '../src/core/allocate.ts';
import { costFromValue, formatUsd, valueFromCost, type Micros } from '../src/core/money.ts';
import { anchoredMonthPeriod, calendarMonthPeriod, dayPeriod } from '../src/core/periods.ts';
import { NO_USAGE, countUsage, usedIn, type CountedUsage, type UsageWindows } from '../src/core/usage-windows.ts';
import { CLOCK_TOLERANCE_MS } from '../src/core/time.ts';

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

describe('usage windows', () => {
  const usage = (at: string, dayStart: string, monthStart: string, valueMicros: number): CountedUsage => ({
    at: d(at), dayStart: d(dayStart), monthStart: d(monthStart), valueMicros, tokens: valueMicros / 10,
  });
  const count = (windows: UsageWindows, ...usages: CountedUsage[]) => usages.reduce(countUsage, windows);
  const march = '2026-03-01T00:00:00Z';
  const [eighth, ninth, tenth, eleventh] = ['2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z', '2026-03-10T00:00:00Z', '2026-03-11T00:00:00Z'];
  /** What the gate weighs for the window, read at `at` (by default, as of the newest usage counted). */
  const used = (w: UsageWindows, kind: 'day' | 'month', start: string, at?: string) => usedIn(w, kind, d(start), at ? d(at) : w.usageAt!).valueMicros;

  it('adds usage in the current windows, and counts nothing yet for a window that starts later', () => {
    const w = count(NO_USAGE, usage('2026-03-10T09:00:00Z', tenth, march, 100), usage('2026-03-10T10:00:00Z', tenth, march, 50));
    expect(usedIn(w, 'day', d(tenth), w.usageAt!)).toEqual({ valueMicros: 150, tokens: 15 });
    expect(usedIn(w, 'month', d(march), w.usageAt!)).toEqual({ valueMicros: 150, tokens: 15 });
    expect(used(w, 'day', eleventh, '2026-03-11T00:00:00Z')).toBe(0);
  });

  it('starts a new day at its first usage, keeps the one before, and keeps the month going', () => {
    const w = count(NO_USAGE, usage('2026-03-10T23:59:00Z', tenth, march, 100), usage('2026-03-11T00:01:00Z', eleventh, march, 30));
    expect([used(w, 'day', tenth), used(w, 'day', eleventh), used(w, 'month', march)]).toEqual([100, 30, 130]);
    expect(w.usageAt).toEqual(d('2026-03-11T00:01:00Z'));
  });

  it("counts usage of the day before in that day, when a process's clock lags past midnight", () => {
    let w = count(NO_USAGE, usage('2026-03-10T20:00:00Z', tenth, march, 100), usage('2026-03-11T00:01:00Z', eleventh, march, 30));
    w = count(w, usage('2026-03-10T23:59:59Z', tenth, march, 5));
    expect([used(w, 'day', tenth, '2026-03-10T23:59:59Z'), used(w, 'day', eleventh), used(w, 'month', march)]).toEqual([105, 30, 135]);
    expect(w.usageAt).toEqual(d('2026-03-11T00:01:00Z'));
  });

  it('never weighs or counts a window older than the newest kept as a fresh one: a clock two days back', () => {
    let w = count(NO_USAGE, usage('2026-03-09T12:00:00Z', ninth, march, 60), usage('2026-03-10T12:00:00Z', tenth, march, 100));
    // Two days back, the gate weighs the newest day, and usage counts in it.
    expect(used(w, 'day', eighth, '2026-03-08T12:00:00Z')).toBe(100);
    w = count(w, usage('2026-03-08T12:00:00Z', eighth, march, 7));
    expect([used(w, 'day', eighth, '2026-03-08T12:00:01Z'), used(w, 'day', ninth), used(w, 'day', tenth), used(w, 'month', march)]).toEqual([107, 60, 107, 167]);
    // One day back is more than clocks may disagree: the gate weighs the larger of that day and the newest.
    expect(used(w, 'day', ninth, '2026-03-09T12:00:00Z')).toBe(107);
    w = count(w, usage('2026-03-09T12:00:00Z', ninth, march, 3));
    expect([used(w, 'day', ninth), used(w, 'day', tenth)]).toEqual([60, 110]);
    expect(w.usageAt).toEqual(d('2026-03-10T12:00:00Z'));
  });

  it('weighs the newest month for a month two back, and a month two ahead then set back weighs what it spent', () => {
    const january = '2026-01-01T00:00:00Z';
    const may = '2026-05-01T00:00:00Z';
    let w = count(NO_USAGE, usage('2026-03-10T12:00:00Z', tenth, march, 100));
    expect(used(w, 'month', january, '2026-01-10T12:00:00Z')).toBe(100);
    w = count(w, usage('2026-05-10T12:00:00Z', '2026-05-10T00:00:00Z', may, 40));
    expect([used(w, 'month', march, '2026-03-10T13:00:00Z'), used(w, 'day', tenth, '2026-03-10T13:00:00Z')]).toEqual([100, 100]);
    w = count(w, usage('2026-03-10T13:00:00Z', tenth, march, 80));
    expect([used(w, 'month', march, '2026-03-10T13:00:01Z'), used(w, 'month', may)]).toEqual([120, 120]);
  });

  it('moves to a window that starts earlier, its count carried over, when the usage is newer (a new time zone, a plan that ended)', () => {
    const anchored = '2026-03-05T12:00:00Z';
    let w = count(NO_USAGE, usage('2026-03-10T12:00:00Z', '2026-03-10T05:00:00Z', anchored, 100));
    expect([used(w, 'day', tenth, '2026-03-10T12:01:00Z'), used(w, 'month', march, '2026-03-10T12:01:00Z')]).toEqual([100, 100]);
    w = count(w, usage('2026-03-10T12:01:00Z', tenth, march, 7));
    expect([used(w, 'day', tenth), used(w, 'month', march), used(w, 'month', anchored)]).toEqual([107, 107, 100]);
    w = count(w, usage('2026-03-10T12:02:00Z', tenth, march, 1));
    expect([used(w, 'day', tenth), used(w, 'month', march)]).toEqual([108, 108]);
  });

  it('saturates at Number.MAX_SAFE_INTEGER', () => {
    const huge = { ...usage('2026-03-10T09:00:00Z', tenth, march, Number.MAX_SAFE_INTEGER - 5), tokens: Number.MAX_SAFE_INTEGER - 5 };
    const w = count(NO_USAGE, huge, { ...huge, at: d('2026-03-10T10:00:00Z') });
    expect(usedIn(w, 'day', d(tenth), w.usageAt!)).toEqual({ valueMicros: Number.MAX_SAFE_INTEGER, tokens: Number.MAX_SAFE_INTEGER });
    expect(Number.isSafeInteger(used(w, 'month', march))).toBe(true);
  });

  it('in any order, counts every usage exactly once; in its own day when it comes in time order, give or take the clocks\' tolerance', () => {
    const days = [ninth, tenth, eleventh];
    // Calls on the 10th and 11th, many near midnight; each arrives `delay` after it happened
    // (up to the tolerance: clocks that disagree), or in any order at all.
    const second = fc.oneof(fc.nat(86_399), fc.integer({ min: 86_100, max: 86_399 }), fc.integer({ min: 0, max: 300 }));
    const call = fc.record({ day: fc.integer({ min: 1, max: 2 }), second, value: fc.nat(1_000_000), delay: fc.integer({ min: 0, max: CLOCK_TOLERANCE_MS }) });
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 30 }), fc.boolean(), fc.nat(), (calls, skewed, seed) => {
        const at = (c: (typeof calls)[number]) => d(days[c.day]!).getTime() + c.second * 1000;
        const arrival = skewed
          ? [...calls].sort((a, b) => at(a) + a.delay - (at(b) + b.delay))
          : calls.map((c, i) => ({ c, k: (i * 7919 + seed) % 104_729 })).sort((a, b) => a.k - b.k).map(({ c }) => c);
        const w = count(NO_USAGE, ...arrival.map((c) => usage(new Date(at(c)).toISOString(), days[c.day]!, march, c.value)));
        const total = calls.reduce((sum, c) => sum + c.value, 0);
        expect(used(w, 'month', march)).toBe(total);
        expect(w.day.current!.valueMicros + (w.day.previous?.valueMicros ?? 0)).toBe(total);
        // Arriving within the tolerance of time order, once its day has been counted in, each
        // counts in its own day.
        const firstOf = (day: number) => arrival.findIndex((c) => c.day === day);
        const inOrder =
          (firstOf(1) < firstOf(2) || firstOf(2) === -1) && arrival.every((c, i) => arrival.slice(0, i).every((b) => at(b) <= at(c) + CLOCK_TOLERANCE_MS));
        for (const day of inOrder ? [1, 2] : []) {
          const own = calls.filter((c) => c.day === day);
          if (own.length > 0) expect(used(w, 'day', days[day]!)).toBe(own.reduce((sum, c) => sum + c.value, 0));
        }
      }),
      { numRuns: 300 },
    );
  });
});
