/**
 * `npx tsx bench/login-flood.ts`: what a flood of admin logins does to the API. `npm start`'s
 * server with BENCH_WORKERS workers on PostgreSQL; authorize requests paced at BENCH_RATE/s by
 * autocannon, first alone, then while another process sends BENCH_LOGIN_RATE wrong passwords a
 * second without waiting for the answers (an attacker's open loop), each on a connection of its
 * own from a loopback address of its own (127.1.x.y), so that no address limit stops them: what
 * is left to bound the hashing is the server's own bound. Prints authorize's latency in both
 * runs and the logins' answers by status.
 *
 *   BENCH_DATABASE_URL  PostgreSQL server (default TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_SECONDS       seconds of each run (default 10)
 *   BENCH_WORKERS       server processes (default 4)
 *   BENCH_RATE          authorize requests per second (default 400)
 *   BENCH_LOGIN_RATE    wrong logins sent per second during the flood (default 100)
 */
import { fork, spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, waitHealthy } from './http.ts';
import { openFunded, postgresSchema, randomOf } from './scenarios.ts';

const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const seconds = setting('BENCH_SECONDS', 10);
const workers = setting('BENCH_WORKERS', 4);
const rate = setting('BENCH_RATE', 400);
const loginRate = setting('BENCH_LOGIN_RATE', 100);
const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECRET = 'bench-secret-key-0123456789abcdef';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

/** One request on a connection of its own from `localAddress`: its status, or 0 when it failed. */
function post(port: number, path: string, headers: Record<string, string>, body: string, localAddress?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers, agent: false, localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end(body || undefined);
  });
}

/** The flood, in a process of its own (its sockets would slow autocannon's measures): until SIGTERM, then its counts on stdout. */
async function floodLogins(port: number): Promise<void> {
  const form = await post(port, '/admin/login', {}, '');
  const cookie = String((form.headers['set-cookie'] as string[]).find((c) => c.startsWith('tollgate_login='))!.split(';')[0]);
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const statuses: Record<string, number> = {};
  let n = 0;
  const send = () => {
    n++;
    const address = `127.1.${(n >> 8) & 255}.${(n & 255) || 1}`;
    const body = new URLSearchParams({ _csrf: token, password: `guess ${n}` }).toString();
    void post(port, '/admin/login', { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(Buffer.byteLength(body)) }, body, address).then(({ status }) => {
      statuses[status || 'failed'] = (statuses[status || 'failed'] ?? 0) + 1;
    });
  };
  let due = 0;
  const timer = setInterval(() => {
    for (due += loginRate / 100; due >= 1; due--) send();
  }, 10);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    setTimeout(() => {
      process.stdout.write(JSON.stringify({ sent: n, statuses }));
      process.exit(0);
    }, 3_000);
  });
}

if (process.argv[2] === 'flood') await floodLogins(Number(process.argv[3]));
else await main();

async function main() {
  const accountIds = Array.from({ length: 100 }, (_, i) => `flood-${i}`);
  const database = await postgresSchema(serverUrl);
  await (await openFunded(database, accountIds, 4)).close();
  const port = await freePort();
  const server = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), TOLLGATE_SECRET_KEY: SECRET, TOLLGATE_ADMIN_PASSWORD: 'bench-admin-password', WEB_CONCURRENCY: String(workers), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  async function authorizeLatency(): Promise<autocannon.Result> {
    const pick = randomOf(accountIds);
    return autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 8,
      overallRate: rate,
      duration: seconds,
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      requests: [{ method: 'POST', setupRequest: (r) => ({ ...r, path: `/v1/accounts/${pick()}/authorize`, body: JSON.stringify({ model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 500 }) }) }],
    });
  }

  const line = (name: string, r: autocannon.Result) =>
    `${name}: ${r.requests.total} authorize, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms; non-2xx ${r.non2xx}, errors ${r.errors + r.timeouts}`;

  try {
    await waitHealthy(`http://127.0.0.1:${port}`, server);
    log(`${workers} workers; authorize at ${rate}/s for ${seconds}s, alone`);
    const quiet = await authorizeLatency();

    const flood = fork(fileURLToPath(import.meta.url), ['flood', String(port)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let counts = '';
    flood.stdout!.on('data', (chunk: Buffer) => (counts += chunk.toString()));
    const floodEnded = new Promise((resolve) => flood.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    log(`authorize at ${rate}/s for ${seconds}s, with ${loginRate} wrong logins a second from as many addresses`);
    const flooded = await authorizeLatency();
    flood.kill('SIGTERM');
    await floodEnded;
    const { sent, statuses } = JSON.parse(counts) as { sent: number; statuses: Record<string, number> };
    console.log(`\n${line('alone', quiet)}\n${line('during the login flood', flooded)}`);
    console.log(`logins during the flood: ${sent} sent; ${Object.entries(statuses).map(([s, n]) => `${n} × ${s}`).join(', ')}\n`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
    await database.drop();
  }
}
