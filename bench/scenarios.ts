/**
 * The workloads: a fresh database per engine (a schema of its own on PostgreSQL, a temporary
 * directory for PGlite), funded accounts on the credit-packs preset, and the operations the
 * workers repeat. After every scenario the ledger is checked before its numbers count.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createBilling, fakeProcessor, type Billing } from '../src/index.ts';
import type { Operation, Step } from './load.ts';

export type EngineName = 'postgres' | 'pglite';

export interface BenchDatabase {
  engine: EngineName;
  url: string;
  drop(): Promise<void>;
}

export async function postgresSchema(serverUrl: string): Promise<BenchDatabase> {
  const schema = `tollgate_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(statement).finally(() => client.end());
  };
  await admin(`CREATE SCHEMA ${schema}`);
  const url = new URL(serverUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { engine: 'postgres', url: url.toString(), drop: () => admin(`DROP SCHEMA ${schema} CASCADE`) };
}

/** PGlite on disk in a temporary directory (as deployed: pglite://PATH), or in memory. */
export async function pgliteDatabase(storage: 'disk' | 'memory'): Promise<BenchDatabase> {
  if (storage === 'memory') return { engine: 'pglite', url: 'memory://', drop: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
  return { engine: 'pglite', url: `pglite://${dir}`, drop: () => rm(dir, { recursive: true, force: true }) };
}

const MODEL = 'gpt-4o-mini';
const FUNDING_MICROS = 1_000_000_000_000; // $1M each: nothing is ever refused for balance
export const HOT_ACCOUNT = 'bench-hot';

let sequence = 0;
const nextKey = () => `bench-${++sequence}`;
const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** A call as an app makes it: a prompt of up to 2k tokens, a 500-token cap, and what it really used. */
async function pair(billing: Billing, accountId: string, step: Step = (_, work) => work()): Promise<boolean> {
  const inputTokens = between(200, 2_000);
  const auth = await step('authorize', () => billing.authorize(accountId, { model: MODEL, inputTokens, maxOutputTokens: 500 }));
  if (!auth.ok) return false;
  await step('settle', () => billing.settle(auth.hold.id, { inputTokens, outputTokens: between(50, 500) }, { idempotencyKey: nextKey() }));
  return true;
}

export const pairOn = (billing: Billing, pick: () => string): Operation => (step) => pair(billing, pick(), step);

export const recordOn = (billing: Billing, pick: () => string): Operation => async (step) => {
  const usage = { inputTokens: between(200, 2_000), outputTokens: between(50, 500) };
  await step('record', () => billing.record(pick(), { model: MODEL, usage }, { idempotencyKey: nextKey() }));
  return true;
};

export const BATCH_SIZE = 100;

/** One recordBatch of BATCH_SIZE usages over random accounts; the scenario counts events, not batches. */
export const recordBatchOn = (billing: Billing, pick: () => string): Operation => async (step) => {
  const items = Array.from({ length: BATCH_SIZE }, () => ({
    accountId: pick(), model: MODEL, usage: { inputTokens: between(200, 2_000), outputTokens: between(50, 500) }, idempotencyKey: nextKey(),
  }));
  await step('recordBatch', () => billing.recordBatch(items));
  return true;
};

export const randomOf = (ids: readonly string[]) => () => ids[Math.floor(Math.random() * ids.length)]!;

/** Run `work` on every item, `concurrency` at a time. */
async function eachConcurrently<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/**
 * Open billing on an empty database, apply the credit-packs preset (payg: every model, overage
 * from credits) and fund every account generously. Two calls per account first, as in a
 * running app: the first opens the allowance and the usage windows, and leaves the account to
 * be read afresh; the second makes this process know it.
 */
export async function openFunded(database: BenchDatabase, accountIds: readonly string[], poolSize: number): Promise<Billing> {
  const billing = await createBilling({ database: database.url, poolSize, processors: [fakeProcessor()], rememberAccounts: process.env.BENCH_REMEMBER !== 'off' });
  await billing.admin.applyPreset('credit-packs');
  await eachConcurrently(accountIds, 8, async (id) => {
    await billing.upsertAccount({ id, kind: 'team' });
    await billing.credit(id, { source: 'bonus', amountMicros: FUNDING_MICROS, reference: 'bench-funding' });
    for (let call = 0; call < 2; call++) if (!(await pair(billing, id))) throw new Error(`account ${id} was refused while priming`);
  });
  return billing;
}

export interface LedgerCheck {
  ok: boolean;
  accountsReconciled: number;
  openHolds: number;
  problems: string[];
}

/** Reconcile a sample of accounts and check that no hold was left open by a lost settle. */
export async function checkLedger(billing: Billing, accountIds: readonly string[]): Promise<LedgerCheck> {
  const problems: string[] = [];
  for (const id of accountIds) {
    const result = await billing.reconcile(id);
    problems.push(...result.problems.map((p) => `${id}: ${p}`));
  }
  const [open] = await billing.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM holds WHERE status = 'open'`);
  if (open!.n > 0) problems.push(`${open!.n} holds still open after every authorize was settled`);
  return { ok: problems.length === 0, accountsReconciled: accountIds.length, openHolds: open!.n, problems };
}
