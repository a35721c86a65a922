/**
 * Serving the app in this process: open the database, load the credentials, listen, and on
 * SIGTERM or SIGINT stop taking connections, finish the requests in flight, then close the
 * database.
 */
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { createBilling } from '../billing/billing.ts';
import { createApp } from '../http/app.ts';
import type { Config } from './config.ts';
import { loadCredentials } from './credentials.ts';

export async function serveHere(config: Config, logger: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const billing = await createBilling({ database: config.databaseUrl });
  const credentials = await loadCredentials(billing.sql, config);
  const app = createApp({ billing, credentials, logger });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await billing.close();
    })());
  return { port, close };
}
