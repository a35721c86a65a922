/**
 * Database URLs:
 *   memory://         PGlite in memory (tests, demos)
 *   pglite://PATH     PGlite on disk (the default, ./.tollgate), one process at a time
 *   postgres://…      a PostgreSQL server — use this for real money (PGlite never fsyncs)
 */
import { BillingError } from '../core/errors.ts';
import { migrate } from './migrate.ts';
import { connectPostgres } from './postgres.ts';
import type { Sql } from './sql.ts';

export const DEFAULT_DATABASE_URL = 'pglite://./.tollgate';

export async function openDatabase(url: string = DEFAULT_DATABASE_URL, options: { poolSize?: number } = {}): Promise<Sql> {
  let sql: Sql;
  // PGlite's WASM takes a while to load: only a process that uses it loads it.
  if (url === 'memory://') sql = await (await import('./pglite.ts')).openPglite(undefined);
  else if (url.startsWith('pglite://')) sql = await (await import('./pglite.ts')).openPglite(url.slice('pglite://'.length) || './.tollgate');
  else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) sql = connectPostgres(url, { max: options.poolSize });
  else throw new BillingError('invalid_input', `Unsupported database URL "${url}": use memory://, pglite://PATH or postgres://…`);
  try {
    await migrate(sql);
  } catch (error) {
    await sql.close(); // a PGlite directory's lock goes with it
    throw error;
  }
  return sql;
}
