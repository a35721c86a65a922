/**
 * The server over loopback: authorize+settle pairs as HTTP requests, sent by autocannon (a
 * real HTTP load generator) with as many connections as the library scenarios have workers,
 * to `npm start`'s own server in a process of its own, on PostgreSQL. The library's figure
 * for the same workload, measured in the same run, is its yardstick.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createBilling } from '../src/index.ts';
import { checkLedger, openFunded, randomOf, type BenchDatabase, type LedgerCheck } from './scenarios.ts';

export interface HttpResult {
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

export async function benchHttp(database: BenchDatabase, accountIds: readonly string[], options: { connections: number; seconds: number; warmupSeconds: number }): Promise<HttpResult> {
  await (await openFunded(database, accountIds, 4)).close();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), TOLLGATE_SECRET_KEY: SECRET, TOLLGATE_ADMIN_PASSWORD: 'bench-admin-password', WEB_CONCURRENCY: '1' },
    stdio: 'ignore',
  });
  try {
    await waitHealthy(base, server);
    const pick = randomOf(accountIds);
    const run = (seconds: number) =>
      autocannon({
        url: base,
        connections: options.connections,
        duration: seconds,
        headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
        requests: [
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
        ],
      });
    await run(options.warmupSeconds);
    const result = await run(options.seconds);
    const billing = await createBilling({ database: database.url });
    const checked = await checkLedger(billing, accountIds.slice(0, 20)).finally(() => billing.close());
    // autocannon stops at its deadline: a pair cut between its two requests leaves its hold open, one per connection
    // at most in each of the two runs (the warm-up's and the measured one).
    const problems = checked.openHolds <= 2 * options.connections ? checked.problems.filter((p) => !p.includes('holds still open')) : checked.problems;
    const ledger = { ...checked, ok: problems.length === 0, problems };
    return {
      pairsPerSecond: result['2xx'] / 2 / options.seconds,
      requestsPerSecond: result.requests.average,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      ledger,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
    await database.drop();
  }
}
