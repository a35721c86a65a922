/**
 * The usage counters a plan's limits weigh: the value and tokens used in the account's day
 * and in its month (its plan period). A window is known by its start, which depends on the
 * account's time zone and plan anchor. Two windows of each kind are kept, the current one and
 * the one before it, so that usage near a boundary counts in its own window even when the
 * processes' clocks disagree a little about which side of midnight they are on.
 *
 * Usage in a kept window adds to it. Usage in a window that starts later moves the windows on.
 * Usage in an earlier window moves them on too if it is at least as new as the newest usage
 * counted: the time zone or plan changed, and days or months now start earlier. Older usage of
 * an earlier window is late (a process whose clock lags): it becomes the previous window if it
 * is later than the one kept there, and is left out if it is older still, a window long past.
 */
export interface WindowCount {
  startsAt: Date;
  valueMicros: number;
  tokens: number;
}

export interface WindowPair {
  current: WindowCount | null;
  previous: WindowCount | null;
}

export interface UsageWindows {
  day: WindowPair;
  month: WindowPair;
  /** When the newest usage counted happened. */
  usageAt: Date | null;
}

export type WindowKind = 'day' | 'month';

export const NO_USAGE: UsageWindows = { day: { current: null, previous: null }, month: { current: null, previous: null }, usageAt: null };

/** A charge as the counters see it: when it happened, the windows it falls in, what it used. */
export interface CountedUsage {
  at: Date;
  dayStart: Date;
  monthStart: Date;
  valueMicros: number;
  tokens: number;
}

const sameStart = (w: WindowCount | null, start: Date): boolean => w !== null && w.startsAt.getTime() === start.getTime();

function countIn(pair: WindowPair, start: Date, usage: CountedUsage, newest: boolean): WindowPair {
  const added = (w: WindowCount): WindowCount => ({ startsAt: w.startsAt, valueMicros: w.valueMicros + usage.valueMicros, tokens: w.tokens + usage.tokens });
  if (sameStart(pair.current, start)) return { current: added(pair.current!), previous: pair.previous };
  if (sameStart(pair.previous, start)) return { current: pair.current, previous: added(pair.previous!) };
  const fresh: WindowCount = { startsAt: start, valueMicros: usage.valueMicros, tokens: usage.tokens };
  if (pair.current === null || start > pair.current.startsAt || newest) return { current: fresh, previous: pair.current };
  if (pair.previous === null || start > pair.previous.startsAt) return { current: pair.current, previous: fresh };
  return pair;
}

/** The counters after one more charge. */
export function countUsage(windows: UsageWindows, usage: CountedUsage): UsageWindows {
  const newest = windows.usageAt === null || usage.at >= windows.usageAt;
  return {
    day: countIn(windows.day, usage.dayStart, usage, newest),
    month: countIn(windows.month, usage.monthStart, usage, newest),
    usageAt: newest ? usage.at : windows.usageAt,
  };
}

/** What the window of `kind` that starts at `start` has used: nothing if it is not one of those kept. */
export function usedIn(windows: UsageWindows, kind: WindowKind, start: Date): { valueMicros: number; tokens: number } {
  const { current, previous } = windows[kind];
  const window = sameStart(current, start) ? current : sameStart(previous, start) ? previous : null;
  return window ? { valueMicros: window.valueMicros, tokens: window.tokens } : { valueMicros: 0, tokens: 0 };
}
