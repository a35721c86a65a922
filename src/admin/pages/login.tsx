/**
 * Logging in and out. The password is checked against its scrypt hash (credentials.ts); the
 * form carries a token bound to a nonce cookie; an address that failed too often waits.
 */
import type { Credentials } from '../../server/credentials.ts';
import { Csrf, Head, type AdminApp, type AdminContext } from '../layout.tsx';
import { clientAddress, type LoginLimiter, type Sessions } from '../session.ts';

/** Where to go after logging in: a page of the panel, never another site. */
export function safeNext(next: string | undefined): string {
  return next && /^\/admin(\/[\w\-/%.]*)?(\?[^\\]*)?$/.test(next) && !next.startsWith('//') ? next : '/admin/pricing';
}

function LoginPage({ token, next, error }: { token: string; next: string; error?: string }) {
  return (
    <html lang="en">
      <Head title="Log in" />
      <body class="login">
        <main>
          <form method="post" action="/admin/login" class="card">
            <h1>Tollgate admin</h1>
            <Csrf token={token} />
            <input type="hidden" name="next" value={next} />
            <label class="field">
              <span>Admin password</span>
              <input type="password" name="password" autocomplete="current-password" required autofocus />
            </label>
            {error ? (
              <p class="error" role="alert">
                {error}
              </p>
            ) : null}
            <button type="submit">Log in</button>
          </form>
        </main>
      </body>
    </html>
  );
}

export function loginRoutes(admin: AdminApp, deps: { credentials: Credentials; sessions: Sessions; limiter: LoginLimiter }) {
  const { credentials, sessions, limiter } = deps;
  const page = (c: AdminContext, next: string, error?: string, status: 200 | 401 | 403 | 429 = 200) =>
    c.html(`<!doctype html>${(<LoginPage token={sessions.loginToken(c)} next={next} error={error} />).toString()}`, status);

  admin.get('/login', async (c) => {
    if (await sessions.read(c)) return c.redirect(safeNext(c.req.query('next')), 303);
    return page(c, safeNext(c.req.query('next')));
  });

  admin.post('/login', async (c) => {
    const body = await c.req.parseBody();
    const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : undefined);
    const next = safeNext(field('next'));
    if (!sessions.checkLoginToken(c, field('_csrf'))) return page(c, next, 'This form has expired: log in again.', 403);
    const who = clientAddress(c);
    const wait = limiter.retryAfter(who);
    if (wait > 0) {
      c.header('Retry-After', String(wait));
      return page(c, next, `Too many failed attempts: try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}.`, 429);
    }
    if (!(await credentials.checkAdminPassword(field('password') ?? ''))) {
      limiter.fail(who);
      return page(c, next, 'Wrong password.', 401);
    }
    limiter.succeed(who);
    await sessions.start(c);
    return c.redirect(next, 303);
  });
}

export function logoutRoute(admin: AdminApp, sessions: Sessions) {
  admin.post('/logout', (c) => {
    sessions.end(c);
    return c.redirect('/admin/login', 303);
  });
}
