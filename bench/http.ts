/**
 * The server over loopback: authorize+settle pairs, or batches of usage records, as HTTP
 * requests, sent by autocannon (a real HTTP load generator) with as many connections as the
 * library scenarios have workers, to `npm start`'s own server in a process of its own, on
 * PostgreSQL. The library's figure for the same workload, measured in the same run, is its
 * yardstick.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createBilling } from '../src/index.ts';
import { checkLedger, openFunded, randomOf, type BenchDatabase, type LedgerCheck } from './scenarios.ts';

export interface HttpResult {
  /** Pairs per second, or for batches events per second. */
  pairsPerSecond: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  ledger: LedgerCheck;
}

const SECRET = 'bench-secret-key-0123456789abcdef';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function waitHealthy(base: string, child: { exitCode: number | null }): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server did not become healthy within 60 s');
}

let sequence = 0;
/** What a connection remembers between the two requests of a pair. */
type Pair = { inputTokens?: number; holdId?: string };
const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** `npm start`'s server on the database, in a process of its own, for the time `work` takes; then the ledger checked. */
async function withServer(
  database: BenchDatabase, accountIds: readonly string[], openHoldsAllowed: number, work: (base: string) => Promise<autocannon.Result>,
): Promise<{ result: autocannon.Result; ledger: LedgerCheck }> {
  await (await openFunded(database, accountIds, 4)).close();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it stops (where its time goes).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const server = spawn(process.execPath, [...profile, '--import', 'tsx', MAIN], {
    env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), TOLLGATE_SECRET_KEY: SECRET, TOLLGATE_ADMIN_PASSWORD: 'bench-admin-password', WEB_CONCURRENCY: '1' },
    stdio: 'ignore',
  });
  try {
    await waitHealthy(base, server);
    const result = await work(base);
    const billing = await createBilling({ database: database.url });
    const checked = await checkLedger(billing, accountIds.slice(0, 20)).finally(() => billing.close());
    const problems = checked.openHolds <= openHoldsAllowed ? checked.problems.filter((p) => !p.includes('holds still open')) : checked.problems;
    return { result, ledger: { ...checked, ok: problems.length === 0, problems } };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
    await database.drop();
  }
}

const summary = (result: autocannon.Result, perSecond: number, ledger: LedgerCheck): HttpResult => ({
  pairsPerSecond: perSecond,
  requestsPerSecond: result.requests.average,
  latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  ledger,
});

type RunOptions = { connections: number; seconds: number; warmupSeconds: number };

/** autocannon's requests, in a loop on each connection, for the warm-up and then for the measured seconds. */
async function warmedUp(base: string, options: RunOptions, requests: autocannon.Request[]): Promise<autocannon.Result> {
  const run = (seconds: number) =>
    autocannon({ url: base, connections: options.connections, duration: seconds, headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, requests });
  await run(options.warmupSeconds);
  return run(options.seconds);
}

export async function benchHttp(database: BenchDatabase, accountIds: readonly string[], options: RunOptions): Promise<HttpResult> {
  const pick = randomOf(accountIds);
  // autocannon stops at its deadline: a pair cut between its two requests leaves its hold open, one per connection
  // at most in each of the two runs (the warm-up's and the measured one).
  const { result, ledger } = await withServer(database, accountIds, 2 * options.connections, (base) =>
    warmedUp(base, options, [
      {
        method: 'POST',
        setupRequest: (request, context: Pair) => {
          context.inputTokens = between(200, 2_000);
          return { ...request, path: `/v1/accounts/${pick()}/authorize`, body: JSON.stringify({ model: 'gpt-4o-mini', inputTokens: context.inputTokens, maxOutputTokens: 500 }) };
        },
        onResponse: (status, body, context: Pair) => {
          context.holdId = status === 201 ? (JSON.parse(body) as { hold: { id: string } }).hold.id : undefined;
        },
      },
      {
        method: 'POST',
        setupRequest: (request, context: Pair) => {
          if (!context.holdId) return undefined as never; // refused: start the pair again
          return {
            ...request, path: `/v1/holds/${context.holdId}/settle`,
            headers: { ...request.headers, 'idempotency-key': `bench-http-${++sequence}` },
            body: JSON.stringify({ usage: { inputTokens: context.inputTokens, outputTokens: between(50, 500) } }),
          };
        },
      },
    ]));
  return summary(result, result['2xx'] / 2 / options.seconds, ledger);
}

/**
 * The library's record-batch scenario over HTTP: each request `POST /v1/usage-records/batch` with
 * `batchSize` usages over random accounts, each item with its own key. Events per second.
 */
export async function benchHttpBatch(database: BenchDatabase, accountIds: readonly string[], batchSize: number, options: RunOptions): Promise<HttpResult> {
  const pick = randomOf(accountIds);
  const { result, ledger } = await withServer(database, accountIds, 0, (base) =>
    warmedUp(base, options, [
      {
        method: 'POST',
        path: '/v1/usage-records/batch',
        setupRequest: (request) => {
          const items = Array.from({ length: batchSize }, () => ({
            accountId: pick(), model: 'gpt-4o-mini', usage: { inputTokens: between(200, 2_000), outputTokens: between(50, 500) },
            idempotencyKey: `bench-http-${++sequence}`,
          }));
          return { ...request, body: JSON.stringify({ items }) };
        },
      },
    ]));
  return summary(result, (result['2xx'] * batchSize) / options.seconds, ledger);
}
