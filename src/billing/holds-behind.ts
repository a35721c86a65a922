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
  const accounts = new Set(holds.map((h) => h.hold.accountId));
  try {
    const placed = await placeHolds(sql.asyncCommit, holds);
    for (const id of accounts) {
      const after = placed.get(id);
      if (after) known.holdsWritten(id, after);
      else known.forget(id);
    }
  } catch {
    // Lost, as in a crash: the settle writes each back. Until then nothing here counts them.
    for (const id of accounts) known.forget(id);
  }
  return holds.map(() => ({ ok: true, value: undefined }));
}
