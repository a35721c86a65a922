/**
 * Serving the app in this process, on a database it opened: load the credentials, listen, run
 * the background jobs (jobs.ts), and on close stop taking connections, finish the requests in
 * flight (within the stop's bound) and the jobs' runs under way, then close the database.
 */
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { createHttpServer } from './connections.ts';
import { runJobs } from './jobs.ts';
import { loadCredentials, type Credentials } from '../hono/credentials.ts';

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
  const jobs = runJobs(billing, logger);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const stopped = jobs.stop();
      if (!(await stop(config.stopTimeoutSeconds * 1000))) logger.warn({ seconds: config.stopTimeoutSeconds }, 'stop: connections still open at the bound were closed');
      await stopped; // a recharge under way finishes (else its lease runs out and another process takes it)
      await billing.close();
    })());
  return { port, close };
}
