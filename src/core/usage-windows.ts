/**
 * The usage counters a plan's limits weigh: the value and tokens used in the account's day
 * and in its month (its plan period). A window is known by its start, which depends on the
 * account's time zone and plan anchor. Two windows of each kind are kept, the current one (the
 * newest) and the one before it, so that usage near a boundary counts in its own window even
 * when the processes' clocks disagree a little about which side of midnight they are on.
 *
 * Usage in a kept window adds to it. Usage in a window that starts later moves the windows on
 * (a day that began before the newest usage counted, in a new time zone, with its count).
 * A window older than the newest kept never reads or counts as a fresh, empty counter:
 *   - usage in it counts in the newest window; if it is also the newest usage counted, the
 *     account's days or months now start earlier (a new time zone, a plan that ended), and the
 *     newest window takes its start, its count carried over;
 *   - the gate weighs the newest window for it;
 *   - the previous window is the exception, for clocks within CLOCK_TOLERANCE_MS of the
 *     newest usage: it counts, and is weighed, on its own.
 * Usage, or a read, more than that behind the newest usage counted comes from a clock that went
 * back: it counts in the newest window, and the gate weighs at least the newest window for it.
 * Counters saturate at Number.MAX_SAFE_INTEGER: a limit is a brake, not a bill.
 */
import { CLOCK_TOLERANCE_MS } from './time.ts';

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

export interface WindowUse {
  valueMicros: number;
  tokens: number;
}

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

/** Saturating addition: a counter never passes Number.MAX_SAFE_INTEGER. */
const plus = (a: number, b: number): number => Math.min(Number.MAX_SAFE_INTEGER, a + b);

/** Is `at` further behind the newest usage counted than clocks may disagree: a clock gone back? */
function late(windows: UsageWindows, at: Date): boolean {
  return windows.usageAt !== null && at.getTime() < windows.usageAt.getTime() - CLOCK_TOLERANCE_MS;
}

/**
 * A day that starts later than the newest kept, but no later than the newest usage counted:
 * days of a new time zone further west. That usage happened in it too, so it is no fresh,
 * empty day. (Not months: a later month is a new period, as a plan bought or renewed opens.)
 */
function laterDayAlreadyUsed(windows: UsageWindows, kind: WindowKind, start: Date): boolean {
  const current = windows[kind].current;
  return kind === 'day' && current !== null && start > current.startsAt && windows.usageAt !== null && start <= windows.usageAt;
}

function countIn(pair: WindowPair, start: Date, usage: CountedUsage, newest: boolean, isLate: boolean, carried: boolean): WindowPair {
  const { current, previous } = pair;
  const added = (w: WindowCount | null, startsAt: Date): WindowCount => ({
    startsAt, valueMicros: plus(w?.valueMicros ?? 0, usage.valueMicros), tokens: plus(w?.tokens ?? 0, usage.tokens),
  });
  if (current === null) return { current: added(null, start), previous: null };
  if (sameStart(current, start) || isLate) return { current: added(current, current.startsAt), previous };
  if (sameStart(previous, start)) return { current, previous: added(previous, start) };
  if (start > current.startsAt) return { current: added(carried ? current : null, start), previous: current };
  // An older window than the newest kept counts in the newest.
  return newest ? { current: added(current, start), previous: current } : { current: added(current, current.startsAt), previous };
}

/** The counters after one more charge. */
export function countUsage(windows: UsageWindows, usage: CountedUsage): UsageWindows {
  const newest = windows.usageAt === null || usage.at >= windows.usageAt;
  const isLate = late(windows, usage.at);
  return {
    day: countIn(windows.day, usage.dayStart, usage, newest, isLate, laterDayAlreadyUsed(windows, 'day', usage.dayStart)),
    month: countIn(windows.month, usage.monthStart, usage, newest, isLate, false),
    usageAt: newest ? usage.at : windows.usageAt,
  };
}

const use = (w: WindowCount | null): WindowUse => ({ valueMicros: w?.valueMicros ?? 0, tokens: w?.tokens ?? 0 });

/**
 * What the window of `kind` that starts at `start` has used, as the gate weighs it at `at`:
 * nothing for a window that starts after every one counted, at least the newest window's
 * usage for one that starts before it (the previous window, within the clocks' tolerance,
 * weighs its own).
 */
export function usedIn(windows: UsageWindows, kind: WindowKind, start: Date, at: Date): WindowUse {
  const { current, previous } = windows[kind];
  if (current === null || sameStart(current, start)) return use(current);
  if (late(windows, at)) {
    const own = use(sameStart(previous, start) ? previous : null);
    return { valueMicros: Math.max(own.valueMicros, current.valueMicros), tokens: Math.max(own.tokens, current.tokens) };
  }
  if (sameStart(previous, start)) return use(previous);
  return start > current.startsAt && !laterDayAlreadyUsed(windows, kind, start) ? use(null) : use(current);
}
