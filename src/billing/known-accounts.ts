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

interface Known {
  state: AccountState;
  /** When the database last confirmed its versions (performance.now()); none for a read. */
  confirmedAt?: number;
}

export class KnownAccounts {
  /** Most recently used last: the first entry is the one to evict. */
  #known = new Map<string, Known>();
  /** Accounts with a charge of this process in flight: their ledger is about to move. */
  #charging = new Map<string, number>();
  /** Accounts with a guarded authorization of this process in flight: no answers ahead meanwhile. */
  #deciding = new Map<string, number>();
  /** Holds answered ahead and not yet written nor closed, by account and key: no read has them. */
  #ahead = new Map<string, Map<string, StateHold>>();
  /** Counts the changes this process made beside the gate; each account's last, and every account's. */
  #changes = 0;
  #changedAt = new Map<string, number>();
  #everyChangedAt = 0;

  /** The account's state, if known and still usable at `now` (a plan past its end needs bookkeeping first). */
  get(accountId: string, now: Date): AccountState | undefined {
    return this.#use(accountId, now)?.state;
  }

  /** Known, confirmed by the database within the lease, and no guarded authorization of it in flight. */
  getConfirmed(accountId: string, now: Date): AccountState | undefined {
    if (this.#deciding.has(accountId)) return undefined;
    const known = this.#use(accountId, now);
    return known?.confirmedAt !== undefined && performance.now() - known.confirmedAt <= LEASE_MS ? known.state : undefined;
  }

  #use(accountId: string, now: Date): Known | undefined {
    const known = this.#known.get(accountId);
    if (!known) return undefined;
    const endsAt = known.state.termsRow.plan_ends_at;
    if (endsAt && endsAt <= now) return undefined;
    this.#known.delete(accountId);
    this.#known.set(accountId, known);
    return known;
  }

  /** Known, and no charge of this process is moving its ledger right now. */
  getSteady(accountId: string, now: Date): AccountState | undefined {
    return this.#charging.has(accountId) ? undefined : this.get(accountId, now);
  }

  /**
   * The account's state as read, or as a write left it. `confirmed`: the write found every
   * version it expected (or returned them as expected), so the state is the database's as of
   * now; a read is not, as a change made since it began may have been forgotten already.
   */
  remember(state: AccountState, confirmed = false, readSince?: number): void {
    const id = state.termsRow.id;
    if (readSince !== undefined && this.#changedSince(id, readSince)) {
      this.forget(id);
      return;
    }
    this.#known.delete(id);
    this.#known.set(id, confirmed ? { state, confirmedAt: performance.now() } : { state });
    if (this.#known.size > ACCOUNTS) this.forget(this.#known.keys().next().value!);
  }

  /**
   * A state read from the database, with the holds answered ahead that it cannot have yet:
   * every read that is decided on or remembered goes through it.
   */
  withAhead(state: AccountState): AccountState {
    const ahead = this.#ahead.get(state.termsRow.id);
    if (!ahead) return state;
    const missing = [...ahead.values()].filter((h) => !state.holds.some((held) => held.id === h.id));
    return missing.length > 0 ? { ...state, holds: [...state.holds, ...missing] } : state;
  }

  forget(accountId: string): void {
    this.#known.delete(accountId);
  }

  /** Every account: after a change to the catalog, which every account's terms name. */
  forgetAll(): void {
    this.#known.clear();
  }

  /** A mark to take before a read whose state will be remembered (`readSince`). */
  stamp(): number {
    return this.#changes;
  }

  /**
   * This process changed the account beside the gate (every account, without one): it is
   * forgotten, and so is any read of it begun before now, when it comes to be remembered.
   */
  changed(accountId?: string): void {
    this.#changes++;
    if (accountId === undefined) {
      this.#everyChangedAt = this.#changes;
      this.forgetAll();
      return;
    }
    this.#changedAt.delete(accountId);
    this.#changedAt.set(accountId, this.#changes);
    // Oldest first: an account whose mark is dropped counts as changed at the newest mark dropped.
    if (this.#changedAt.size > ACCOUNTS) {
      const [oldest, at] = this.#changedAt.entries().next().value!;
      this.#changedAt.delete(oldest);
      this.#everyChangedAt = Math.max(this.#everyChangedAt, at);
    }
    this.forget(accountId);
  }

  #changedSince(accountId: string, since: number): boolean {
    return this.#everyChangedAt > since || (this.#changedAt.get(accountId) ?? 0) > since;
  }

