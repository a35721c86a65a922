/**
 * How far apart the clocks of the processes on one database may be. In production they all
 * take their time from the database (db/clock.ts) and agree to a millisecond or so; the
 * tolerances below are for what is left: a clock injected or set by hand, one corrected by a
 * step, a process started before the database's clock was fixed. Within them, no account
 * gains or loses anything by which process served it; beyond them, the rules of each place
 * (usage windows, expiry) lean towards the account's limits, never towards its loss.
 */

/**
 * Clocks that disagree by less than this are skew, not a clock gone wrong: a bucket may be
 * drawn on from this long before it starts (it was opened by a process whose clock runs
 * ahead), and usage this much older than the newest counted is still counted in its own day.
 */
export const CLOCK_TOLERANCE_MS = 5 * 60_000;

/**
 * Value left in an expired bucket is written off only this long after it expired: a clock
 * that ran ahead by less, and was set back, has written off nothing that was still the
 * account's. The gate never draws on an expired bucket either way.
 */
export const EXPIRY_GRACE_MS = 7 * 24 * 3_600_000;

/** Has a bucket that starts at `startsAt` started at `now`, give or take the clocks' skew? */
export function hasStarted(startsAt: Date, now: Date): boolean {
  return startsAt.getTime() <= now.getTime() + CLOCK_TOLERANCE_MS;
}
