/**
 * Accounts whose gate mutex (their row) another transaction holds long: a processor's answer
 * awaited under it, an operator's transaction left open. The gate's statements wait for a row
 * at most LOCK_WAIT_MS (db/sql.ts), so a batch that meets such a row fails before it stalls
 * every account's calls in it, and its calls go alone. The held account's calls then wait here,
 * one at a time on the mutex, instead of joining (and stalling) every batch, and instead of
 * taking a connection each while they wait.
 */
export class HeldGates {
  #queues = new Map<string, Promise<unknown>>();

  /** Whether calls of this account wait for its row here. */
  has(accountId: string): boolean {
    return this.#queues.has(accountId);
  }

  /**
   * `work` (which waits for the mutex), once the calls of this account queued before it are
   * done. The first to be done had the row, so it is held long no more: the account's later
   * calls go the usual way again, and those already queued go on one after another.
   */
  behind<T>(accountId: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.#queues.get(accountId) ?? Promise.resolve()).then(work);
    const done = mine.then(() => undefined, () => undefined);
    this.#queues.set(accountId, done);
    void done.then(() => this.#queues.delete(accountId));
    return mine;
  }
}

/** PostgreSQL's lock_not_available: a statement waited its LOCK_WAIT_MS for a row and gave up. */
export function lockWaitedOut(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '55P03';
}
