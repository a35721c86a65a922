/**
 * The Tollgate server as one Hono app: the `/v1` API, the admin panel, `/healthz`. A host app
 * can serve it as it is (main.ts does) or mount it inside its own server through `app.fetch`.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import type { Logger } from 'pino';
import { createAdmin } from '../admin/app.tsx';
import { createBillingPage } from '../billing-page/app.tsx';
import type { Billing } from '../engine/billing.ts';
import type { Credentials } from '../hono/credentials.ts';
import { createApi } from '../hono/api.ts';
import { answerError } from '../hono/errors.ts';
import { createWebhooks } from '../hono/webhooks.ts';
import { databaseUnreachable } from '../db/unreachable.ts';
import { UNREACHABLE_BODY } from './database-errors.ts';

export interface AppOptions {
  billing: Billing;
  credentials: Credentials;
  logger: Logger;
  /** Where browsers reach this server, when not the address requests come to (behind a proxy): billing page links and returns are made on it. */
  publicUrl?: string;
}

/** How long /healthz waits for the database to answer before it says it does not. */
const HEALTH_TIMEOUT_MS = 3_000;

/**
 * A path as the log shows it: a billing link's token left out. A HEAD or a prefetch of the link
 * does not use it up, and whoever read it in the log could open the customer's billing page.
 */
const loggedPath = (path: string) => path.replace(/^\/billing\/open\/[^/]+/, '/billing/open/…');

export function createApp({ billing, credentials, logger, publicUrl }: AppOptions): Hono {
  const app = new Hono();
  app.use('*', requestId());
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    logger.info({ requestId: c.get('requestId'), method: c.req.method, path: loggedPath(c.req.path), status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
  });

  app.get('/healthz', async (c) => {
    let timer: NodeJS.Timeout | undefined;
    // A database that takes connections but does not answer (a host gone without a word, a
    // network cut) would hold the check until TCP gives up, minutes later: it is unhealthy now.
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('late')), HEALTH_TIMEOUT_MS)));
    try {
      await Promise.race([billing.sql.query('SELECT 1'), late]);
      return c.json({ ok: true });
    } catch {
      return c.json({ ok: false, ...UNREACHABLE_BODY }, 503);
    } finally {
      clearTimeout(timer);
    }
  });

  app.route('/v1', createApi(billing, credentials, { publicUrl }));
  app.route('/admin', createAdmin({ billing, credentials, logger, publicUrl }));
  app.route('/billing', createBillingPage({ billing, credentials, logger, publicUrl }));
  app.route('/webhooks', createWebhooks(billing, logger));
  app.get('/', (c) => c.redirect('/admin', 302));

  app.notFound((c) => c.json({ error: { type: 'invalid_request_error', code: 'not_found', message: `No route ${c.req.method} ${c.req.path}: see /v1/docs` } }, 404));
  app.onError((error, c) => {
    if (databaseUnreachable(error)) {
      logger.warn({ requestId: c.get('requestId'), error: (error as Error).message }, 'database unreachable');
      return c.json(UNREACHABLE_BODY, 503);
    }
    return answerError(error, c, (e) => logger.error({ err: e, requestId: c.get('requestId') }, 'unexpected error'));
  });
  return app;
}
