/** What every billing operation needs: the database, the clock and the price book. */
import type { Sql } from '../db/sql.ts';
import type { AuthorizeRequest, AuthorizeResult } from './gate/authorize.ts';
import type { Charge } from './charge/charge.ts';
import type { ChargeInput } from './charge/batch.ts';
import type { Combiner } from './combiner.ts';
import type { PriceBook } from './catalog/price-book.ts';
import type { KnownAccounts } from './gate/known-accounts.ts';
import type { HeldGates } from './gate/held-gates.ts';
import type { HoldIds } from '../core/hold-id.ts';
import type { Processor } from './processor.ts';

export type Clock = () => Date;

export interface Context {
  sql: Sql;
  clock: Clock;
  prices: PriceBook;
  /** Authorizations in flight in this process, decided together. */
  authorizes: Combiner<AuthorizeRequest, AuthorizeResult>;
  /** Settles and records in flight in this process, written together. */
  charges: Combiner<ChargeInput, Charge>;
  /** The accounts this process served last, as it left them. */
  known: KnownAccounts;
  /** Accounts whose gate mutex is held long, and their calls waiting for it. */
  heldGates: HeldGates;
  /** Issues and opens hold ids with the database's key. */
  holdIds: HoldIds;
  /** The payment processors accounts may pay through, by name. */
  processors: ReadonlyMap<string, Processor>;
  /** The processor new accounts pay through. */
  defaultProcessor: string;
}
