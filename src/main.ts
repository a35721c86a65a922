/**
 * `npm start`: the Tollgate server. Reads its configuration (the environment, and `.env` when
 * there is one), prepares the database (migrations, the first pricing preset, credentials),
 * prints where to go and how to get in, and serves: in this process, or in WEB_CONCURRENCY
 * worker processes (node:cluster) on one PostgreSQL database.
 */
import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createBilling, type Billing } from './engine/billing.ts';
import { fakeProcessor } from './processors/fake/index.ts';
import { formatBps, formatCents } from './core/money.ts';
import { pricingTable, sanityChecks } from './core/sanity.ts';
import { ConfigError, loadConfig, type Config } from './server/config.ts';
import { loadCredentials, type Credentials } from './hono/credentials.ts';
import { serveHere } from './server/serve.ts';
import { serverLogger } from './server/log.ts';
import { afterDeath } from './server/restarts.ts';
import { databaseUnreachable } from './db/unreachable.ts';
import { shownUrl, startProblem } from './server/database-errors.ts';

if (existsSync('.env')) process.loadEnvFile('.env');

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Tollgate cannot start: ${error.message}`);
  process.exit(1);
}
const logger = serverLogger(config.logLevel);

/**
 * The processors accounts may pay through: the fake one, which charges nobody, and those
 * configured. A vendor's SDK takes a while to load, so only a configured one is loaded.
 */
const processors = async () => [
  // Once a real processor takes payments, the fake one only lets the accounts made on it leave.
  fakeProcessor(config.processor === 'fake' ? {} : { replacedBy: config.processor }),
  ...(config.stripe ? [(await import('./processors/stripe/index.ts')).stripeProcessor(config.stripe)] : []),
  ...(config.paddle ? [(await import('./processors/paddle/index.ts')).paddleProcessor(config.paddle)] : []),
];

/**
 * A processor key its processor refuses stops the start, as a malformed one does: a server that
 * started would fail on its first checkout. Once, in the primary; a processor that cannot be
 * reached now is said and the start goes on (the gate needs no processor).
 */
async function checkProcessorKeys(): Promise<void> {
  const answers = [
    ...(config.stripe ? [(await import('./processors/stripe/client.ts')).refusedKey(config.stripe.secretKey, config.stripe.apiBase).then((a) => ({ name: 'Stripe', ...a }))] : []),
    ...(config.paddle ? [(await import('./processors/paddle/client.ts')).refusedKey(config.paddle.apiKey, config.paddle).then((a) => ({ name: 'Paddle', ...a }))] : []),
  ];
  for (const { name, refused, unreachable } of await Promise.all(answers)) {
    if (refused) {
      console.error(`Tollgate cannot start: ${refused}`);
      process.exit(1);
    }
    if (unreachable) logger.warn(`${name} could not be asked whether it takes the key (${unreachable}): starting anyway`);
  }
}

/** Why the server cannot listen where it was told to, and what to set instead. */
function listenProblem(error: NodeJS.ErrnoException): string {
  const where = `${config.host}:${config.port}`;
  if (error.code === 'EADDRINUSE') return `${where} is in use by another program: set PORT to a free port (PORT=3001 npm start)`;
  if (error.code === 'EACCES') return `listening on ${where} needs privileges this process does not have: set PORT above 1023`;
  if (error.code === 'EADDRNOTAVAIL') return `${config.host} is not an address of this machine: set HOST to one that is (127.0.0.1, or 0.0.0.0 for every interface)`;
  return `cannot listen on ${where} (${error.message})`;
}

/**
 * The port is free, or the start stops saying so: before the first start generates the admin
 * password and API key, which it shows only once it serves (a start that died listening lost them).
 */
async function assertCanListen(): Promise<void> {
  const probe = createServer();
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    probe.once('error', resolve);
    probe.listen(config.port, config.host, () => probe.close(() => resolve(undefined)));
  });
  if (error) {
    console.error(`Tollgate cannot start: ${listenProblem(error)}`);
    process.exit(1);
  }
}

const openBilling = async () =>
  createBilling({ database: config.databaseUrl, processors: await processors(), defaultProcessor: config.processor, clockResyncMs: config.clockResyncSeconds * 1000 });

/** A start that cannot use its database (down, a wrong password, no such database) stops, saying what to set. */
function stopOnDatabaseProblem(error: unknown): never {
  const problem = startProblem(error, config.databaseUrl);
  if (problem === undefined) throw error;
  console.error(`Tollgate cannot start: ${problem}`);
  process.exit(1);
}

/**
 * A worker starts after the primary used the database: one out of reach then is an outage,
 * waited out. A worker that died of it would be replaced by one that dies the same way, again
 * and again, each with its stack trace.
 */
async function untilReachable<T>(work: () => Promise<T>): Promise<T> {
  for (let said = false; ; said = true) {
    try {
      return await work();
    } catch (error) {
      if (!databaseUnreachable(error)) throw error;
      if (!said) logger.warn({ error: (error as Error).message }, 'worker start: the database does not answer, retrying');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/** Price with a preset on the first start, generate what was not configured, and say how to get in. */
async function prepare(billing: Billing, config: Config): Promise<{ details: string; credentials: Credentials }> {
  if (!(await billing.admin.getSettings()).pricingMode) await billing.admin.applyPreset('subscription-plus-packs');
  const credentials = await loadCredentials(billing.sql, config);
  const { generated } = credentials;
  const catalog = await billing.admin.catalog();
  const { settings } = catalog;
  const { plans, packs } = pricingTable(catalog);
  const checks = sanityChecks(catalog);
  const lines = [
    `pricing mode: ${settings.pricingMode}, margin ${formatBps(settings.marginBps)}`,
    `plans on sale: ${plans.map((p) => `${p.name} (${formatCents(p.priceCents)}/month)`).join(', ') || 'none'}`,
    `packs on sale: ${packs.map((p) => `${p.name} (${formatCents(p.priceCents)}${p.requiresPlan ? ', add-on' : ''})`).join(', ') || 'none'}`,
    ...(checks.length ? [`${checks.length === 1 ? '1 thing' : `${checks.length} things`} to look at in the plans and packs: see Pricing mode in the admin panel`] : []),
  ];
  lines.push(...(await paymentLines(billing, config)));
  if (generated.adminPassword) lines.push(`admin password (shown once, stored hashed): ${generated.adminPassword}`);
  else if (!config.adminPassword) lines.push('admin password: the one printed on first start (set TOLLGATE_ADMIN_PASSWORD to choose one)');
  if (generated.apiKey) lines.push(`API secret key (shown once, stored hashed): ${generated.apiKey}`);
  else if (!config.secretKey) lines.push('API secret key: the one printed on first start (set TOLLGATE_SECRET_KEY to choose one)');
  return { details: lines.join('\n'), credentials };
}

/**
 * Where new accounts pay, and what a switch from the fake processor leaves behind: accounts made
 * before stay on it, whose checkouts still charge nobody, until each is moved.
 */
async function paymentLines(billing: Billing, config: Config): Promise<string[]> {
  const chosen = billing.admin.processors().find((p) => p.isDefault);
  const lines = [`new accounts pay through: ${config.processor === 'fake' ? 'the fake processor (charges nobody)' : `${config.processor}${chosen?.mode ? ` (${chosen.mode})` : ''}`}`];
  if (config.processor === 'fake') return lines;
  const [{ count } = { count: 0 }] = await billing.sql.query<{ count: number }>(`SELECT count(*)::int AS count FROM accounts WHERE processor = 'fake'`);
  if (count > 0) {
    lines.push(
      `${count === 1 ? '1 account is' : `${count} accounts are`} still on the fake processor, which sells nothing now (their checkouts are refused, their plans end at their period's end): move each to ${config.processor} ` +
        `(PUT /v1/accounts/{id} with "processor": "${config.processor}", or its admin page)`,
    );
  }
  return lines;
}

