/**
 * Sign-up and log-in (email and password, through better-auth). A new user's personal account
 * is made in Tollgate as they sign up, on the default plan. `next` brings them back where they
 * were going (an invitation's link).
 */
import type { Hono } from 'hono';
import type { Auth } from '../auth/auth.ts';
import { personalAccountId, type AppEnv } from '../auth/viewer.ts';
import type { Tollgate } from '../tollgate/tollgate.ts';
import { Problem, render } from './layout.tsx';
import { localPath } from './local-path.ts';

/** better-auth's error, as the person reads it. */
function plainly(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/already exists/i.test(message)) return 'An account with this email exists already: log in instead.';
  if (/invalid email or password/i.test(message)) return 'That email and password do not match: check both and try again.';
  if (/password too short/i.test(message)) return 'Choose a password of at least 8 characters.';
  if (/invalid email/i.test(message)) return 'That email address does not look right: check it.';
  return message;
}

function SignInForms({ next, problem, email }: { next: string; problem?: string | undefined; email?: string | undefined }) {
  return (
    <div class="auth">
      <section class="card">
        <h1>Log in</h1>
        <form method="post" action="/login">
          <input type="hidden" name="next" value={next} />
          <label>Email <input name="email" type="email" required autocomplete="username" value={email} /></label>
          <label>Password <input name="password" type="password" required autocomplete="current-password" /></label>
          <button type="submit">Log in</button>
        </form>
      </section>
      <section class="card">
        <h1>Sign up</h1>
        <form method="post" action="/signup">
          <input type="hidden" name="next" value={next} />
          <label>Name <input name="name" required autocomplete="name" /></label>
          <label>Email <input name="email" type="email" required autocomplete="email" /></label>
          <label>Password <input name="password" type="password" required minlength={8} autocomplete="new-password" /></label>
          <button type="submit">Create my account</button>
        </form>
      </section>
      <Problem message={problem} />
    </div>
  );
}

export function signInPages(app: Hono<AppEnv>, { auth, tollgate }: { auth: Auth; tollgate: Tollgate }) {
  const show = (next: string, problem?: string, email?: string) => <SignInForms next={next} problem={problem} email={email} />;

  app.get('/login', (c) => render(c, 'Log in', undefined, show(localPath(c.req.query('next')))));

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = localPath(form.next);
    try {
      const { headers } = await auth.api.signInEmail({ body: { email: String(form.email), password: String(form.password) }, returnHeaders: true });
      for (const cookie of headers.getSetCookie()) c.header('set-cookie', cookie, { append: true });
      return c.redirect(next, 303);
    } catch (error) {
      return render(c, 'Log in', undefined, show(next, plainly(error), String(form.email ?? '')), 400);
    }
  });

  app.post('/signup', async (c) => {
    const form = await c.req.parseBody();
    const next = localPath(form.next);
    try {
      const { headers, response } = await auth.api.signUpEmail({
        body: { name: String(form.name), email: String(form.email), password: String(form.password) }, returnHeaders: true,
      });
      // Their own account in Tollgate, on the default plan: the chat has something to charge.
      await tollgate.ensureAccount({ id: personalAccountId(response.user.id), kind: 'personal', name: response.user.name });
      for (const cookie of headers.getSetCookie()) c.header('set-cookie', cookie, { append: true });
      return c.redirect(next, 303);
    } catch (error) {
      return render(c, 'Sign up', undefined, show(next, plainly(error), String(form.email ?? '')), 400);
    }
  });

  app.post('/logout', async (c) => {
    const { headers } = await auth.api.signOut({ headers: c.req.raw.headers, returnHeaders: true });
    for (const cookie of headers.getSetCookie()) c.header('set-cookie', cookie, { append: true });
    return c.redirect('/login', 303);
  });
}
