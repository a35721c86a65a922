/**
 * Serving the app in this process, on a database it opened: load the credentials, listen, and
 * on close stop taking connections, finish the requests in flight, then close the database.
 */
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Billing } from '../billing/billing.ts';
import { createApp } from '../http/app.ts';
import { forgetOldKeys } from '../http/idempotency.ts';
import type { Config } from './config.ts';
import { loadCredentials, type Credentials } from './credentials.ts';

/** How often a process forgets Idempotency-Keys past their day. */
const FORGET_EVERY_MS = 10 * 60_000;

/** `credentials`: those the caller loaded already (the primary's, when it serves itself); else loaded here. */
export async function serveHere(
  billing: Billing, config: Config, logger: Logger, credentials?: Credentials,
): Promise<{ port: number; close(): Promise<void> }> {
  credentials ??= await loadCredentials(billing.sql, config);
  const app = createApp({ billing, credentials, logger });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const forgetting = setInterval(() => void forgetOldKeys(billing.sql).catch((error) => logger.warn({ err: error }, 'forgetting old idempotency keys failed')), FORGET_EVERY_MS);
  forgetting.unref();
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(forgetting);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await billing.close();
    })());
  return { port, close };
}
