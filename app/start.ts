/**
 * Starting the app from its environment (main.ts, and the tests, which start it the same way):
 *
 *   - Tollgate in this process (the default): its library on the app's database (DATABASE_URL,
 *     else the embedded PGlite in ./.tollchat), better-auth's tables beside its own, and its
 *     server app (API, admin panel, billing page, webhooks) served on the app's port;
 *   - or Tollgate elsewhere: TOLLGATE_URL and TOLLGATE_API_KEY, and the app's own database.
 *
 * APP_PORT (default 3100; 0 picks a free one), APP_URL (where browsers reach it; default
 * http://127.0.0.1:APP_PORT), APP_AUTH_SECRET (signs log-in cookies; else one is made and kept
 * in the database, so every process of the app shares it). Stripe and Paddle keys work as for
 * `npm start` (see .env.example).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { createBilling, fakeProcessor, type Billing, type BillingOptions } from 'tollgate';
import { loadCredentials } from 'tollgate/hono';
import { paddleProcessor } from 'tollgate/paddle';
import { createApp, createBillingSession, loadConfig, runJobs } from 'tollgate/server';
import { stripeProcessor } from 'tollgate/stripe';
import { openAppDatabase } from './auth/app-database.ts';
import { createAuth, migrateAuth, type Auth } from './auth/auth.ts';
import type { Sql } from './auth/database.ts';
import { createKitApp } from './app.tsx';
import { chatModels } from './models/models.ts';
import { seedDemo } from './seed.ts';
import { inProcessTollgate } from './tollgate/in-process.ts';
import { httpTollgate } from './tollgate/over-http.ts';
import type { Tollgate } from './tollgate/tollgate.ts';

export const DEFAULT_APP_DATABASE = 'pglite://./.tollchat';

export interface RunningApp {
  url: string;
  auth: Auth;
  tollgate: Tollgate;
  /** Tollgate's facade, when it runs in this process. */
  billing?: Billing;
  /** What was generated on this start (the admin password, the API key), to print once. */
  generated: { apiKey?: string; adminPassword?: string };
  /** Whether this start made the demo people (`seed`), or found them made. */
  seeded: boolean;
  close(): Promise<void>;
}

/** The auth secret: the one configured, else the one kept in the database (made by the first process to start). */
async function authSecret(sql: Sql, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  await sql.query('CREATE TABLE IF NOT EXISTS app_secrets (name text PRIMARY KEY, value text NOT NULL)');
  await sql.query(`INSERT INTO app_secrets (name, value) VALUES ('auth_secret', $1) ON CONFLICT (name) DO NOTHING`, [randomBytes(32).toString('base64url')]);
  const [row] = await sql.query<{ value: string }>(`SELECT value FROM app_secrets WHERE name = 'auth_secret'`);
  return row!.value;
}

/**
 * Runs `work` while no other process of the app on this PostgreSQL database runs its own: the
 * first to start makes the tables, the secrets and the demo, and those after it find them. A
 * transaction holds the lock while the work runs on the pool's other connections. On PGlite one
 * process holds the database, so there is nobody to wait for.
 */
