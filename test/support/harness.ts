/**
 * Test harness: every suite runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is
 * set (each suite in a schema of its own, dropped afterwards). One database per suite,
 * emptied before each test, with a clock the test moves by hand.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { createBilling, fakeProcessor, type Billing, type BillingOptions } from '../../src/index.ts';
import { migrate } from '../../src/db/migrate.ts';
import { openPglite } from '../../src/db/pglite.ts';
import { connectPostgres } from '../../src/db/postgres.ts';
import type { Sql } from '../../src/db/sql.ts';

export const POSTGRES_URL = process.env.TEST_DATABASE_URL;

export interface Engine {
  name: 'pglite' | 'postgres';
  /** A fresh database with every migration applied, or those `through` the one named; on PostgreSQL, its URL for other processes. */
  open(options?: { through?: string }): Promise<{ sql: Sql; url?: string; drop(): Promise<void> }>;
}

/** The data directories the run's setup dumped (setup/pglite-image.ts), migrated and not, each read once per worker. */
const images = new Map<'pgliteImage' | 'pgliteUnmigratedImage', Promise<Blob>>();
const imageOf = (key: 'pgliteImage' | 'pgliteUnmigratedImage') => {
  if (!images.has(key)) images.set(key, readFile(inject(key)).then((bytes) => new Blob([bytes])));
  return images.get(key)!;
};

/**
 * A new directory holding the run's migrated image, for a process started on pglite:// (a
 * server, another holder of the directory): a first start as on an empty directory, without
 * initdb and the migrations in WASM (database.test.ts starts from an empty one). The caller removes it.
 */
export function migratedDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-db-'));
  execFileSync('tar', ['-xf', inject('pgliteImage'), '-C', dir], { stdio: 'ignore' });
  return dir;
}

const pglite: Engine = {
  name: 'pglite',
  async open({ through } = {}) {
    // A database migrated only part way starts from the image before any migration; every other from the migrated image.
    const sql = await openPglite(undefined, { loadDataDir: await imageOf(through === undefined ? 'pgliteImage' : 'pgliteUnmigratedImage') });
    await migrate(sql, { through });
    return { sql, drop: () => sql.close() };
  },
};

/**
 * The library on an embedded database loaded from the run's migrated image: as on memory://,
 * without migrating it again. Closing it closes that database too.
 */
export async function billingInMemory(options: Omit<BillingOptions, 'database'> = {}): Promise<Billing> {
  const db = await pglite.open();
  const billing = await createBilling({ ...options, database: db.sql });
  const close = billing.close;
  return Object.assign(billing, { close: async () => { await close(); await db.drop(); } });
}

export function postgresSchemaUrl(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

const postgres: Engine = {
  name: 'postgres',
  async open({ through } = {}) {
    const schema = `tollgate_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = postgresSchemaUrl(POSTGRES_URL!, schema);
    const sql = connectPostgres(url, { max: 20 });
    await migrate(sql, { through });
    return {
      sql,
      url,
      async drop() {
        await sql.close();
        const c = new pg.Client({ connectionString: POSTGRES_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      },
    };
  },
};

if (!POSTGRES_URL) {
  console.warn('\n[tollgate tests] TEST_DATABASE_URL is not set: the PostgreSQL runs are SKIPPED, PGlite runs only.\n');
}

export const ENGINES: Engine[] = POSTGRES_URL ? [pglite, postgres] : [pglite];

export class TestClock {
  constructor(public now: Date = new Date('2026-03-10T12:00:00Z')) {}
  readonly read = () => new Date(this.now.getTime());
  set(iso: string) {
    this.now = new Date(iso);
  }
  advance(ms: number) {
    this.now = new Date(this.now.getTime() + ms);
  }
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const TABLES = 'ledger_entries, usage_events, holds, buckets, payments, subscriptions, account_balances, accounts, model_prices, packs, plans, settings, api_idempotency, effect_keys, admin_sessions, admin_login_attempts, webhook_events, catalog_syncs, auto_recharge, recharges, payment_refunds, plan_versions';

/**
 * The statements that empty a database as `TRUNCATE ${TABLES} RESTART IDENTITY CASCADE` would:
 * the same tables and those referencing them, children first, and their sequences restarted.
 * DELETE on a few rows is far cheaper than TRUNCATE, which makes new files for every table.
 */
async function emptying(sql: Sql): Promise<string> {
  const references = await sql.query<{ child: string; parent: string }>(
    `SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`,
  );
  const tables = new Set(TABLES.split(', '));
  for (let grew = true; grew; ) {
    grew = false;
    for (const { child, parent } of references) {
      if (tables.has(parent) && !tables.has(child)) {
        tables.add(child);
        grew = true;
      }
    }
  }
  const seen = new Set<string>();
  const ordered: string[] = []; // every table after the tables referencing it
  const visit = (table: string) => {
    if (seen.has(table)) return;
    seen.add(table);
    for (const { child, parent } of references) if (parent === table) visit(child);
    ordered.push(table);
  };
  for (const table of tables) visit(table);
  const sequences = await sql.query<{ sequence: string; start: string }>(
    `SELECT s.seqrelid::regclass::text AS sequence, s.seqstart::text AS start FROM pg_sequence s JOIN pg_depend d ON d.objid = s.seqrelid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') WHERE d.refobjid::regclass::text = ANY($1)`,
    [[...tables]],
  );
  const restart = sequences.map(({ sequence, start }) => `setval('${sequence}', ${start}, false)`).join(', ');
  return [...ordered.map((table) => `DELETE FROM ${table};`), restart ? `SELECT ${restart};` : '', 'INSERT INTO settings (id) VALUES (true);'].join('\n');
}

/**
 * Registers hooks in the calling describe block; the returned object is filled in before
 * each test with a fresh billing facade on an empty catalog.
 */
export function useBilling(engine: Engine, options: Pick<BillingOptions, 'processors'> = {}): { billing: Billing; clock: TestClock; sql: Sql } {
  const state = { clock: new TestClock() } as { billing: Billing; clock: TestClock; sql: Sql };
  let db: Awaited<ReturnType<Engine['open']>>;
  let empty: string;
  beforeAll(async () => {
    db = await engine.open();
    state.sql = db.sql;
    empty = await emptying(db.sql);
  });
  beforeEach(async () => {
    await db.sql.exec(empty);
    state.clock = new TestClock();
    state.billing = await createBilling({ database: db.sql, clock: state.clock.read, processors: options.processors ?? [fakeProcessor()] });
  });
  afterEach(async () => {
    await state.billing?.close(); // the holds it answered ahead are written before the next test empties the tables
  });
  afterAll(async () => {
    await db?.drop();
  });
  return state;
}
