/**
 * The app's own database, for when Tollgate runs elsewhere (over HTTP) and has none to share:
 * PGlite on a directory (the default) or in memory, or PostgreSQL; seen through the small
 * connection the auth dialect takes (database.ts).
 */
import { PGlite, type Transaction } from '@electric-sql/pglite';
import pg from 'pg';
import type { Sql } from './database.ts';

export interface AppDatabase extends Sql {
  close(): Promise<void>;
}

function pgliteSql(db: PGlite | Transaction): Sql {
  return {
    query: async <Row>(text: string, params: readonly unknown[] = []) => (await db.query<Row>(text, [...params])).rows,
    transaction: (work) => (db as PGlite).transaction((tx) => work(pgliteSql(tx))),
  };
}

function poolSql(pool: pg.Pool | pg.PoolClient): Sql {
  return {
    query: async <Row>(text: string, params: readonly unknown[] = []) => (await pool.query(text, [...params])).rows as Row[],
    async transaction(work) {
      const client = await (pool as pg.Pool).connect();
      try {
        await client.query('BEGIN');
        const result = await work(poolSql(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

/** memory://, pglite://PATH or postgres://…, as Tollgate's own DATABASE_URL. */
export async function openAppDatabase(url: string): Promise<AppDatabase> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url });
    return { ...poolSql(pool), engine: 'postgres', close: () => pool.end() };
  }
  const dir = url === 'memory://' ? undefined : url.replace(/^pglite:\/\//, '');
  const db = await PGlite.create(dir);
  return { ...pgliteSql(db), engine: 'pglite', close: () => db.close() };
}
