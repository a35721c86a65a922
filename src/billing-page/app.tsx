/**
 * The hosted billing page, mounted at /billing: what a customer of the host app sees of their
 * account (balance, limits, usage, plan, packs, auto-recharge, payments) and, as an owner or
 * admin, changes. A host app links to it with a link made for one account (POST
 * /v1/accounts/{id}/billing-sessions); opening it once starts a session on that account, and the
 * account always comes from the session, never from the request. Every POST needs the session's
 * CSRF token and a role that may act. Pages rendered on the server (hono/jsx), nothing to build.
 */
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import type { Credentials } from '../hono/credentials.ts';
import { limitBody } from '../hono/body-limit.ts';
import { originOf } from '../hono/routes/billing-sessions.ts';
import { actions } from './actions.tsx';
import { registerAssets } from './assets.ts';
import { messagePage, type PageEnv } from './layout.tsx';
import { overview, usagePart } from './overview.tsx';
import { BillingSessions, canAct, pageUrl, type BillingSession } from './session.ts';
import { databaseUnreachable } from '../db/unreachable.ts';

/** A form here is a few hundred bytes. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * Scripts and styles from this server only, no framing. No form-action: a form that buys sends
 * the customer on to the processor's checkout page, and a browser holds a redirect to it to
 * form-action too.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const OPEN_AGAIN = 'Go back to the app and open billing from there again: each link opens once, within ten minutes, and keeps you signed in for an hour.';

export interface BillingPageOptions {
  billing: Billing;
  credentials: Pick<Credentials, 'sessionKey'>;
  logger: Logger;
  /** Where browsers reach this server (https://billing.example), when not the address a request came to: behind a proxy. */
  publicUrl?: string;
}

export function createBillingPage({ billing, credentials, logger, publicUrl }: BillingPageOptions): Hono<PageEnv> {
  const page = new Hono<PageEnv>();
  const sessions = new BillingSessions(billing, credentials, publicUrl);

  page.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    // The link's token is in its path: no page sends it on as a Referer.
    c.header('Referrer-Policy', 'no-referrer');
    if (!c.req.path.startsWith('/billing/assets/')) c.header('Cache-Control', 'no-store');
  });
  page.use('*', limitBody({ maxSize: MAX_BODY_BYTES, onError: (c) => messagePage(c, 413, 'Too large', 'This form sent more than the page accepts: reload the page and try again.') }));
  registerAssets(page);

  page.get('/open/:token', async (c) => {
    // A HEAD (a link checker) or a prefetch (a browser guessing the next page) is not the customer
    // opening the link, and must not use it up; a prefetch is declined, so the click fetches it.
    if (c.req.method === 'HEAD') return c.body(null, 200);
    if (/prefetch|prerender/i.test(`${c.req.header('Sec-Purpose') ?? ''} ${c.req.header('Purpose') ?? ''}`)) return c.body(null, 503);
    const session = await sessions.open(c, c.req.param('token'));
    if (!session) return messagePage(c, 410, 'This billing link has expired', OPEN_AGAIN);
    return c.redirect(pageUrl(session), 303);
  });

  // Everything below needs a session: the one the page's address names (else the browser's
  // newest), or for a POST the one whose CSRF token it carries, and a role that may act.
  page.use('*', async (c, next) => {
    const posted = c.req.method !== 'GET' && c.req.method !== 'HEAD';
    let session: BillingSession | undefined;
    if (posted) {
      const type = c.req.header('Content-Type') ?? '';
      const form = /^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(type) ? await c.req.parseBody().catch(() => undefined) : {};
      // A body sent as a form that is none (a broken multipart body, say) is no page's form.
      if (!form) return messagePage(c, 400, 'This form could not be read', 'Reload the billing page and try again.');
      const token = c.req.header('X-CSRF-Token') ?? (typeof form._csrf === 'string' ? form._csrf : undefined);
      session = token === undefined ? undefined : await sessions.read(c, { csrf: token });
      if (!session) {
        const any = await sessions.read(c);
        if (any) return messagePage(c, 403, 'This form has expired', 'Reload the billing page and try again.', any.returnUrl);
      }
    } else {
      session = await sessions.read(c, { name: c.req.query('s') });
    }
    if (!session) return messagePage(c, 401, 'Your billing session has ended', OPEN_AGAIN);
    if (!canAct(session) && (posted || c.req.path === '/billing/cancel' || c.req.path === '/billing/change')) {
      return messagePage(c, 403, 'Only the account\'s owner or an admin can do this', 'Ask them to change the plan, buy credit or set auto-recharge.', session.returnUrl);
    }
    c.set('session', session);
    c.set('csrf', sessions.csrfToken(session));
    c.set('origin', publicUrl ?? originOf(c.req.url, c.req.header('X-Forwarded-Proto')));
    return next();
  });

  page.get('/', (c) => overview(c, billing));
  page.get('/usage', (c) => usagePart(c, billing));
  actions(page, billing);

  page.all('*', (c) => messagePage(c, 404, 'Not found', 'There is no such billing page.', c.get('session').returnUrl));
  page.onError((error, c) => {
    if (databaseUnreachable(error)) {
      logger.warn({ path: c.req.path, error: (error as Error).message }, 'database unreachable');
      return messagePage(c, 503, 'Billing is unavailable', 'Billing cannot be reached just now; nothing was changed. Try again in a moment.');
    }
    logger.error({ err: error, path: c.req.path }, 'billing page error');
    return messagePage(c, 500, 'Something went wrong', 'Something went wrong on our side; try again in a moment.');
  });
  return page;
}
