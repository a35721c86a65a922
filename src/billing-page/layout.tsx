/**
 * The billing page's frame: a light layout of its own (the host app's "Back to app" link, the
 * account's name), the note a form left for the next page, and the plain page that says why
 * there is nothing to show (an expired link, a member's form).
 */
import { randomUUID } from 'node:crypto';
import type { Context, Env, Hono } from 'hono';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Billing } from '../engine/billing.ts';
import { Csrf } from '../admin/layout.tsx';
import { Head, leaveNote, takeNote, type NoteCookie } from '../admin/page-head.tsx';
import { NOTE_PREFIX, type BillingSession } from './session.ts';

export interface PageEnv extends Env {
  Variables: { session: BillingSession; csrf: string; /** Where browsers reach this server: a processor's page sends the customer back there. */ origin: string };
}
export type PageApp = Hono<PageEnv>;
export type PageContext = Context<PageEnv>;
/** Each part of the page adds its routes. */
export type Part = (page: PageApp, billing: Billing) => void;

/**
 * A session's note: its own, so that a form in one tab leaves nothing on another session's page.
 * Secure as the session's cookie is, where browsers reach the page over https (its origin).
 */
const flashCookie = (c: PageContext): NoteCookie => ({
  name: NOTE_PREFIX + c.get('session').name, path: '/billing', sameSite: 'Lax', maxAge: 120, secure: c.get('origin').startsWith('https:'),
});

/** What the last form did, for the page it redirects to: a note, or an error saying what to do. */
export function flash(c: PageContext, kind: 'note' | 'error', text: string): void {
  leaveNote(c, flashCookie(c), JSON.stringify({ kind, text: text.slice(0, 400) }));
}

/** What the last form did, said at the top of the page it leads to. */
export interface Note {
  kind: 'note' | 'error';
  text: string;
}

function takeFlash(c: PageContext): Note | undefined {
  const raw = takeNote(c, flashCookie(c));
  if (raw === undefined) return undefined;
  try {
    const { kind, text } = JSON.parse(raw) as { kind: unknown; text: unknown };
    return (kind === 'note' || kind === 'error') && typeof text === 'string' ? { kind, text } : undefined;
  } catch {
    return undefined;
  }
}

/** The billing page's head: a customer's page, kept out of search engines. */
function BillingHead({ title, scripts }: { title: string; scripts?: string[] }) {
  return (
    <Head title={title} assets="/billing/assets" styles={['/billing/assets/uPlot.min.css', '/billing/assets/billing.css']} scripts={scripts}>
      <meta name="robots" content="noindex" />
    </Head>
  );
}

/** A page for the session's account: its name, the way back to the app, the note, the body. */
export function render(c: PageContext, page: { title: string; accountName: string; body: Child; status?: ContentfulStatusCode; scripts?: string[]; note?: Note }) {
  const session = c.get('session');
  const note = page.note ?? takeFlash(c);
  return c.html(
    '<!doctype html>' +
      (
        <html lang="en">
          <BillingHead title={`${page.title} · ${page.accountName}`} scripts={page.scripts} />
          <body hx-headers={JSON.stringify({ 'X-CSRF-Token': c.get('csrf') })}>
            <header class="top">
              <div class="wrap">
                <a class="back" href={session.returnUrl} id="back-to-app">
                  ← Back to app
                </a>
                <span class="who">
                  {page.accountName}
                  <span class="role">{session.role}</span>
                </span>
              </div>
            </header>
            <main class="wrap">
              <h1>{page.title}</h1>
              {note ? (
                <p class={note.kind} role={note.kind === 'error' ? 'alert' : 'status'} id="note">
                  {note.text}
                </p>
              ) : null}
              {page.body}
            </main>
          </body>
        </html>
      ).toString(),
    page.status ?? 200,
  );
}

/** A page with nothing of an account on it: why, and what to do. */
export function messagePage(c: Context, status: ContentfulStatusCode, title: string, text: Child, back?: string) {
  return c.html(
    '<!doctype html>' +
      (
        <html lang="en">
          <BillingHead title={title} />
          <body>
            <main class="wrap message">
              <h1>{title}</h1>
              <p>{text}</p>
              {back ? (
                <p>
                  <a class="button" href={back}>
                    Back to app
                  </a>
                </p>
              ) : null}
            </main>
          </body>
        </html>
      ).toString(),
    status,
  );
}

/**
 * A form that moves money carries a key of its own, made when the page is drawn: a double click
 * or a resubmit gets the first result and moves nothing more.
 */
export function EffectKey() {
  return <input type="hidden" name="idempotencyKey" value={`billing_${randomUUID()}`} />;
}

/** A form that acts: a button, its CSRF token and its key, and any fields. */
export function ActionForm({ action, csrf, label, fields = {}, kind = 'primary', id }: { action: string; csrf: string; label: string; fields?: Record<string, string>; kind?: 'primary' | 'secondary' | 'danger'; id?: string }) {
  return (
    <form method="post" action={action} class="action" id={id}>
      <Csrf token={csrf} />
      <EffectKey />
      {Object.entries(fields).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={kind}>
        {label}
      </button>
    </form>
  );
}