/** The webhook URL to register with each real processor configured: on PUBLIC_URL when set, as the processor reaches this server there. */
function webhookLines(base: string): string {
  const origin = config.publicUrl ?? base;
  const names = [...(config.stripe ? ['stripe'] : []), ...(config.paddle ? ['paddle'] : [])];
  return names.map((name) => `${name} webhook: ${origin}/webhooks/${name}  (register it at ${name === 'stripe' ? 'Stripe' : 'Paddle'})\n`).join('');
}

function banner(port: number, details: string) {
  const base = `http://${config.host}:${port}`;
  console.log(`Tollgate — billing for AI apps
database: ${shownUrl(config.databaseUrl)}
${details}

admin panel: ${base}/admin
API:         ${base}/v1  (docs: ${base}/v1/docs, OpenAPI: ${base}/v1/openapi.json)
health:      ${base}/healthz
${webhookLines(base)}`);
}

/** After the stop's bound for connections, what a worker has to close its database before it exits anyway. */
const DATABASE_CLOSE_MS = 1_000;
/** After the stop's bound, what the primary gives its workers before it kills what is left of them. */
const WORKER_GRACE_MS = 2_000;

/** Calls `stop` on the first SIGTERM or SIGINT; later ones find the stop under way (a terminal's Ctrl-C reaches every worker, and the primary forwards it too). */
function onStopSignal(stop: (signal: NodeJS.Signals) => void) {
  let stopping = false;
  const once = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
}

