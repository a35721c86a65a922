/**
 * The panel's frame and small parts every page uses: the layout with its left nav, the CSRF
 * field, notes and errors, labelled fields. A page renders its body and hands it to `render`.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Env, Hono } from 'hono';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Billing } from '../engine/billing.ts';
import { BillingError } from '../core/errors.ts';
import { secureCookies } from '../hono/secure-cookies.ts';
import type { Session } from './session.ts';
import { ownerMessage } from './labels.ts';
import { Head, leaveNote, takeNote, type NoteCookie } from './page-head.tsx';

export interface AdminEnv extends Env {
  /** publicUrl: where browsers and processors reach this server (PUBLIC_URL), when it is set. */
  Variables: { session: Session; csrf: string; publicUrl: string | undefined };
}
export type AdminApp = Hono<AdminEnv>;
export type AdminContext = Context<AdminEnv>;
/** Each page adds its routes to the admin app. */
export type Page = (admin: AdminApp, billing: Billing) => void;

const NAV = [
  ['/admin/pricing', 'Pricing mode'],
  ['/admin/settings', 'Settings'],
  ['/admin/plans', 'Plans'],
  ['/admin/packs', 'Packs'],
  ['/admin/prices', 'Model prices'],
  ['/admin/accounts', 'Accounts'],
  ['/admin/analytics', 'Money'],
  ['/admin/payments', 'Payments'],
  ['/admin/sessions', 'Sessions'],
] as const;

/** The note's cookie: Secure as the session's is. */
const flashCookie = (c: AdminContext): NoteCookie => ({ name: 'tollgate_flash', path: '/admin', sameSite: 'Strict', maxAge: 60, secure: secureCookies(c, c.get('publicUrl')) });

/** A note for the next page shown (after a redirect): "Plan saved". */
export function flash(c: AdminContext, message: string): void {
  leaveNote(c, flashCookie(c), message);
}

/** The panel's head: its title, its stylesheet after a page's own, and on every page the marking of the fields a refused form names (fields.js). */
export function AdminHead({ title, scripts = [], styles = [] }: { title: string; scripts?: string[]; styles?: string[] }) {
  return <Head title={`${title} · Tollgate admin`} assets="/admin/assets" styles={[...styles, '/admin/assets/admin.css']} scripts={[...scripts, '/admin/assets/fields.js']} />;
}

