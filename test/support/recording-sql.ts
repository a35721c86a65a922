/**
 * The library on a fresh database with every statement it sends written down, for a test to
 * EXPLAIN the statements a read sends as Tollgate's connections plan them (once, for any parameters).
 */
import { createBilling, type Billing, type BillingOptions } from '../../src/index.ts';
import type { Sql } from '../../src/db/sql.ts';
import { TestClock, type Engine } from './harness.ts';

export function recording(sql: Sql, seen: string[]): Sql {
  return new Proxy(sql, {
    get(target, prop) {
      if (prop === 'query') return (text: string, params?: readonly unknown[]) => (seen.push(text), target.query(text, params));
      if (prop === 'transaction') return <T,>(work: (tx: Sql) => Promise<T>) => target.transaction((tx) => work(recording(tx, seen)));
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** `work` with the library on a fresh database of `engine`, what it sends in `seen`; closed and dropped after. */
export async function withRecordedBilling(
  engine: Engine,
  work: (t: { billing: Billing; sql: Sql; seen: string[] }) => Promise<void>,
  options: Pick<BillingOptions, 'processors'> = {},
): Promise<void> {
  const db = await engine.open();
  const seen: string[] = [];
  const billing = await createBilling({ database: recording(db.sql, seen), clock: new TestClock().read, ...options });
  try {
    await work({ billing, sql: db.sql, seen });
  } finally {
    await billing.close();
    await db.drop();
  }
}

/** The plan of `statement` run with `args` (SQL literals), as JSON text; `before`: settings for it alone. */
export function planOf(sql: Sql, statement: string, args: string, { analyze = false, before = '' } = {}): Promise<string> {
  return sql.transaction(async (tx) => {
    await tx.exec(`${before} PREPARE planned AS ${statement}`);
    const rows = await tx.query(`EXPLAIN (${analyze ? 'ANALYZE, ' : ''}FORMAT JSON) EXECUTE planned(${args})`);
    await tx.exec('DEALLOCATE planned');
    return JSON.stringify(rows);
  });
}
