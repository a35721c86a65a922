import { createHash } from 'node:crypto';
import pg from 'pg';
import { LOCK_WAIT_MS, parseInt8, SESSION_SETTINGS, type Sql } from './sql.ts';

const INT8_OID = 20;

function types(): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: string) =>
      oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * Statements with parameters run as named prepared statements, so each connection parses and
 * plans a statement once: for Tollgate's few, fixed statements that is most of their cost.
 */
const names = new Map<string, string>();
function prepared(text: string, params: readonly unknown[] | undefined): pg.QueryConfig {
  if (!params) return { text };
  let name = names.get(text);
  if (!name) {
    name = `tollgate_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return { name, text, values: params as unknown[] };
}

const ignore = () => {};

/** Retried once more: a deadlock or serialization failure is safe to run again from the top. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * The session settings (sql.ts) and jit=off: the planner's guesses on small, fresh tables can
 * cross the JIT threshold and spend 25 ms compiling a 0.1 ms query.
 */
function tuned(url: string, extra: Record<string, string> = {}): string {
  const parsed = new URL(url);
  const settings = Object.entries({ ...SESSION_SETTINGS, jit: 'off', ...extra }).map(([name, value]) => `-c ${name}=${value}`);
  parsed.searchParams.set('options', [parsed.searchParams.get('options'), ...settings].filter(Boolean).join(' '));
  return parsed.toString();
}

/**
 * Two pools on one server: the durable one, and a smaller one whose sessions commit
 * asynchronously and wait for a lock at most LOCK_WAIT_MS (Sql.asyncCommit). Their
 * connections open on first use.
 */
export function connectPostgres(url: string, options: { max?: number } = {}): Sql {
  const max = options.max ?? 10;
  // Which process holds a connection, in pg_stat_activity (an application_name in the URL wins).
  const application_name = `tollgate ${process.pid}`;
  const durable = new pg.Pool({ connectionString: tuned(url), max, types: types(), application_name });
  const asynchronous = new pg.Pool({ connectionString: tuned(url, { synchronous_commit: 'off', lock_timeout: `${LOCK_WAIT_MS}ms` }), max: Math.max(2, Math.ceil(max / 2)), types: types(), application_name });
  // A connection the server ends while it waits in a pool (a restart, a failover) leaves the
  // pool, and the next statement opens another. Unheard, that 'error' would end the process.
  for (const pool of [durable, asynchronous]) pool.on('error', ignore);
  const close = async () => {
    await Promise.all([durable.end(), asynchronous.end()]);
  };
  const sql: Sql = poolSql(durable, close, { asyncCommit: () => asyncCommit });
  // Only single statements commit asynchronously: a transaction there is a durable one.
  const asyncCommit: Sql = poolSql(asynchronous, close, { transactions: () => sql });
  return sql;
}

/**
 * Statements on a pool; a transaction on one of its connections, unless `transactions` names
 * the handle they run on; `asyncCommit`, the handle for asynchronous commits (else this one).
 */
function poolSql(pool: pg.Pool, close: () => Promise<void>, handles: { asyncCommit?: () => Sql; transactions?: () => Sql } = {}): Sql {
  const sql: Sql = {
    engine: 'postgres',
    async query(text, params) {
      const result = await pool.query(prepared(text, params));
      return result.rows;
    },
    async exec(text) {
      await pool.query(text);
    },
    async transaction(work) {
      if (handles.transactions) return handles.transactions().transaction(work);
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        // Ended between two of the transaction's statements, the connection fails the next one;
        // its 'error' event, unheard while the pool lends it out, would end the process.
        client.on('error', ignore);
        try {
          await client.query('BEGIN');
          const tx: Sql = {
            engine: 'postgres',
            async query(text, params) {
              return (await client.query(prepared(text, params))).rows;
            },
            async exec(text) {
              await client.query(text);
            },
            transaction: (inner) => inner(tx),
            uninterrupted: (inner) => inner(tx),
            // Inside a transaction everything commits with it.
            get asyncCommit() {
              return tx;
            },
            close: async () => {},
          };
          const result = await work(tx);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          const code = (error as { code?: string }).code;
          if (attempt < 3 && code && RETRYABLE.has(code)) continue;
          throw error;
        } finally {
          client.removeListener('error', ignore);
          client.release();
        }
      }
    },
    uninterrupted: (work) => work(sql),
    get asyncCommit() {
      return handles.asyncCommit?.() ?? sql;
    },
    close,
  };
  return sql;
}