/**
 * Serve in this process until SIGTERM or SIGINT, then stop: idle connections close at once,
 * requests in flight are answered with `Connection: close`, and the process exits within the
 * stop's bound (server/connections.ts), plus a second for the database.
 */
async function serveUntilStopped(billing: Billing, credentials?: Credentials, onListening?: (port: number) => void) {
  const server = await serveHere(billing, config, logger, credentials);
  onListening?.(server.port);
  onStopSignal((signal) => {
    logger.info({ signal, seconds: config.stopTimeoutSeconds }, 'stopping: finishing requests in flight');
    setTimeout(() => {
      logger.error('stop: the database did not close in time');
      process.exit(1);
    }, config.stopTimeoutSeconds * 1000 + DATABASE_CLOSE_MS).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop: closing failed');
        process.exit(1);
      },
    );
  });
}

if (cluster.isPrimary) {
  await assertCanListen();
  await checkProcessorKeys();
  const billing = await openBilling().catch(stopOnDatabaseProblem);
  const { details, credentials } = await prepare(billing, config).catch(stopOnDatabaseProblem);
  if (config.workers === 1) {
    await serveUntilStopped(billing, credentials, (port) => banner(port, details));
  } else {
    await billing.close();
    // Each worker accepts its own connections from the shared socket. Under node:cluster's
    // default (the primary accepts and hands each connection to a worker), a connection handed
    // to a worker as it died was held by the primary, never answered nor closed; now the kernel
    // keeps what no worker accepted for the living ones, and closes what a dead one had.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    let stopping = false;
    let killed = 0;
    // A worker stays in cluster.workers until its IPC channel closes too, which may come after its exit.
    const living = () => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead());
    const exitWhenAllGone = () => {
      if (living().length === 0) process.exit(killed ? 1 : 0);
    };
    // When each worker started, whether it served, and how many failed starts in a row in its place came before it (server/restarts.ts).
    // A worker is named by `worker` in the primary's lines: `pid` is the primary's own, on every line it writes.
    const starts = new Map<Worker, { at: number; served: boolean; failedStarts: number }>();
    const fork = (failedStarts: number) => starts.set(cluster.fork(), { at: Date.now(), served: false, failedStarts });
    cluster.on('fork', (worker) => logger.info({ worker: worker.process.pid }, 'worker started'));
    cluster.on('listening', (worker) => {
      const start = starts.get(worker);
      if (start && !start.served) logger.info({ worker: worker.process.pid }, 'worker serving');
      if (start) start.served = true;
    });
    cluster.on('exit', (worker, code, signal) => {
      const start = starts.get(worker)!;
      starts.delete(worker);
      if (stopping) return exitWhenAllGone();
      const { failedStarts, waitMs } = afterDeath(start.served, start.failedStarts);
      const upSeconds = Math.round((Date.now() - start.at) / 100) / 10;
      logger.error(
        { worker: worker.process.pid, code, signal, upSeconds, served: start.served, restartInSeconds: waitMs / 1000 },
        `worker died (${signal ?? `exit code ${code}`}) ${upSeconds} s after it started${start.served ? '' : ', before it served'}: starting another ${waitMs ? `in ${waitMs / 1000} s` : 'now'}`,
      );
      setTimeout(() => {
        if (!stopping) fork(failedStarts);
      }, waitMs);
    });
    for (let i = 0; i < config.workers; i++) fork(0);
    banner(config.port, `${details}\nworkers: ${config.workers}`);
    onStopSignal((signal) => {
      stopping = true;
      logger.info({ signal, seconds: config.stopTimeoutSeconds }, 'stopping workers');
      for (const worker of living()) worker.process.kill(signal);
      exitWhenAllGone();
      setTimeout(() => {
        for (const worker of living()) {
          logger.error({ worker: worker.process.pid }, 'worker did not stop in time: killed');
          killed++;
          worker.process.kill('SIGKILL');
        }
      }, config.stopTimeoutSeconds * 1000 + WORKER_GRACE_MS).unref();
    });
  }
} else {
  const billing = await untilReachable(openBilling);
  await serveUntilStopped(billing, await untilReachable(() => loadCredentials(billing.sql, config)));
}
