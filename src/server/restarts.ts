/**
 * When the primary starts a worker in place of one that died. The first to die in its place is
 * replaced at once. One that dies young again (it fails at its start, say) is replaced after a
 * wait, doubled at each young death in a row there, from a second up to 30: a worker that cannot
 * start is not restarted in a loop that takes the CPU and floods the log. A worker that had
 * stayed up a while started well: its place starts again from nothing.
 */
export const STAYED_UP_MS = 30_000;
const FIRST_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 30_000;

/**
 * A place's worker died after `livedMs`, and `youngDeaths` died young in a row there before it:
 * how many have now, and the wait before the next start there.
 */
export function afterDeath(livedMs: number, youngDeaths: number): { youngDeaths: number; waitMs: number } {
  const now = livedMs < STAYED_UP_MS ? youngDeaths + 1 : 0;
  return { youngDeaths: now, waitMs: now <= 1 ? 0 : Math.min(FIRST_WAIT_MS * 2 ** (now - 2), LONGEST_WAIT_MS) };
}
