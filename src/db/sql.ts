/**
 * One small interface over both engines: PGlite (embedded, PostgreSQL in WASM) and a
 * PostgreSQL server through node-postgres. Both speak the same SQL with $n parameters, so
 * every statement in Tollgate is written once.
 */
export interface Sql {
  readonly engine: 'pglite' | 'postgres';
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /** Run `work` in one transaction; rolled back if it throws. */
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Run `work` with no other statement of this process in between, where that costs nothing
   * (PGlite's single connection); on a server, just run it. Optimistic read-then-write calls
   * use it so that on PGlite they never lose their race.
   */
  uninterrupted<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * The same database, where a commit returns before it reaches the disk (PostgreSQL's
   * asynchronous commit): for writes whose loss in a crash costs no money. A later durable
   * commit flushes them too. Only its single statements commit asynchronously: a transaction
   * begun on it is a durable one. Its statements wait for a lock (an account's row, mostly) at
   * most LOCK_WAIT_MS, then fail with lock_not_available: they are the gate's, which go on
   * another way rather than stall behind a row held long. On PGlite it is the same handle (one
   * connection: nothing waits on a row).
   */
  readonly asyncCommit: Sql;
  close(): Promise<void>;
}

/**
 * How long a statement on `asyncCommit` waits for a lock. The gate mutex is held for
 * milliseconds by the gate's own writes and by grants and admin changes; past this, it is held
 * by work that waits on something else (a processor's answer), and the gate stops waiting with it.
 */
export const LOCK_WAIT_MS = 250;

/** PostgreSQL's lock_not_available: a statement on `asyncCommit` waited its LOCK_WAIT_MS for a lock and gave up. */
export function lockWaitedOut(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '55P03';
}

/** int8 arrives as text; Tollgate's amounts are safe integers, and anything else is a bug worth a loud stop. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`int8 value ${text} is outside the safe integer range`);
  return value;
}

/**
 * Session settings for Tollgate's connections on both engines. Tollgate runs a few short,
 * fixed statements, prepared once per connection:
 *   - plan_cache_mode=force_generic_plan: each is planned once. Left on auto, statements over
 *     `= ANY ($1)` were re-planned on every execution (a fifth of the server's CPU under load);
 *   - random_page_cost=1.1: the ledger's working set is in memory, and at the default (4, for
 *     spinning disks) those generic plans chose sequential scans over index lookups.
 */
export const SESSION_SETTINGS: Record<string, string> = { plan_cache_mode: 'force_generic_plan', random_page_cost: '1.1' };