/** Render a page in the layout: the left nav, the title, the flash note, the body. */
export function render(c: AdminContext, page: { title: string; body: Child; status?: ContentfulStatusCode; scripts?: string[]; styles?: string[] }) {
  const path = c.req.path;
  const note = takeNote(c, flashCookie(c))?.slice(0, 300);
  return c.html(
    '<!doctype html>' +
      (
        <html lang="en">
          <AdminHead title={page.title} scripts={page.scripts} styles={page.styles} />
          <body hx-headers={JSON.stringify({ 'X-CSRF-Token': c.get('csrf') })}>
            <a class="skip" href="#content">
              Skip to content
            </a>
            <nav class="side">
              <div class="nav-inner">
                <a class="brand" href="/admin">
                  Tollgate
                </a>
                <ul>
                  {NAV.map(([href, label]) => {
                    const here = path === href || path.startsWith(`${href}/`);
                    return (
                      <li>
                        <a href={href} class={here ? 'current' : undefined} aria-current={here ? 'page' : undefined}>
                          {label}
                        </a>
                      </li>
                    );
                  })}
                </ul>
                <form method="post" action="/admin/logout" class="logout">
                  <Csrf token={c.get('csrf')} />
                  <button type="submit" class="link">
                    Log out
                  </button>
                </form>
              </div>
            </nav>
            <main id="content" tabindex={-1}>
              <h1>{page.title}</h1>
              {note ? (
                <p class="note" role="status">
                  {note}
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

/**
 * The panel's own "not found" page. A page's c.notFound() is the server's, the API's JSON ("No
 * route GET …: see /v1/docs"), for a route the panel has: a stale link to a payment gone.
 */
export const notFoundPage = (c: AdminContext) => render(c, { title: 'Not found', status: 404, body: <p>There is no page at {c.req.path}.</p> });

export function Csrf({ token }: { token: string }) {
  return <input type="hidden" name="_csrf" value={token} />;
}

/**
 * A form that moves money carries an idempotency key of its own, made when the page is drawn:
 * a second submit of the same form (a double click, a resubmit after a lost answer) gets the
 * first result and moves nothing more. A form drawn again after a refusal (the processor's
 * among them) gets a new one; after the processor failed to answer, the one sent (`value`): the
 * processor may have done it, and sent again it asks for the same thing, not another.
 */
export function EffectKey({ value }: { value?: string | undefined } = {}) {
  return <input type="hidden" name="idempotencyKey" value={value ?? `admin_${randomUUID()}`} />;
}

/** The library's message for what was wrong with the form, shown beside it. */
export function ErrorNote({ error }: { error?: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/**
 * Ids for a field with a hint: its name is its label alone, and the hint describes it, instead of
 * both read as its name (a label wrapping the hint makes the hint part of the name).
 */
function hinted(hint: Child | undefined) {
  if (!hint) return {};
  const id = `field-${randomUUID().slice(0, 8)}`;
  return { label: `${id}-label`, hint: `${id}-hint` };
}

export function Field(props: { label: string; name: string; value?: string | number | null; hint?: Child; type?: string; placeholder?: string; required?: boolean; step?: string; list?: string; readonly?: boolean; class?: string }) {
  const ids = hinted(props.hint);
  return (
    <label class={props.class ? `field ${props.class}` : 'field'}>
      <span id={ids.label}>{props.label}</span>
      <input
        aria-labelledby={ids.label}
        aria-describedby={ids.hint}
        type={props.type ?? 'text'}
        name={props.name}
        value={props.value ?? ''}
        placeholder={props.placeholder}
        required={props.required}
        step={props.step}
        list={props.list}
        readonly={props.readonly}
        inputmode={props.type === undefined && props.step ? 'decimal' : undefined}
      />
      {props.hint ? <small id={ids.hint}>{props.hint}</small> : null}
    </label>
  );
}

export function Select(props: { label: string; name: string; value?: string; options: readonly (readonly [string, string])[]; hint?: Child }) {
  const ids = hinted(props.hint);
  return (
    <label class="field">
      <span id={ids.label}>{props.label}</span>
      <select name={props.name} aria-labelledby={ids.label} aria-describedby={ids.hint}>
        {props.options.map(([value, label]) => (
          <option value={value} selected={value === props.value}>
            {label}
          </option>
        ))}
      </select>
      {props.hint ? <small id={ids.hint}>{props.hint}</small> : null}
    </label>
  );
}

export function Check(props: { label: string; name: string; checked: boolean; hint?: Child }) {
  const ids = hinted(props.hint);
  return (
    <label class="check">
      <input type="checkbox" name={props.name} value="on" checked={props.checked} aria-labelledby={ids.label} aria-describedby={ids.hint} />
      <span id={ids.label}>{props.label}</span>
      {props.hint ? <small id={ids.hint}>{props.hint}</small> : null}
    </label>
  );
}

/**
 * Run a form's action; a BillingError (bad input, a slug taken, a refund too large…) comes back
 * as its message, with the fields it names by their labels (labels.ts), for the page to show
 * beside the form. Anything else is a bug, and is thrown.
 */
export async function attempt<T>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string; code: BillingError['code']; details?: Record<string, unknown> }> {
  try {
    return { ok: true, value: await action() };
  } catch (error) {
    if (error instanceof BillingError) return { ok: false, error: ownerMessage(error), code: error.code, ...(error.details && { details: error.details }) };
    throw error;
  }
}

/** Redirect after a form that worked, with a note for the next page. */
export function done(c: AdminContext, to: string, message: string) {
  flash(c, message);
  return c.redirect(to, 303);
}

/** A list's search box: the list (`target`, by id) follows as the admin types, and the URL with it. */
export function SearchBox({ path, q, target, placeholder }: { path: string; q: string; target: string; placeholder: string }) {
  return (
    <form method="get" action={path} class="search" role="search">
      <input
        type="search" name="q" value={q} placeholder={placeholder} aria-label={placeholder} autocomplete="off"
        hx-get={path} hx-trigger="input changed delay:250ms, search" hx-target={`#${target}`} hx-select={`#${target}`} hx-swap="outerHTML" hx-push-url="true"
      />
    </form>
  );
}

/** The search and page a list was asked for: `?q=…&offset=…`. */
export function listQuery(c: Context): { q: string; offset: number } {
  return { q: c.req.query('q')?.trim() ?? '', offset: Math.max(0, Math.floor(Number(c.req.query('offset')) || 0)) };
}

/** Previous and next links of a list shown `size` rows at a time. */
export function Pager({ path, q, offset, shown, total, size }: { path: string; q: string; offset: number; shown: number; total: number; size: number }) {
  const link = (to: number) => `${path}?${new URLSearchParams({ ...(q ? { q } : {}), ...(to ? { offset: String(to) } : {}) })}`;
  return (
    <p class="pager">
      {offset > 0 ? <a href={link(Math.max(0, offset - size))}>← Previous</a> : null}
      {offset + shown < total ? <a href={link(offset + size)}>Next →</a> : null}
    </p>
  );
}

/** Archive what is on sale, or put back on sale what is archived. */
export function ArchiveForm({ action, csrf, archived, note }: { action: string; csrf: string; archived: boolean; note: string }) {
  return (
    <form method="post" action={action} class="inline">
      <Csrf token={csrf} />
      <input type="hidden" name="status" value={archived ? 'active' : 'archived'} />
      <button type="submit" class={archived ? 'secondary' : 'danger'}>
        {archived ? 'Restore (put on sale)' : 'Archive'}
      </button>
      <small class="muted">{note}</small>
    </form>
  );
}
