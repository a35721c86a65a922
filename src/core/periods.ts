/**
 * Time windows. Days are calendar days in the account's time zone. Months are the plan's
 * billing period: calendar months in the account's time zone for a plan without a
 * subscription anchor (the free plan), else whole months counted from the anchor
 * (Jan 31 → Feb 28 → Mar 31, as processors bill).
 */
import { Temporal } from 'temporal-polyfill';
import { BillingError } from './errors.ts';

export interface Period {
  start: Date;
  end: Date;
}

function zoned(at: Date, timeZone: string): Temporal.ZonedDateTime {
  return Temporal.Instant.fromEpochMilliseconds(at.getTime()).toZonedDateTimeISO(timeZone);
}

function toDate(z: Temporal.ZonedDateTime): Date {
  return new Date(z.epochMilliseconds);
}

export function assertTimeZone(timeZone: string): string {
  let id: string;
  try {
    id = Temporal.Now.instant().toZonedDateTimeISO(timeZone).timeZoneId;
  } catch {
    throw new BillingError('invalid_input', `Unknown time zone "${timeZone}": use an IANA name such as "UTC" or "Europe/Paris"`);
  }
  // An offset such as "+05:45" is a zone to Temporal only: PostgreSQL reads it with the sign
  // reversed (POSIX), so usage by day would fall on other days than the limits count.
  if (/^[+-]/.test(id)) {
    throw new BillingError('invalid_input', `Time zone "${timeZone}" is an offset, not a named zone: use an IANA name such as "Asia/Kathmandu" or "America/St_Johns"`);
  }
  return timeZone;
}

/**
 * Time-zone arithmetic costs tens of microseconds and every AI call asks for the same few
 * periods, so the last period computed per key is kept while `at` stays inside it.
 */
function remembered(compute: (at: Date, key: string) => Period): (at: Date, key: string) => Period {
  const last = new Map<string, Period>();
  return (at, key) => {
    const hit = last.get(key);
    if (hit && hit.start <= at && at < hit.end) return hit;
    const period = compute(at, key);
    if (last.size > 10_000) last.clear();
    last.set(key, period);
    return period;
  };
}

export const dayPeriod: (at: Date, timeZone: string) => Period = remembered((at, timeZone) => {
  const start = zoned(at, timeZone).startOfDay();
  return { start: toDate(start), end: toDate(start.add({ days: 1 }).startOfDay()) };
});

export const calendarMonthPeriod: (at: Date, timeZone: string) => Period = remembered((at, timeZone) => {
  const start = zoned(at, timeZone).with({ day: 1 }).startOfDay();
  return { start: toDate(start), end: toDate(start.add({ months: 1 }).startOfDay()) };
});

const anchoredMonth = remembered((at, anchorIso) => computeAnchoredMonth(new Date(anchorIso), at));

/** The month-long period, counted from `anchor`, that contains `at` (at ≥ anchor). */
export function anchoredMonthPeriod(anchor: Date, at: Date): Period {
  return anchoredMonth(at, anchor.toISOString());
}

function computeAnchoredMonth(anchor: Date, at: Date): Period {
  const origin = zoned(anchor, 'UTC');
  const elapsed = zoned(at, 'UTC');
  let months = (elapsed.year - origin.year) * 12 + (elapsed.month - origin.month);
  const startOf = (k: number) => toDate(origin.add({ months: k }));
  if (months < 0) months = 0;
  while (months > 0 && startOf(months) > at) months -= 1;
  while (startOf(months + 1) <= at) months += 1;
  return { start: startOf(months), end: startOf(months + 1) };
}

export function billingPeriod(anchor: Date | null, at: Date, timeZone: string): Period {
  return anchor ? anchoredMonthPeriod(anchor, at) : calendarMonthPeriod(at, timeZone);
}
