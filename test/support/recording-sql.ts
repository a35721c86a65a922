/** A database handle that writes down every statement sent through it and its transactions, for a test to EXPLAIN them. */
import type { Sql } from '../../src/db/sql.ts';

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
