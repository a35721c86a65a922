/**
 * The admin panel, mounted at /admin: pages rendered on the server (hono/jsx) with htmx for what
 * updates as the admin types, and nothing to build. Every page but the login needs a session;
 * every POST needs the session's CSRF token. No request body may pass 64 KiB. One file per
 * page in pages/.
 */
import { Hono } from 'hono';
import { limitBody } from '../hono/body-limit.ts';
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import { BillingError } from '../core/errors.ts';
import type { Credentials } from '../hono/credentials.ts';
import { registerAssets } from './assets.ts';
import { notFoundPage, render, type AdminEnv, type Page } from './layout.tsx';
import { accountsPage } from './pages/accounts.tsx';
import { analyticsPage } from './pages/analytics.tsx';
import { loginRoutes, logoutRoute } from './pages/login.tsx';
import { packsPage } from './pages/packs.tsx';
import { paymentsPage } from './pages/payments.tsx';
import { plansPage } from './pages/plans.tsx';
import { pricesPage } from './pages/prices.tsx';
import { pricingPage } from './pages/pricing.tsx';
import { pricingTablePage } from './pages/pricing-table.tsx';
import { sessionsPage } from './pages/sessions.tsx';
import { settingsPage } from './pages/settings.tsx';
import { LoginLimiter, Sessions } from './session.ts';
import { databaseUnreachable } from '../db/unreachable.ts';

const PAGES: Page[] = [pricingPage, pricingTablePage, settingsPage, plansPage, packsPage, pricesPage, accountsPage, analyticsPage, paymentsPage];

/** The largest body any admin route reads: a form is a few KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Scripts and styles from this server only; no inline script, no framing. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

export interface AdminOptions {
  billing: Billing;
  credentials: Credentials;
  logger: Logger;
  /** Failed logins per address before it must wait (default 5 in 15 minutes), and hashes at once in this process (default 1). */
  limiter?: LoginLimiter;
  /** Where processors reach this server (PUBLIC_URL): the webhook URLs to register are on it, not on the address the panel was opened at. */
  publicUrl?: string | undefined;
}

export function createAdmin({ billing, credentials, logger, limiter = new LoginLimiter(billing.sql), publicUrl }: AdminOptions): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();
  const sessions = new Sessions(billing.sql, credentials, publicUrl);

  admin.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.req.path.startsWith('/admin/assets/')) c.header('Cache-Control', 'no-store');
  });
  // Counted as the body arrives (or from its declared length), before anything reads it; what
  // becomes of the rest of a body refused is the server's (server/connections.ts).
  admin.use(
    '*',
    limitBody({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.text('This request is larger than 64 KiB, the most the admin panel accepts: send a smaller form.', 413),
    }),
  );
  registerAssets(admin);
  loginRoutes(admin, { credentials, sessions, limiter });

  // Everything below needs a session, and a POST its CSRF token.
  admin.use('*', async (c, next) => {
    const session = await sessions.read(c);
    if (!session) {
      if (c.req.header('HX-Request')) {
        c.header('HX-Redirect', '/admin/login');
        return c.body(null, 401);
      }
      if (c.req.method === 'GET' || c.req.method === 'HEAD') {
        const url = new URL(c.req.url);
        return c.redirect(`/admin/login?next=${encodeURIComponent(url.pathname + url.search)}`, 302);
      }
      return c.text('Log in first: your session has ended.', 401);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const type = c.req.header('Content-Type') ?? '';
      const form = /^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type) ? await c.req.parseBody().catch(() => undefined) : {};
      // A body sent as a form that is none (a broken multipart upload): said so, never a 500.
      if (form === undefined) return c.text('This form could not be read: reload the page and try again.', 400);
      const token = c.req.header('X-CSRF-Token') ?? (typeof form._csrf === 'string' ? form._csrf : undefined);
      if (!sessions.checkCsrf(session, token)) return c.text('This form is missing its security token or has an old one: reload the page and try again.', 403);
    }
    c.set('session', session);
    c.set('publicUrl', publicUrl);
    c.set('csrf', sessions.csrfToken(session));
    return next();
  });

  logoutRoute(admin, sessions);
  sessionsPage(admin, sessions);
  admin.get('/', (c) => c.redirect('/admin/pricing', 302));
  for (const page of PAGES) page(admin, billing);

  admin.all('*', (c) => notFoundPage(c));
  admin.onError((error, c) => {
    // Pages show a form's BillingError beside the form; one that reaches here came from a link (an unknown account, say).
    if (error instanceof BillingError) return render(c, { title: 'Not possible', status: 400, body: <p class="error">{error.message}</p> });
    if (databaseUnreachable(error)) {
      logger.warn({ path: c.req.path, error: (error as Error).message }, 'database unreachable');
      return render(c, { title: 'The database does not answer', status: 503, body: <p class="error">The database does not answer just now; try again in a moment.</p> });
    }
    logger.error({ err: error, path: c.req.path }, 'admin panel error');
    return render(c, { title: 'Something went wrong', status: 500, body: <p class="error">Something went wrong on our side; the server's log has the details.</p> });
  });
  return admin;
}
