/**
 * Test harness: every suite runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is
 * set (each suite in a schema of its own, dropped afterwards). One database per suite,
 * emptied before each test, with a clock the test moves by hand.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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

/** The migrated data directory the run's setup dumped (setup/pglite-image.ts), read once per worker. */
let image: Promise<Blob> | undefined;
const migratedImage = () => (image ??= readFile(inject('pgliteImage')).then((bytes) => new Blob([bytes])));

const pglite: Engine = {
  name: 'pglite',
  async open({ through } = {}) {
    // A database migrated only part way starts empty; every other starts from the migrated image.
    const sql = await openPglite(undefined, through === undefined ? { loadDataDir: await migratedImage() } : {});
    await migrate(sql, { through });
    return { sql, drop: () => sql.close() };
  },
};

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
 * Registers hooks in the calling describe block; the returned object is filled in before
 * each test with a fresh billing facade on an empty catalog.
 */
export function useBilling(engine: Engine, options: Pick<BillingOptions, 'processors'> = {}): { billing: Billing; clock: TestClock; sql: Sql } {
  const state = { clock: new TestClock() } as { billing: Billing; clock: TestClock; sql: Sql };
  let db: Awaited<ReturnType<Engine['open']>>;
  beforeAll(async () => {
    db = await engine.open();
    state.sql = db.sql;
  });
  beforeEach(async () => {
    await db.sql.exec(`TRUNCATE ${TABLES} RESTART IDENTITY CASCADE; INSERT INTO settings (id) VALUES (true);`);
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
