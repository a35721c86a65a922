/**
 * Serving the app in this process, on a database it opened: load the credentials, listen, and
 * on close stop taking connections, finish the requests in flight (within the stop's bound),
 * then close the database.
 */
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import { createApp } from './app.ts';
import { forgetOldKeys } from '../hono/idempotency.ts';
import type { Config } from './config.ts';
import { createHttpServer } from './connections.ts';
import { loadCredentials, type Credentials } from '../hono/credentials.ts';

/** How often a process forgets Idempotency-Keys past their day. */
const FORGET_EVERY_MS = 10 * 60_000;
/** How often a process runs the auto-recharges that are due (any process may: each claims its own). */
const RECHARGE_EVERY_MS = 1_000;
/** And sweeps for those due that no charge enqueued (a process that died after its charge) every so many runs. */
const SWEEP_EVERY_RUNS = 10;
/** How often a process records the renewals due of subscriptions the clock runs (any process may: each claims its own). */
const RENEW_EVERY_MS = 1_000;

/**
 * Run `job` every `everyMs`, one run at a time in this process; a run that fails is logged and
 * the next one tries again. `stop` waits for a run under way to finish (else its claims are left
 * for another process to take when they run out).
 */
function repeat(everyMs: number, job: () => Promise<unknown>, logger: Logger, failed: string): { stop(): Promise<unknown> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= job()
      .catch((error: unknown) => logger.warn({ err: error }, failed))
      .finally(() => (running = undefined));
  }, everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** `credentials`: those the caller loaded already (the primary's, when it serves itself); else loaded here. */
export async function serveHere(
  billing: Billing, config: Config, logger: Logger, credentials?: Credentials,
): Promise<{ port: number; close(): Promise<void> }> {
  credentials ??= await loadCredentials(billing.sql, config);
  const app = createApp({ billing, credentials, logger, publicUrl: config.publicUrl });
  // Node drains a body the app did not read; the connection rules decide when that is worth it.
  const { server, stop } = createHttpServer(getRequestListener(app.fetch, { hostname: config.host, autoCleanupIncoming: false }));
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(config.port, config.host);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const forgetting = setInterval(() => void forgetOldKeys(billing.sql).catch((error) => logger.warn({ err: error }, 'forgetting old idempotency keys failed')), FORGET_EVERY_MS);
  forgetting.unref();
  let runs = 0;
  const recharges = repeat(RECHARGE_EVERY_MS, () => billing.runRecharges({ sweep: runs++ % SWEEP_EVERY_RUNS === 0 }), logger, 'running auto-recharges failed');
  const renewals = repeat(RENEW_EVERY_MS, () => billing.runClockRenewals(), logger, 'recording renewals failed');
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(forgetting);
      const jobs = [recharges.stop(), renewals.stop()];
      if (!(await stop(config.stopTimeoutSeconds * 1000))) logger.warn({ seconds: config.stopTimeoutSeconds }, 'stop: connections still open at the bound were closed');
      await Promise.all(jobs); // a recharge under way finishes (else its lease runs out and another process takes it)
      await billing.close();
    })());
  return { port, close };
}
