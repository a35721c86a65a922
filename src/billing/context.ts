/** What every billing operation needs: the database, the clock and the price book. */
import type { Sql } from '../db/sql.ts';
import type { PriceBook } from './price-lookup.ts';

export type Clock = () => Date;

export interface Context {
  sql: Sql;
  clock: Clock;
  prices: PriceBook;
}
