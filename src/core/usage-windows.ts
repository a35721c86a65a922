/**
 * The usage counters a plan's limits weigh: the value and tokens used in the account's current
 * day and current month (its plan period). Only the current window of each kind is kept; a
 * window is known by its start, which depends on the account's time zone and plan anchor.
 *
 * Counting is by the newest usage: usage in the window counted adds to it; usage in another
 * window replaces it if it is at least as new as the newest counted (the day moved on, or the
 * plan or time zone changed); older usage in another window (a process whose clock lags at
 * midnight) belongs to a past window and is left out, rather than reset the current one.
 */
export interface WindowCount {
  startsAt: Date;
  valueMicros: number;
  tokens: number;
}

export interface UsageWindows {
  day: WindowCount | null;
  month: WindowCount | null;
  /** When the newest usage counted happened. */
  usageAt: Date | null;
}

export type WindowKind = 'day' | 'month';

export const NO_USAGE: UsageWindows = { day: null, month: null, usageAt: null };

/** A charge as the counters see it. */
export interface CountedUsage {
  at: Date;
  dayStart: Date;
  monthStart: Date;
  valueMicros: number;
  tokens: number;
}

/** Charges written together, as one update: the newest one's windows, and what of the rest fell in them. */
export interface UsageBatch {
  at: Date;
  day: WindowCount;
  month: WindowCount;
}

export function batchOf(usages: readonly CountedUsage[]): UsageBatch {
  const newest = usages.reduce((a, b) => (b.at >= a.at ? b : a));
  const sumIn = (start: (u: CountedUsage) => Date): WindowCount => {
    const inWindow = usages.filter((u) => start(u).getTime() === start(newest).getTime());
    return { startsAt: start(newest), valueMicros: inWindow.reduce((s, u) => s + u.valueMicros, 0), tokens: inWindow.reduce((s, u) => s + u.tokens, 0) };
  };
  return { at: newest.at, day: sumIn((u) => u.dayStart), month: sumIn((u) => u.monthStart) };
}

/** The counters after a batch of charges; the charge statement applies the same rule in SQL (charge-write.ts). */
export function countBatch(windows: UsageWindows, batch: UsageBatch): UsageWindows {
  const newer = windows.usageAt === null || batch.at >= windows.usageAt;
  const next = (current: WindowCount | null, added: WindowCount): WindowCount | null => {
    if (current && current.startsAt.getTime() === added.startsAt.getTime()) {
      return { startsAt: current.startsAt, valueMicros: current.valueMicros + added.valueMicros, tokens: current.tokens + added.tokens };
    }
    return newer ? added : current;
  };
  return {
    day: next(windows.day, batch.day),
    month: next(windows.month, batch.month),
    usageAt: newer ? batch.at : windows.usageAt,
  };
}

/** What the window of `kind` that starts at `start` has used: nothing if it is not the one counted. */
export function usedIn(windows: UsageWindows, kind: WindowKind, start: Date): { valueMicros: number; tokens: number } {
  const window = windows[kind];
  return window && window.startsAt.getTime() === start.getTime() ? { valueMicros: window.valueMicros, tokens: window.tokens } : { valueMicros: 0, tokens: 0 };
}
