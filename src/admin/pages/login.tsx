/**
 * Logging in and out. An attempt is counted for its address before its password is hashed
 * (LoginLimiter, session.ts), and checked against the stored scrypt hash (credentials.ts); the
 * form carries a token bound to a nonce cookie. Logging out deletes the session's row.
 */
import type { Credentials } from '../../hono/credentials.ts';
import { AdminHead, Csrf, type AdminApp, type AdminContext } from '../layout.tsx';
import { clientAddress, type LoginLimiter, type Sessions } from '../session.ts';

const HOME = '/admin/pricing';
const ORIGIN = 'http://panel.invalid';

/**
 * Where to go after logging in: a page of the panel, never another site or another part of
 * this one. Printable ASCII only (a CR or LF has no place in a Location header), no backslash
 * (browsers read it as a slash), and the path, dot segments resolved, under /admin.
 */
export function safeNext(next: string | undefined): string {
  if (!next || !/^\/[\x20-\x7e]*$/.test(next) || next.includes('\\')) return HOME;
  const url = new URL(next, ORIGIN);
  if (url.origin !== ORIGIN || !(url.pathname === '/admin' || url.pathname.startsWith('/admin/'))) return HOME;
  return url.pathname + url.search;
}

function LoginPage({ token, next, error }: { token: string; next: string; error?: string }) {
  return (
    <html lang="en">
      <AdminHead title="Log in" />
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
  const page = (c: AdminContext, next: string, error?: string, status: 200 | 400 | 401 | 403 | 429 | 503 = 200) =>
    c.html(`<!doctype html>${(<LoginPage token={sessions.loginToken(c)} next={next} error={error} />).toString()}`, status);

  admin.get('/login', async (c) => {
    if (await sessions.read(c)) return c.redirect(safeNext(c.req.query('next')), 303);
    return page(c, safeNext(c.req.query('next')));
  });

  admin.post('/login', async (c) => {
    const body = await c.req.parseBody().catch(() => undefined);
    if (body === undefined) return page(c, '/admin', 'This form could not be read: reload the page and try again.', 400);
    const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : undefined);
    const next = safeNext(field('next'));
    if (!sessions.checkLoginToken(c, field('_csrf'))) return page(c, next, 'This form has expired: log in again.', 403);
    const attempt = await limiter.attempt(clientAddress(c), () => credentials.verifyAdminPassword(field('password') ?? ''));
    if (attempt.outcome !== 'checked') {
      const wait = attempt.retryAfter;
      c.header('Retry-After', String(wait));
      if (attempt.outcome === 'busy') return page(c, next, 'The server is busy checking other logins: try again in a moment.', 503);
      return page(c, next, `Too many failed attempts: try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}.`, 429);
    }
    if (!attempt.value) return page(c, next, 'Wrong password.', 401);
    await sessions.start(c, attempt.value);
    return c.redirect(next, 303);
  });
}

export function logoutRoute(admin: AdminApp, sessions: Sessions) {
  admin.post('/logout', async (c) => {
    await sessions.end(c, c.get('session'));
    return c.redirect('/admin/login', 303);
  });
}
