/**
 * `npm start`: the Tollgate server. Reads its configuration (the environment, and `.env` when
 * there is one), prepares the database (migrations, the first pricing preset, credentials),
 * prints where to go and how to get in, and serves: in this process, or in WEB_CONCURRENCY
 * worker processes (node:cluster) on one PostgreSQL database.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import pino from 'pino';
import { createBilling, type Billing } from './billing/billing.ts';
import { formatUsd } from './core/money.ts';
import { ConfigError, loadConfig, type Config } from './server/config.ts';
import { loadCredentials, type Credentials } from './server/credentials.ts';
import { serveHere } from './server/serve.ts';

if (existsSync('.env')) process.loadEnvFile('.env');

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Tollgate cannot start: ${error.message}`);
  process.exit(1);
}
const logger = pino({ level: config.logLevel });

/** Price with a preset on the first start, generate what was not configured, and say how to get in. */
async function prepare(billing: Billing, config: Config): Promise<{ details: string; credentials: Credentials }> {
  if (!(await billing.admin.getSettings()).pricingMode) await billing.admin.applyPreset('subscription-plus-packs');
  const credentials = await loadCredentials(billing.sql, config);
  const { generated } = credentials;
  const settings = await billing.admin.getSettings();
  const plans = await billing.admin.listPlans({ status: 'active' });
  const lines = [
    `pricing mode: ${settings.pricingMode}, margin ${settings.marginBps / 100}%`,
    `plans: ${plans.map((p) => `${p.name} (${formatUsd(p.priceCents * 10_000)}/month)`).join(', ')}`,
  ];
  if (generated.adminPassword) lines.push(`admin password (shown once, stored hashed): ${generated.adminPassword}`);
  else if (!config.adminPassword) lines.push('admin password: the one printed on first start (set TOLLGATE_ADMIN_PASSWORD to choose one)');
  if (generated.apiKey) lines.push(`API secret key (shown once, stored hashed): ${generated.apiKey}`);
  else if (!config.secretKey) lines.push('API secret key: the one printed on first start (set TOLLGATE_SECRET_KEY to choose one)');
  return { details: lines.join('\n'), credentials };
}

function banner(port: number, details: string) {
  const base = `http://${config.host}:${port}`;
  console.log(`Tollgate — billing for AI apps
database: ${config.databaseUrl}
${details}

admin panel: ${base}/admin
API:         ${base}/v1  (docs: ${base}/v1/docs, OpenAPI: ${base}/v1/openapi.json)
health:      ${base}/healthz
`);
}

/** Serve in this process until SIGTERM or SIGINT, then finish the requests in flight and close. */
async function serveUntilStopped(billing: Billing, credentials?: Credentials, onListening?: (port: number) => void) {
  const server = await serveHere(billing, config, logger, credentials);
  onListening?.(server.port);
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

if (cluster.isPrimary) {
  const billing = await createBilling({ database: config.databaseUrl });
  const { details, credentials } = await prepare(billing, config);
  if (config.workers === 1) {
    await serveUntilStopped(billing, credentials, (port) => banner(port, details));
  } else {
    await billing.close();
    for (let i = 0; i < config.workers; i++) cluster.fork();
    let stopping = false;
    cluster.on('exit', (worker, code) => {
      if (stopping) return;
      logger.error({ pid: worker.process.pid, code }, 'worker died: starting another');
      cluster.fork();
    });
    banner(config.port, `${details}\nworkers: ${config.workers}`);
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      logger.info({ signal }, 'shutting down workers');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  }
} else {
  await serveUntilStopped(await createBilling({ database: config.databaseUrl }));
}
