/**
 * `npm run bench`: the gate's throughput and latency on PostgreSQL and PGlite, next to
 * pgbench's ceiling for this machine. Prints a table and writes bench/results/latest.json.
 *
 *   BENCH_DATABASE_URL   PostgreSQL server (default TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_SECONDS        measured seconds per scenario (default 8), after BENCH_WARMUP_SECONDS (default 1)
 *   BENCH_ACCOUNTS       accounts for the spread-out scenarios (default 1000)
 *   BENCH_PACED_RATE     pairs/s of the paced (below saturation) latency scenario (default 400)
 *   BENCH_PGLITE         disk (default: a temporary pglite:// directory) or memory
 *   BENCH_ONLY           http: only the server's scenario (no library figure to compare it with); middleware: only the AI SDK middleware's;
 *                        http-batch: only the server's batches of usage records; a library scenario's kind (pairs-across,
 *                        pairs-hot, pairs-paced, record, record-batch): only it, on both engines. Several, comma-separated:
 *                        BENCH_ONLY=record-batch,http-batch
 *   BENCH_AI_CALLS       generateText calls, bare and wrapped each, of the middleware's scenario (default 1000)
 *   PGBENCH              the pgbench binary (default pgbench on the PATH)
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import pg from 'pg';
import { runLoad } from './load.ts';
import { bracketed, checkpoint, machineCeiling, PGBENCH, type Ceiling } from './pgbench.ts';
import { commitFloor, type CommitFloor } from './commit-floor.ts';
import { evaluateTargets, formatReport, isValid, type ScenarioKind, type ScenarioResult } from './report.ts';
import { benchHttp, benchHttpBatch, type HttpResult } from './http.ts';
import { benchMiddleware, formatMiddleware } from './middleware.ts';
import { BATCH_SIZE, checkLedger, HOT_ACCOUNT, openFunded, pairOn, pgliteDatabase, postgresSchema, randomOf, recordBatchOn, recordOn, type BenchDatabase } from './scenarios.ts';

const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  seconds: setting('BENCH_SECONDS', 8),
  warmupSeconds: setting('BENCH_WARMUP_SECONDS', 1),
  workers: 8,
  accounts: setting('BENCH_ACCOUNTS', 1_000),
  poolSize: 16,
  reconcileSample: 20,
  /** Latency below saturation: pairs started per second in the paced scenario. */
  pacedRate: setting('BENCH_PACED_RATE', 400),
  pglite: process.env.BENCH_PGLITE === 'memory' ? ('memory' as const) : ('disk' as const),
};
const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function postgresVersion(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

const accountIds = Array.from({ length: config.accounts }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
const SCENARIOS: { kind: ScenarioKind; name: string; accounts: () => string }[] = [
  { kind: 'pairs-across', name: `authorize+settle, ${config.accounts} accounts`, accounts: randomOf(accountIds) },
  { kind: 'pairs-hot', name: 'authorize+settle, 1 hot account', accounts: () => HOT_ACCOUNT },
  { kind: 'pairs-paced', name: `authorize+settle paced at ${config.pacedRate}/s, ${config.accounts} accounts`, accounts: randomOf(accountIds) },
  { kind: 'record', name: `record, ${config.accounts} accounts`, accounts: randomOf(accountIds) },
  { kind: 'record-batch', name: `recordBatch ×${BATCH_SIZE} (events/s), ${config.accounts} accounts`, accounts: randomOf(accountIds) },
];
const only = new Set(process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean) ?? []);
const chosen = only.size === 0 ? SCENARIOS : SCENARIOS.filter((s) => only.has(s.kind));

/** What is measured of the machine itself, next to the scenarios it bounds (PostgreSQL only). */
interface MachineProbes {
  ceiling: () => Promise<Ceiling>;
  floors?: () => Promise<CommitFloor[]>;
}

interface EngineRun {
  results: Omit<ScenarioResult, 'ratioToPgbench'>[];
  ceiling?: Ceiling;
  floors?: CommitFloor[];
}

async function benchEngine(database: BenchDatabase, probes?: MachineProbes): Promise<EngineRun> {
  log(`${database.engine}: creating and funding ${config.accounts + 1} accounts`);
  const run: EngineRun = { results: [] };
  const billing = await openFunded(database, [...accountIds, HOT_ACCOUNT], config.poolSize).catch(async (error) => {
    await database.drop();
    throw error;
  });
  try {
    for (const [index, s] of chosen.entries()) {
      const operation = { record: recordOn, 'record-batch': recordBatchOn, 'pairs-across': pairOn, 'pairs-hot': pairOn, 'pairs-paced': pairOn }[s.kind](
        billing,
        s.accounts,
      );
      // The ceiling brackets the scenario compared to it (the first, when across accounts is not run); the floors go just before the paced one.
      const before = probes && (s.kind === 'pairs-across' || (index === 0 && !chosen.some((c) => c.kind === 'pairs-across'))) ? await probes.ceiling() : undefined;
      if (probes?.floors && s.kind === 'pairs-paced') {
        // The floors update pgbench's table: without a ceiling there are none.
        run.floors = run.ceiling && 'tps' in run.ceiling ? await probes.floors() : [{ skipped: 'needs pgbench, whose table it updates' }];
      }
      if (database.engine === 'postgres') await checkpoint(serverUrl);
      log(`${database.engine}: ${s.name} (${config.warmupSeconds}s warm-up + ${config.seconds}s)`);
      const measured = await runLoad(operation, { ...config, ratePerSecond: s.kind === 'pairs-paced' ? config.pacedRate : undefined });
      if (before) run.ceiling = bracketed(before, await probes!.ceiling(), s.name);
      // A batch scenario reports events per second; its latencies stay per batch.
      const load = s.kind === 'record-batch' ? { ...measured, opsPerSecond: measured.opsPerSecond * BATCH_SIZE } : measured;
      const sample = s.kind === 'pairs-hot' ? [HOT_ACCOUNT] : [HOT_ACCOUNT, ...accountIds.slice(0, config.reconcileSample)];
      const ledger = await checkLedger(billing, sample);
      run.results.push({ kind: s.kind, scenario: s.name, engine: database.engine, ...load, ledger });
    }
  } finally {
    await billing.close();
    await database.drop();
  }
  return run;
}

const postgres = await postgresVersion(serverUrl);
const probes: MachineProbes = {
  ceiling: async () => {
    log(`machine ceiling: pgbench simple-update, ${PGBENCH.clients} clients, ${PGBENCH.seconds}s`);
    return machineCeiling(serverUrl).catch((error: Error) => ({ skipped: `pgbench failed: ${error.message}` }));
  },
  floors: async () => {
    const floors: CommitFloor[] = [];
    for (const synchronousCommit of [true, false]) {
      log(`${synchronousCommit ? 'durable' : 'asynchronous'} commit floor: one-row updates paced at ${config.pacedRate}/s (${config.warmupSeconds}s warm-up + ${config.seconds}s)`);
      await checkpoint(serverUrl);
      floors.push(await commitFloor(serverUrl, { ...config, ratePerSecond: config.pacedRate, synchronousCommit }));
    }
    return floors;
  },
};
const unreachable = `PostgreSQL unreachable at ${serverUrl}`;
if (!postgres) log(`${unreachable}: its scenarios and the pgbench ceiling are SKIPPED`);
const runs = (name: string) => only.size === 0 || only.has(name);
const onPostgres: EngineRun = postgres && chosen.length > 0 ? await benchEngine(await postgresSchema(serverUrl), probes) : { results: [] };
const httpOptions = { connections: config.workers, seconds: config.seconds, warmupSeconds: config.warmupSeconds };
let http: HttpResult | undefined;
if (postgres && runs('http')) {
  log(`postgres: the server over loopback, authorize+settle by HTTP, ${config.workers} connections (${config.warmupSeconds}s warm-up + ${config.seconds}s)`);
  http = await benchHttp(await postgresSchema(serverUrl), accountIds, httpOptions);
}
let httpBatch: HttpResult | undefined;
if (postgres && runs('http-batch')) {
  log(`postgres: the server over loopback, batches of ${BATCH_SIZE} usage records by HTTP, ${config.workers} connections (${config.warmupSeconds}s warm-up + ${config.seconds}s)`);
  httpBatch = await benchHttpBatch(await postgresSchema(serverUrl), accountIds, BATCH_SIZE, httpOptions);
}
// PGlite's scenarios run on the same machine minutes later: their ceiling is measured around them too.
const onPglite = chosen.length === 0 ? { results: [] } : await benchEngine(await pgliteDatabase(config.pglite), postgres ? { ceiling: probes.ceiling } : undefined);
// Measured around the engines' scenarios: with none chosen (BENCH_ONLY=http), not run.
const skipped: Ceiling = { skipped: postgres ? 'not run' : unreachable };
const ceilings = { postgres: onPostgres.ceiling ?? skipped, pglite: onPglite.ceiling ?? skipped };
const floors: CommitFloor[] = onPostgres.floors ?? [{ skipped: runs('pairs-paced') && !postgres ? unreachable : 'not run' }];
const results: ScenarioResult[] = [...onPostgres.results, ...onPglite.results].map((r) => {
  const ceiling = ceilings[r.engine];
  return { ...r, ratioToPgbench: 'tps' in ceiling ? r.opsPerSecond / ceiling.tps : null };
});

const targets = evaluateTargets(results);
console.log(`\n${formatReport(results, ceilings, floors, targets)}\n`);
const httpLine = (what: string, unit: string, result: HttpResult, library: ScenarioResult | undefined, target: number) => {
  const l = result.latencyMs;
  const ratio = library ? result.pairsPerSecond / library.opsPerSecond : null;
  console.log(`HTTP ${what} over loopback (PostgreSQL, ${config.accounts} accounts): ${result.pairsPerSecond.toFixed(0)} ${unit}` +
    (library ? `, ${(100 * ratio!).toFixed(0)}% of the library's ${library.opsPerSecond.toFixed(0)} (target ≥ ${target}%)` : '') +
    `; per request p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms; non-2xx ${result.non2xx}, errors ${result.errors}; ledger ${result.ledger.ok ? 'reconciled' : `NOT reconciled: ${result.ledger.problems.join('; ')}`}\n`);
  return ratio;
};
const libraryOf = (kind: ScenarioKind) => results.find((r) => r.kind === kind && r.engine === 'postgres');
const serverRatio = http ? httpLine('authorize+settle', 'pairs/s', http, libraryOf('pairs-across'), 60) : null;
const batchRatio = httpBatch ? httpLine(`batches of ${BATCH_SIZE} usage records`, 'events/s', httpBatch, libraryOf('record-batch'), 50) : null;

const machine = { node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 2 ** 30), postgres };
const report = {
  date: new Date().toISOString(), machine, config, pgbench: { ...PGBENCH, ceilings }, commitFloors: floors, results: results.map((r) => ({ ...r, valid: isValid(r) })), targets,
  http: http ? { ...http, ratioToLibrary: serverRatio } : null,
  httpBatch: httpBatch ? { ...httpBatch, ratioToLibrary: batchRatio } : null,
};
if (runs('middleware')) {
  log(`${postgres ? 'postgres' : 'pglite'}: the AI SDK middleware, generateText on the mock model bare and wrapped, one call at a time`);
  const ai = await benchMiddleware(postgres ? await postgresSchema(serverUrl) : await pgliteDatabase('memory'), setting('BENCH_AI_CALLS', 1_000));
  console.log(`${formatMiddleware(ai)}\n`);
  Object.assign(report, { middleware: ai });
}

// A run of some scenarios only does not replace the last whole run's figures.
const file = new URL(only.size === 0 ? './results/latest.json' : `./results/only-${[...only].sort().join('+')}.json`, import.meta.url);
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${file.pathname}`);
const httpValid = (r: HttpResult | undefined) => !r || (r.ledger.ok && r.non2xx === 0 && r.errors === 0);
if (!results.every(isValid) || !httpValid(http) || !httpValid(httpBatch)) {
  log('INVALID run: refusals, errors or a ledger that does not reconcile (see above)');
  process.exitCode = 1;
}
