/**
 * PGlite, the embedded engine: PostgreSQL in WASM on one connection, one statement at a time.
 *
 * Its query() re-parses and re-plans every statement; Tollgate runs a few fixed statements
 * over and over, so statements with parameters are prepared once by name and then only bound
 * and executed (about three times the throughput). That talks the wire protocol through
 * execProtocol, and takes PGlite's own query and transaction locks the way query() does;
 * those two lock helpers are internal to PGlite, hence the pinned version in package.json.
 */
import { PGlite, parse, protocol, types } from '@electric-sql/pglite';
import { lockDirectory } from './lock-file.ts';
import { autoAnalyze } from './pglite-analyze.ts';
import { parseInt8, SESSION_SETTINGS, type Sql } from './sql.ts';

interface PgliteLocks {
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
}

interface Prepared {
  name: string;
  paramTypes: number[];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The embedded database, which can also be copied whole: its data directory as a tar archive. */
export interface PgliteSql extends Sql {
  dumpDataDir(): Promise<Blob>;
}

/**
 * PGlite in memory (no directory), or on a directory this process then holds alone until close
 * (lock-file.ts). `loadDataDir`: a data directory to start from, as PGlite's dumpDataDir made it.
 */
export async function openPglite(dataDir: string | undefined, { loadDataDir }: { loadDataDir?: Blob } = {}): Promise<PgliteSql> {
  const unlock = dataDir === undefined ? () => {} : lockDirectory(dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir, { parsers: { [types.INT8]: parseInt8 }, loadDataDir });
    await db.exec(Object.entries(SESSION_SETTINGS).map(([name, value]) => `SET ${name} = '${value}';`).join('\n'));
  } catch (error) {
    unlock();
    throw error;
  }
  const locks = db as unknown as PgliteLocks;
  const { serialize } = protocol;
  const statements = new Map<string, Prepared>();
  let inTransaction = false;

  /** Run one statement; the caller holds PGlite's locks. */
  async function run(text: string, params: readonly unknown[] = []): Promise<never[]> {
    analysis.noteStatement();
    let statement = statements.get(text);
    if (!statement) {
      const name = `tollgate_${statements.size}`;
      const described = await db.execProtocol(concat([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]), {
        syncToFs: false,
      });
      const description = described.messages.find((m) => m.name === 'parameterDescription') as unknown as { dataTypeIDs: number[] };
      statement = { name, paramTypes: description.dataTypeIDs };
      statements.set(text, statement);
    }
    const serializers = db.serializers as Record<number, (value: unknown) => string>;
    const values = params.map((value, i) => (value === null || value === undefined ? null : (serializers[statement.paramTypes[i]!] ?? String)(value)));
    const result = await db.execProtocol(
      concat([serialize.bind({ statement: statement.name, values: values as string[] }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
      { syncToFs: !inTransaction },
    );
    return (parse.parseResults(result.messages, db.parsers)[0]?.rows ?? []) as never[];
  }

  /** Statements while this process already holds PGlite's locks (a transaction, or uninterrupted work). */
  const holding: Sql = {
    engine: 'pglite',
    query: (text, params) => run(text, params),
    exec: async (text) => {
      await db.exec(text);
    },
    transaction: (work) => work(holding),
    uninterrupted: (work) => work(holding),
    get asyncCommit() {
      return holding;
    },
    close: async () => {},
  };
  const exclusively = <T>(work: () => Promise<T>) => locks._runExclusiveTransaction(() => locks._runExclusiveQuery(work));

  const sql: PgliteSql = {
    engine: 'pglite',
    dumpDataDir: () => db.dumpDataDir('none'),
    query: (text, params) => exclusively(() => run(text, params)),
    exec: async (text) => {
      await db.exec(text);
    },
    transaction(work) {
      return db.transaction(async (t) => {
        inTransaction = true;
        try {
          const tx: Sql = {
            ...holding,
            exec: async (text) => void (await t.exec(text)),
            get asyncCommit() {
              return tx;
            },
          };
          return await work(tx);
        } finally {
          inTransaction = false;
        }
      });
    },
    // One connection: holding its locks is all it takes for nothing to come in between.
    uninterrupted: (work) => exclusively(() => work(holding)),
    get asyncCommit() {
      return sql;
    },
    close: async () => {
      try {
        await analysis.stop();
        await db.close();
      } finally {
        unlock();
      }
    },
  };
  // No autovacuum in PGlite: without this, its tables would never be analyzed.
  const analysis = autoAnalyze(sql);
  return sql;
}
