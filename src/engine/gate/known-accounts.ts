/**
 * What this process knows of the accounts it served last: their state as read, brought
 * forward by the holds and charges it wrote itself. An authorize or a settle on a known
 * account skips its read and writes in one statement, guarded by every version of what it
 * knew; if any moved (another process, an admin, a grant), the write changes nothing and the
 * call reads afresh. So remembering never changes an answer, it only saves a round trip: no
 * answer is ever given on what this process knows without a write that proves it current.
 */
import { withCharges, withHolds, type AccountState, type StateHold, type Versions } from './account-state.ts';
import type { PreparedCharge } from '../charge/write.ts';
import { termsHoldAt } from '../terms.ts';

export class KnownAccounts {
  /** `capacity`: how many accounts to remember (the last served); 0 remembers none, and every call reads afresh. */
  constructor(private readonly capacity = 10_000) {}

  /** Most recently used last: the first entry is the one to evict. */
  #known = new Map<string, AccountState>();
  /** Accounts with a charge of this process in flight: their ledger is about to move. */
  #charging = new Map<string, number>();

  /** The account's state, if known and still usable at `now` (terms the clock changed since, a plan's end or a paid period's, are read again). */
  get(accountId: string, now: Date): AccountState | undefined {
    const state = this.#known.get(accountId);
    if (!state) return undefined;
    if (!termsHoldAt(state.termsRow, now)) return undefined;
    this.#known.delete(accountId);
    this.#known.set(accountId, state);
    return state;
  }

  /** Known, and no charge of this process is moving its ledger right now. */
  getSteady(accountId: string, now: Date): AccountState | undefined {
    return this.#charging.has(accountId) ? undefined : this.get(accountId, now);
  }

  /** The account's state as read, or as a write left it. */
  remember(state: AccountState): void {
    if (this.capacity === 0) return;
    const id = state.termsRow.id;
    this.#known.delete(id);
    this.#known.set(id, state);
    if (this.#known.size > this.capacity) this.forget(this.#known.keys().next().value!);
  }

  forget(accountId: string): void {
    this.#known.delete(accountId);
  }

  /** Every account: after a change to the catalog, which every account's terms name. */
  forgetAll(): void {
    this.#known.clear();
  }

  /**
   * Holds went in on an account whose gate version was `gate`, decided on `read`, and the
   * write left it at `after`: the state known now, if it is at that gate version, or else what
   * was read, gains the holds, if nothing but this write moved it.
   */
  holdsPlaced(accountId: string, gate: number, holds: readonly StateHold[], after: Versions, read?: AccountState): void {
    const known = this.#known.get(accountId);
    const base = known?.versions.gate === gate ? known : read?.versions.gate === gate ? read : undefined;
    if (base && this.#onlyGateMoved(accountId, base.versions, after)) this.remember(withHolds(base, holds));
    else this.forget(accountId);
  }

  /**
   * `after` is `before` with one move of the gate version: this process's own write of holds.
   * The ledger's version may be ahead while a charge of its own is in flight: a charge from
   * elsewhere makes that charge's guard fail.
   */
  #onlyGateMoved(accountId: string, before: Versions, after: Versions): boolean {
    const ledgerStands = after.ledger <= before.ledger || this.#charging.has(accountId);
    return after.gate === before.gate + 1 && after.terms === before.terms && after.catalog === before.catalog && ledgerStands;
  }

  /** Charges went in on an account whose ledger version was `ledger`. */
  chargesWritten(accountId: string, ledger: number, charges: readonly PreparedCharge[]): void {
    const known = this.#known.get(accountId);
    if (known?.versions.ledger === ledger) this.remember(withCharges(known, charges));
    else this.forget(accountId);
  }

  /** Run a charge on the account's known ledger; meanwhile authorizations read it afresh. */
  async charging<T>(accountIds: Iterable<string>, work: () => Promise<T>): Promise<T> {
    const ids = [...new Set(accountIds)];
    for (const id of ids) this.#charging.set(id, (this.#charging.get(id) ?? 0) + 1);
    try {
      return await work();
    } finally {
      for (const id of ids) {
        const left = this.#charging.get(id)! - 1;
        if (left > 0) this.#charging.set(id, left);
        else this.#charging.delete(id);
      }
    }
  }
}
