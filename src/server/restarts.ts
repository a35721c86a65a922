/**
 * When the primary starts a worker in place of one that died. A worker that served (it was
 * listening) started well: whatever ended it (a crash, the OOM killer, kill -9), its place
 * starts another at once. One that died before it served failed at its start: the first such in
 * its place is replaced at once too (the failure may pass), then after a wait, doubled at each
 * failed start in a row there, from a second up to 30: a worker that cannot start is not
 * restarted in a loop that takes the CPU and floods the log.
 */
const FIRST_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 30_000;

/**
 * A place's worker died, having `served` or not, after `failedStarts` failed starts in a row
 * there: how many there are now, and the wait before the next start there.
 */
export function afterDeath(served: boolean, failedStarts: number): { failedStarts: number; waitMs: number } {
  const now = served ? 0 : failedStarts + 1;
  return { failedStarts: now, waitMs: now <= 1 ? 0 : Math.min(FIRST_WAIT_MS * 2 ** (now - 2), LONGEST_WAIT_MS) };
}
