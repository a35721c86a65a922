/**
 * The usage counters (core/usage-windows.ts) as columns of `account_balances` (migration 0005):
 * for the day, the day before, the month and the month before, a start (null: none yet), a
 * value and tokens; and `usage_at`, the newest usage counted.
 */
import type { UsageWindows, WindowCount } from '../core/usage-windows.ts';

const WINDOWS = ['day', 'previous_day', 'month', 'previous_month'] as const;
type WindowName = (typeof WINDOWS)[number];

const NAMES = [...WINDOWS.flatMap((w) => [`${w}_starts_at`, `${w}_value_micros`, `${w}_tokens`]), 'usage_at'];

/** The columns to select, from `account_balances b`. */
export const WINDOW_COLUMNS = NAMES.map((name) => `b.${name}`).join(', ');
/** The columns of a `jsonb_to_recordset` row `v` that carries them. */
export const WINDOW_RECORD = NAMES.map((name) => `${name} ${name.endsWith('_at') ? 'timestamptz' : 'bigint'}`).join(', ');
/** An UPDATE's assignments from that row. */
export const WINDOW_SET = NAMES.map((name) => `${name} = v.${name}`).join(', ');

export type WindowRow = Record<`${WindowName}_starts_at` | 'usage_at', Date | null> & Record<`${WindowName}_value_micros` | `${WindowName}_tokens`, number>;

export function windowsFromRow(row: WindowRow): UsageWindows {
  const count = (w: WindowName): WindowCount | null => {
    const startsAt = row[`${w}_starts_at`];
    return startsAt === null ? null : { startsAt, valueMicros: row[`${w}_value_micros`], tokens: row[`${w}_tokens`] };
  };
  return {
    day: { current: count('day'), previous: count('previous_day') },
    month: { current: count('month'), previous: count('previous_month') },
    usageAt: row.usage_at,
  };
}

/** The counters as that row's fields (dates as ISO strings, for JSON). */
export function windowFields(windows: UsageWindows): Record<string, string | number | null> {
  const fields: Record<string, string | number | null> = { usage_at: windows.usageAt?.toISOString() ?? null };
  const put = (w: WindowName, count: WindowCount | null) => {
    fields[`${w}_starts_at`] = count?.startsAt.toISOString() ?? null;
    fields[`${w}_value_micros`] = count?.valueMicros ?? 0;
    fields[`${w}_tokens`] = count?.tokens ?? 0;
  };
  put('day', windows.day.current);
  put('previous_day', windows.day.previous);
  put('month', windows.month.current);
  put('previous_month', windows.month.previous);
  return fields;
}