  /** Holds answered ahead of their write: counted at once; the versions move when it lands. */
  holdsAhead(accountId: string, holds: readonly StateHold[]): void {
    const ahead = this.#ahead.get(accountId) ?? new Map<string, StateHold>();
    for (const h of holds) ahead.set(h.id, h);
    this.#ahead.set(accountId, ahead);
    const known = this.#known.get(accountId);
    if (known) known.state = withHolds(known.state, holds, 0);
  }

  /** Still to be written: answered ahead, and neither written nor settled or released since. */
  isAhead(accountId: string, key: string): boolean {
    return this.#ahead.get(accountId)?.has(key) ?? false;
  }

  /** Holds answered ahead that are written, settled or released, or lost: reads have them from now on, or never will. */
  holdsClosed(accountId: string, keys: Iterable<string>): void {
    const ahead = this.#ahead.get(accountId);
    if (!ahead) return;
    for (const key of keys) ahead.delete(key);
    if (ahead.size === 0) this.#ahead.delete(accountId);
  }

  /**
   * A write of holds answered ahead landed, and left the account at `after`. If that is just
   * its own move of the gate version, what this process knows stands, confirmed; anything else
   * moved it from elsewhere, and the account is read afresh next time. The ledger's version
   * may also be behind what this process knows (its own charge landed after the write read
   * it) or ahead while a charge of its own is in flight: a charge from elsewhere makes that
   * charge's guard fail.
   */
  holdsWritten(accountId: string, keys: readonly string[], after: Versions & { inserted: readonly string[] }): void {
    // A hold that had a row already was settled or released meanwhile: by this process, which
    // closed it or has a charge of it in flight (whose guard tells if another moved the ledger),
    // or elsewhere, and then what this process knows of it is stale.
    const inserted = new Set(after.inserted);
    const elsewhere = !this.#charging.has(accountId) && keys.some((key) => !inserted.has(key) && this.isAhead(accountId, key));
    this.holdsClosed(accountId, keys);
    const known = this.#known.get(accountId)?.state;
    if (!known) return;
    const stands = !elsewhere && this.#onlyGateMoved(accountId, known.versions, after);
    if (stands) this.remember({ ...known, versions: { ...known.versions, gate: after.gate } }, true);
    else this.forget(accountId);
  }

  /** `after` is `before` with one move of the gate version: this process's own write of holds. */
  #onlyGateMoved(accountId: string, before: Versions, after: Versions): boolean {
    const ledgerStands = after.ledger <= before.ledger || this.#charging.has(accountId);
    return after.gate === before.gate + 1 && after.terms === before.terms && after.catalog === before.catalog && ledgerStands;
  }

  /**
   * Holds went in on an account whose gate version was `gate`, decided on `read`, and the
   * write left it at `after`: the state known now, if it is at that gate version, or else what
   * was read, gains the holds, confirmed if nothing else moved it.
   */
  holdsPlaced(accountId: string, gate: number, holds: readonly StateHold[], after: Versions, read?: AccountState, readSince?: number): void {
    const known = this.#known.get(accountId)?.state;
    const base = known?.versions.gate === gate ? known : read?.versions.gate === gate ? read : undefined;
    if (base && this.#onlyGateMoved(accountId, base.versions, after)) this.remember(withHolds(base, holds), true, base === read ? readSince : undefined);
    else this.forget(accountId);
  }

  /** Charges went in on an account whose ledger version was `ledger`. */
  chargesWritten(accountId: string, ledger: number, charges: readonly PreparedCharge[]): void {
    const known = this.#known.get(accountId)?.state;
    if (known?.versions.ledger === ledger) this.remember(withCharges(known, charges), true);
    else this.forget(accountId);
  }

  /** Run a charge on the account's known ledger; meanwhile authorizations read it afresh. */
  charging<T>(accountIds: Iterable<string>, work: () => Promise<T>): Promise<T> {
    return during(this.#charging, accountIds, work);
  }

  /** Run a guarded authorization: meanwhile no call on its accounts is answered ahead, on a state that lacks its holds. */
  deciding<T>(accountIds: Iterable<string>, work: () => Promise<T>): Promise<T> {
    return during(this.#deciding, accountIds, work);
  }
}

/** Count each account in `counts` while `work` runs. */
async function during<T>(counts: Map<string, number>, accountIds: Iterable<string>, work: () => Promise<T>): Promise<T> {
  const ids = [...new Set(accountIds)];
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  try {
    return await work();
  } finally {
    for (const id of ids) {
      const left = counts.get(id)! - 1;
      if (left > 0) counts.set(id, left);
      else counts.delete(id);
    }
  }
}
