import { PGlite, types } from '@electric-sql/pglite';
import { parseInt8, type Sql } from './sql.ts';

/** PGlite runs one transaction at a time, so its transactions need no retry. */
export async function openPglite(dataDir: string | undefined): Promise<Sql> {
  const db = await PGlite.create(dataDir, { parsers: { [types.INT8]: parseInt8 } });
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Pick<Sql, 'query' | 'exec'> => ({
    async query(text, params) {
      return (await q.query(text, params as unknown[])).rows as never[];
    },
    async exec(text) {
      await q.exec(text);
    },
  });
  const sql: Sql = {
    engine: 'pglite',
    ...wrap(db),
    transaction(work) {
      return db.transaction(async (t) => {
        const tx: Sql = { engine: 'pglite', ...wrap(t), transaction: (inner) => inner(tx), close: async () => {} };
        return work(tx);
      });
    },
    close: () => db.close(),
  };
  return sql;
}
