/**
 * What this process knows of the accounts it served last: their state as read, brought
 * forward by the holds and charges it wrote itself. An authorize or a settle on a known
 * account skips its read and writes in one statement, guarded by the versions of what it
 * knew; if any moved (another process, an admin, a grant), the write changes nothing and the
 * call reads afresh. So remembering never changes an answer, it only saves a round trip.
 *
 * The one exception is an authorization answered ahead of its write (authorize.ts): it is
 * given on what this process knows, confirmed by the database within LEASE_MS, and only with
 * room for many more like it.
 */
import { performance } from 'node:perf_hooks';
import { withCharges, withHolds, type AccountState, type StateHold, type Versions } from './account-state.ts';
import type { PreparedCharge } from './charge-write.ts';

const ACCOUNTS = 10_000;

/**
 * How long what the database last confirmed of an account may stand for it in an answer given
 * ahead of its write: what another process changes reaches such answers within this, as its
 * price overrides do (price-lookup.ts).
 */
export const LEASE_MS = 5_000;

export class KnownAccounts {
  #states = new Map<string, AccountState>();
  /** When the database last confirmed each known account's versions (performance.now()). */
  #confirmedAt = new Map<string, number>();
  /** Accounts with a charge of this process in flight: their ledger is about to move. */
  #charging = new Map<string, number>();

  /** The account's state, if known and still usable at `now` (a plan past its end needs bookkeeping first). */
  get(accountId: string, now: Date): AccountState | undefined {
    const state = this.#states.get(accountId);
    if (!state) return undefined;
    const endsAt = state.termsRow.plan_ends_at;
    if (endsAt && endsAt <= now) return undefined;
    // Most recently used last: the first entry is the one to evict.
    this.#states.delete(accountId);
    this.#states.set(accountId, state);
    return state;
  }

  /** Known, and confirmed by the database within the lease. */
  getConfirmed(accountId: string, now: Date): AccountState | undefined {
    const at = this.#confirmedAt.get(accountId);
    return at !== undefined && performance.now() - at <= LEASE_MS ? this.get(accountId, now) : undefined;
  }

  /** Known, and no charge of this process is moving its ledger right now. */
  getSteady(accountId: string, now: Date): AccountState | undefined {
    return this.#charging.has(accountId) ? undefined : this.get(accountId, now);
  }

  /** The account's state as read, or as a write that found every version it named left it. */
  remember(state: AccountState): void {
    const id = state.termsRow.id;
    this.#states.delete(id);
    this.#states.set(id, state);
    this.#confirmedAt.set(id, performance.now());
    if (this.#states.size > ACCOUNTS) this.forget(this.#states.keys().next().value!);
  }

  forget(accountId: string): void {
    this.#states.delete(accountId);
    this.#confirmedAt.delete(accountId);
  }

  /** Every account: after a change to the catalog, which every account's terms name. */
  forgetAll(): void {
    this.#states.clear();
    this.#confirmedAt.clear();
  }

  /** Holds answered ahead of their write: counted at once; the versions move when it lands. */
  holdsAhead(accountId: string, holds: readonly StateHold[]): void {
    const known = this.#states.get(accountId);
    if (known) this.#states.set(accountId, withHolds(known, holds, 0));
  }

  /**
   * A write of holds answered ahead landed, and left the account at `after`. If that is just
   * its own move of the gate version, what this process knows stands, confirmed; anything else
   * moved it from elsewhere, and the account is read afresh next time. The ledger's version
   * may also be behind what this process knows (its own charge landed after the write read
   * it) or ahead while a charge of its own is in flight: a charge from elsewhere makes that
   * charge's guard fail.
   */
  holdsWritten(accountId: string, after: Versions): void {
    const known = this.#states.get(accountId);
    if (!known) return;
    const { gate, ledger, terms, catalog } = known.versions;
    const ledgerStands = after.ledger <= ledger || this.#charging.has(accountId);
    if (after.gate === gate + 1 && after.terms === terms && after.catalog === catalog && ledgerStands) {
      this.remember({ ...known, versions: { ...known.versions, gate: after.gate } });
    } else {
      this.forget(accountId);
    }
  }

  /**
   * Holds went in on an account whose gate version was `gate`, decided on `read`: the state
   * known now, if it is at that gate version, or else what was read, gains the holds.
   */
  holdsPlaced(accountId: string, gate: number, holds: readonly StateHold[], read?: AccountState): void {
    const known = this.#states.get(accountId);
    const base = known?.versions.gate === gate ? known : read?.versions.gate === gate ? read : undefined;
    if (base) this.remember(withHolds(base, holds));
    else this.forget(accountId);
  }

  /** Charges went in on an account whose ledger version was `ledger`. */
  chargesWritten(accountId: string, ledger: number, charges: readonly PreparedCharge[]): void {
    const known = this.#states.get(accountId);
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
