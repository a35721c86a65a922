/**
 * `tollgate/server`: the runnable server (`npm start` is main.ts over these), for hosting it
 * inside another Node process: the whole app (the `/v1` API, the admin panel, `/healthz`),
 * its configuration, serving it with the stop and connection rules of `npm start`, and the
 * background jobs (recharges, renewals) a process that serves it runs beside it.
 */
export { createApp, type AppOptions } from './app.ts';
export { ConfigError, loadConfig, type Config } from './config.ts';
export { serveHere } from './serve.ts';
export { runJobs } from './jobs.ts';
export { createBillingSession, type BillingLink, type BillingSessionInput } from '../hono/routes/billing-sessions.ts';
export { createBillingPage } from '../billing-page/app.tsx';