async function oneAtATime<T>(sql: Sql, work: () => Promise<T>): Promise<T> {
  if (sql.engine !== 'postgres') return work();
  return sql.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('tollchat:prepare'))`);
    return work();
  });
}

/**
 * `seed`: make the demo people on a database that has none (`npm run app` does). `database`: an
 * open connection for Tollgate in this process, instead of DATABASE_URL's; it stays the caller's
 * to close (the tests hand one over already migrated, which saves migrating it here).
 */
export async function startApp(env: NodeJS.ProcessEnv = process.env, { seed = false, database }: { seed?: boolean; database?: BillingOptions['database'] } = {}): Promise<RunningApp> {
  const port = Number(env.APP_PORT || 3100);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`APP_PORT must be a port number (0 to 65535), not "${env.APP_PORT}"`);
  if (env.TOLLGATE_URL && !env.TOLLGATE_API_KEY) throw new Error('TOLLGATE_URL is set but TOLLGATE_API_KEY is not: set the key the Tollgate server printed on its first start');
  if (env.APP_AUTH_SECRET && env.APP_AUTH_SECRET.length < 32) throw new Error('APP_AUTH_SECRET must be at least 32 characters (a random string; unset it to have one made)');
  const remote = env.TOLLGATE_URL && env.TOLLGATE_API_KEY ? { url: env.TOLLGATE_URL, apiKey: env.TOLLGATE_API_KEY } : undefined;
  const logger = pino({ level: env.LOG_LEVEL || 'warn' });
  // Listen first, so that the URL is known (APP_PORT=0 picks a port) before the cookies and links
  // that name it are set up; until the app is ready, a request is answered 503.
  let handle: (request: Request) => Response | Promise<Response> = () => new Response('Starting, try again in a moment', { status: 503 });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: (request) => handle(request), port, hostname: env.APP_HOST || '127.0.0.1' }, () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`Port ${port} is in use (by another app, or an earlier start): set APP_PORT to another`) : error));
  });
  const url = env.APP_URL || `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  try {
    return await prepare();
  } catch (error) {
    // Nothing is served from a start that failed; its port is let go.
    await new Promise((resolve) => server.close(resolve));
    throw error;
  }

  async function prepare(): Promise<RunningApp> {
    let tollgate: Tollgate;
    let sql: Sql;
    let billing: Billing | undefined;
    let tollgateServer: { fetch: (request: Request) => Response | Promise<Response> } | undefined;
    let generated: RunningApp['generated'] = {};
    let closeDatabase: () => Promise<void>;
    /** What a fresh database needs before the app serves: a pricing mode, the credentials. */
    let prepareTollgate = async () => {};

    if (remote) {
      tollgate = httpTollgate(remote);
      const database = await openAppDatabase(env.DATABASE_URL || DEFAULT_APP_DATABASE);
      sql = database;
      closeDatabase = () => database.close();
    } else {
      const config = loadConfig({ ...env, DATABASE_URL: env.DATABASE_URL || DEFAULT_APP_DATABASE });
      billing = await createBilling({
        database: database ?? config.databaseUrl,
        processors: [
          // As npm start: once a real processor takes payments, the fake one only lets the accounts made on it leave.
          fakeProcessor(config.processor === 'fake' ? {} : { replacedBy: config.processor }),
          ...(config.stripe ? [stripeProcessor({ ...config.stripe, successUrl: `${url}/` })] : []),
          ...(config.paddle ? [paddleProcessor(config.paddle)] : []),
        ],
        defaultProcessor: config.processor,
      });
      const facade = billing;
      let server: ReturnType<typeof createApp> | undefined;
      prepareTollgate = async () => {
        // A fresh database gets a pricing mode to start from; the admin panel changes it.
        if (!(await facade.admin.getSettings()).pricingMode) await facade.admin.applyPreset('subscription-plus-packs');
        const credentials = await loadCredentials(facade.sql, config);
        generated = credentials.generated;
        server = createApp({ billing: facade, credentials, logger });
      };
      // Tollgate's server app answers once prepared; the app serves nothing before.
      tollgateServer = { fetch: (request) => server!.fetch(request) };
      tollgate = inProcessTollgate({
        billing, server: tollgateServer,
        billingLink: async (accountId, { userId, role, returnUrl }) => (await createBillingSession(facade, accountId, { userId, role, returnUrl }, { baseUrl: url })).url,
      });
      sql = billing.sql;
      closeDatabase = async () => {};
    }

    const { auth, seeded } = await oneAtATime(sql, async () => {
      await prepareTollgate();
      const authOptions = { sql, baseURL: url, secret: await authSecret(sql, env.APP_AUTH_SECRET) };
      await migrateAuth(authOptions);
      const auth = createAuth(authOptions);
      return { auth, seeded: seed && (await seedDemo(auth, tollgate)) };
    });
    // Tollgate in this process does its background work here too: auto-recharges, the fake processor's renewals.
    const jobs = billing && runJobs(billing, logger);
    const models = await chatModels({ env, ...(env.APP_DEMO_WORD_DELAY_MS ? { wordDelayMs: Number(env.APP_DEMO_WORD_DELAY_MS) } : {}) });
    const app = createKitApp({ auth, tollgate, models, ...(tollgateServer ? { tollgateServer } : {}) });
    handle = app.fetch;

    return {
      url, auth, tollgate, generated, seeded, ...(billing ? { billing } : {}),
      close: async () => {
        await new Promise((resolve) => server.close(resolve));
        await jobs?.stop();
        await tollgate.close();
        await closeDatabase();
      },
    };
  }
}
