/**
 * The holds of authorizations answered ahead of their write (authorize.ts), written behind
 * them: those that arrive together in one statement, one statement at a time, committed
 * without waiting for the disk like every hold. A settle or release may reach a hold before
 * its write does, or a write may never land (the database away, a crash): either way settle
 * and release write the hold back from its id (charge-write.ts, lost-holds.ts), and this
 * write then leaves it as they left it. Both write holds in key order, so two writers of
 * one batch of holds wait on each other at most one way round.
 */
import { Combiner, type BatchAnswer } from './combiner.ts';
import { placeHolds, type HoldToWrite } from './authorize.ts';
import type { KnownAccounts } from './known-accounts.ts';
import type { Sql } from '../db/sql.ts';
import { holdKey } from '../core/hold-id.ts';

export class HoldsBehind {
  readonly #writer: Combiner<HoldToWrite, void>;
  #last: Promise<void> = Promise.resolve();

  constructor(sql: Sql, known: KnownAccounts) {
    this.#writer = new Combiner((holds) => writeBehind(sql, known, holds));
  }

  write(hold: HoldToWrite): void {
    this.#last = this.#writer.submit(hold);
  }

  /** Resolves once every hold answered ahead so far has been written, or given up on. */
  written(): Promise<void> {
    return this.#last;
  }
}

async function writeBehind(sql: Sql, known: KnownAccounts, holds: HoldToWrite[]): Promise<BatchAnswer<void>[]> {
  // A hold this process settled or released meanwhile has its row already.
  const open = holds.filter((h) => known.isAhead(h.hold.accountId, holdKey(h.hold.id)));
  const keys = new Map<string, string[]>();
  for (const h of open) {
    if (!keys.has(h.hold.accountId)) keys.set(h.hold.accountId, []);
    keys.get(h.hold.accountId)!.push(holdKey(h.hold.id));
  }
  if (open.length > 0) {
    // Once more after a failure (a deadlock with a charge over the same holds, a dropped
    // connection): the write is idempotent.
    const placed = await placeHolds(sql.asyncCommit, open).catch(() => placeHolds(sql.asyncCommit, open)).catch(() => undefined);
    for (const [accountId, written] of keys) {
      const after = placed?.get(accountId);
      if (after) {
        known.holdsWritten(accountId, written, after);
      } else {
        // Lost, as in a crash: a settle or release writes each back; until then nothing counts them.
        known.holdsClosed(accountId, written);
        known.forget(accountId);
      }
    }
  }
  return holds.map(() => ({ ok: true, value: undefined }));
}
