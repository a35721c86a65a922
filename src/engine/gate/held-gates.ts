/**
 * Calls that wait for the gate mutex (an account's row) in this process, one at a time per
 * account, so that one of them at a time waits on the row and holds a connection: a row held
 * long (a processor's answer awaited under it, an operator's transaction left open) cannot take
 * the whole pool. The gate's statements wait for a lock at most LOCK_WAIT_MS (db/sql.ts); an
 * account found so held is marked, and its calls wait here instead of meeting the row, and
 * failing, in every batch and optimistic attempt. Calls with bookkeeping to write first (an
 * allowance to open) meet the row only under the mutex, so they always wait here.
 */
import { BillingError } from '../../core/errors.ts';

export class HeldGates {
  /** Accounts whose row was found held long, until one of their calls has it. */
  #held = new Set<string>();
  /** Each account's last call under the mutex, for the next to wait behind. */
  #tails = new Map<string, Promise<unknown>>();

  /** Whether this account's row was found held long. */
  has(accountId: string): boolean {
    return this.#held.has(accountId);
  }

  /** This account's row was found held long: its calls wait here until one of them has it. */
  hold(accountId: string): void {
    this.#held.add(accountId);
  }

  /**
   * `work` (which takes the mutex), once the account's calls under it before this one are done.
   * One that gets an answer had the row, so it is held long no more. One that failed otherwise
   * (its connection lost) says nothing of the row.
   */
  behind<T>(accountId: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.#tails.get(accountId) ?? Promise.resolve()).then(work);
    // Never rejects, so the next call waits behind it whatever this one's outcome.
    const hadRow = mine.then(() => true, (error: unknown) => error instanceof BillingError);
    this.#tails.set(accountId, hadRow);
    void hadRow.then((had) => {
      if (had) this.#held.delete(accountId);
      if (this.#tails.get(accountId) === hadRow) this.#tails.delete(accountId);
    });
    return mine;
  }
}
