/**
 * A Kysely dialect over Tollgate's own database connection, so that better-auth keeps its users,
 * sessions and teams in the same database as Tollgate's ledger: one embedded PGlite (which a
 * process can open only once) or one PostgreSQL pool, whichever Tollgate was given. Both speak
 * PostgreSQL, so Kysely's PostgreSQL compiler, adapter and introspector do the rest. When
 * Tollgate runs elsewhere (over HTTP), the app's own database goes through the same dialect
 * (app-database.ts).
 */
import {
  type CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult,
} from 'kysely';

/** What the dialect needs of a connection: Tollgate's (`billing.sql`) is one. */
export interface Sql {
  /** PostgreSQL, where several processes may share the database; else one process holds it. */
  readonly engine?: 'pglite' | 'postgres';
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T>;
}

/** Thrown inside a transaction's callback to roll it back. */
class RolledBack extends Error {}

/**
 * One Kysely connection. Tollgate's connection runs a transaction as a callback; Kysely begins,
 * then commits or rolls back in separate calls. So a begin opens the callback and holds it open
 * (handing its statements to `tx`) until the commit or rollback settles it.
 */
class SqlConnection implements DatabaseConnection {
  #tx: Sql | undefined;
  #finish: ((commit: boolean) => void) | undefined;
  #done: Promise<unknown> | undefined;

  constructor(private readonly sql: Sql) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const rows = await (this.#tx ?? this.sql).query<R>(query.sql, query.parameters);
    return { rows };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('Streaming queries are not supported here');
  }

  async begin(): Promise<void> {
    let opened!: (tx: Sql) => void;
    const ready = new Promise<Sql>((resolve) => (opened = resolve));
    this.#done = this.sql.transaction(
      (tx) =>
        new Promise<void>((resolve, reject) => {
          this.#finish = (commit) => (commit ? resolve() : reject(new RolledBack()));
          opened(tx);
        }),
    );
    // A transaction that failed to open fails the begin.
    this.#tx = await Promise.race([ready, this.#done.then(() => Promise.reject(new Error('The transaction ended before it began')))]);
  }

  async end(commit: boolean): Promise<void> {
    const done = this.#done;
    this.#finish?.(commit);
    this.#tx = this.#finish = this.#done = undefined;
    await done?.catch((error: unknown) => {
      if (!(error instanceof RolledBack)) throw error;
    });
  }
}

class SqlDriver implements Driver {
  constructor(private readonly sql: Sql) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new SqlConnection(this.sql);
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SqlConnection).begin();
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SqlConnection).end(true);
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SqlConnection).end(false);
  }
  async releaseConnection(): Promise<void> {}
  // The connection is Tollgate's: it closes it.
  async destroy(): Promise<void> {}
}

/** better-auth's database, on Tollgate's connection. */
export function tollgateDialect(sql: Sql): Dialect {
  return {
    createDriver: () => new SqlDriver(sql),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createAdapter: () => new PostgresAdapter(),
    createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
  };
}
