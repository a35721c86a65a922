/**
 * The app's routes: sign-up and log-in, the account's page, teams and invitations, the Billing
 * link, and (in-process) Tollgate's own server app behind /v1, /admin, /billing and /webhooks.
 * Every page but sign-in, invitations and Tollgate's own needs a logged-in user.
 */
import { readFileSync } from 'node:fs';
import { APIError } from 'better-auth/api';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { isBillingError } from 'tollgate';
import type { Auth } from './auth/auth.ts';
import { loadViewer, switchAccount, viewerOf, type AppEnv } from './auth/viewer.ts';
import { chatRoutes } from './chat/routes.tsx';
import type { ChatModel } from './models/models.ts';
import { homePage } from './pages/home.tsx';
import { Problem, render } from './pages/layout.tsx';
import { localPath } from './pages/local-path.ts';
import { signInPages } from './pages/sign-in.tsx';
import { invitePages } from './pages/invite.tsx';
import { teamPages } from './pages/teams.tsx';
import type { Tollgate } from './tollgate/tollgate.ts';

export interface AppDeps {
  auth: Auth;
  tollgate: Tollgate;
  /** The models the chat offers (models/models.ts). */
  models: ChatModel[];
  /** Tollgate's server app, when Tollgate runs in this process: served under its own paths. */
  tollgateServer?: { fetch: (request: Request) => Response | Promise<Response> };
}

/** The paths Tollgate's server answers (in-process): its API, admin panel, billing page and webhooks. */
const TOLLGATE_PATHS = ['/v1', '/admin', '/billing', '/webhooks'];
const PUBLIC = /^\/(login|signup|invite\/[^/]+|app\.css)$/;

const css = readFileSync(new URL('./app.css', import.meta.url), 'utf8');

export function createKitApp({ auth, tollgate, models, tollgateServer }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  if (tollgateServer) {
    for (const path of TOLLGATE_PATHS) app.all(`${path}/*`, (c) => tollgateServer.fetch(c.req.raw));
    app.all('/billing', (c) => tollgateServer.fetch(c.req.raw));
  }

  app.get('/app.css', (c) => c.body(css, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }));
  // A page's form is small: a larger body is refused before it is read (the chat, whose
  // conversations run longer, has a limit of its own).
  const formLimit = bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text('This form is too large to send.', 413) });
  app.use('*', (c, next) => (c.req.path === '/chat' || c.req.path.startsWith('/chat/') ? next() : formLimit(c, next)));
  // A form posted from another site is refused (Origin checked), before it reaches a page.
  app.use('*', csrf());
  app.use('*', loadViewer(auth));
  app.use('*', async (c, next) => {
    if (c.get('viewer') || PUBLIC.test(c.req.path)) return next();
    return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
  });

  signInPages(app, { auth, tollgate });
  homePage(app, { tollgate, models });
  teamPages(app, { auth, tollgate });
  invitePages(app, { auth });
  // The chat charges the account the viewer works in, as this user (a team's member caps apply).
  app.route(
    '/chat',
    chatRoutes({
      tollgate, models,
      currentAccount: (c) => {
        const viewer = viewerOf(c);
        return viewer && { account: viewer.current, userId: viewer.user.id };
      },
      billingHref: '/billing-link?back=/chat',
      render: (c, { title, body }) => render(c, title, viewerOf(c), body),
    }),
  );

  app.post('/switch', async (c) => {
    const viewer = c.get('viewer')!;
    const chosen = String((await c.req.parseBody()).account ?? '');
    // Only an account the viewer belongs to; anything else leaves the choice as it was.
    if (viewer.accounts.some((a) => a.id === chosen)) switchAccount(c, chosen);
    return c.redirect('/', 303);
  });

  // The account menu's Billing: a short-lived link to Tollgate's billing page for this account,
  // with the viewer's role there (a member sees the pool; an owner or admin may also buy).
  app.get('/billing-link', async (c) => {
    const { current, user } = c.get('viewer')!;
    const back = c.req.query('back');
    const returnUrl = new URL(localPath(back), c.req.url).href;
    return c.redirect(await tollgate.billingLink(current.id, { userId: user.id, role: current.role, returnUrl }), 303);
  });

  app.notFound((c) => render(c, 'Not found', c.get('viewer'), <Problem message={`There is no page at ${c.req.path}.`} />, 404));
  app.onError((error, c) => {
    // The one HTTPException thrown here: csrf's, for a form from another site.
    if (error instanceof HTTPException) {
      return render(c, 'Not sent', c.get('viewer'), <Problem message="This form was sent from another site, so nothing was done: open the page here and send it again." />, 403);
    }
    // Tollgate's errors and better-auth's say what went wrong in plain words; anything else is
    // ours to fix, logged here and never shown raw.
    const plain = isBillingError(error) || error instanceof APIError;
    if (!plain) console.error(error);
    const message = plain && error.message ? `${error.message.replace(/\.$/, '')}.` : 'Something went wrong on our side, and it is logged.';
    return render(c, 'Something went wrong', c.get('viewer'), <Problem message={`${message} Go back and try again.`} />, plain ? 400 : 500);
  });
  return app;
}
