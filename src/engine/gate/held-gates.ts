/**
 * Accounts whose gate mutex (their row) another transaction holds long: a processor's answer
 * awaited under it, an operator's transaction left open. The gate's statements wait for a lock
 * at most LOCK_WAIT_MS (db/sql.ts), so a batch that meets such a row fails before it stalls
 * every account's calls in it, and its calls go alone. The held account's calls then wait here,
 * one at a time on the mutex, instead of joining (and stalling) every batch, and instead of
 * taking a connection each while they wait.
 */
import { BillingError } from '../../core/errors.ts';

export class HeldGates {
  #queues = new Map<string, Promise<unknown>>();

  /** Whether calls of this account wait for its row here. */
  has(accountId: string): boolean {
    return this.#queues.has(accountId);
  }

  /** The account's row was found held: its calls wait here from now on. */
  hold(accountId: string): void {
    if (!this.#queues.has(accountId)) this.#queues.set(accountId, Promise.resolve());
  }

  /**
   * `work` (which waits for the mutex), once the calls of this account queued before it are
   * done. The first of them to get an answer had the row, so it is held long no more: the
   * account's later calls go the usual way again, and those already queued go on one after
   * another. One that failed otherwise (its connection lost) says nothing of the row.
   */
  behind<T>(accountId: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.#queues.get(accountId) ?? Promise.resolve()).then(work);
    const hadRow = mine.then(() => true, (error: unknown) => error instanceof BillingError);
    const done = hadRow.then(() => undefined);
    this.#queues.set(accountId, done);
    void hadRow.then((had) => {
      if (had || this.#queues.get(accountId) === done) this.#queues.delete(accountId);
    });
    return mine;
  }
}

/** PostgreSQL's lock_not_available: a statement waited its LOCK_WAIT_MS for a lock and gave up. */
export function lockWaitedOut(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '55P03';
}
