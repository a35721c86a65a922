/**
 * The admin panel over HTTP without a browser: a client with a cookie jar that logs in, keeps
 * the CSRF token of the last page it read, and posts forms as a browser does.
 */
import type { Hono } from 'hono';
import pino from 'pino';
import type { Billing } from '../../src/index.ts';
import { createApp } from '../../src/server/app.ts';
import { loadCredentials } from '../../src/hono/credentials.ts';

export const ADMIN_PASSWORD = 'correct horse battery staple';

/** The whole server app (API and panel) over `billing`, with a known admin password. */
export async function adminApp(billing: Billing, { publicUrl }: { publicUrl?: string } = {}): Promise<Hono> {
  const credentials = await loadCredentials(billing.sql, { adminPassword: ADMIN_PASSWORD, secretKey: 'tg_sk_test_0123456789abcdefghij' });
  return createApp({ billing, credentials, logger: pino({ level: 'silent' }), publicUrl });
}

export class AdminClient {
  readonly cookies = new Map<string, string>();
  /** The CSRF token of the last page read. */
  csrf = '';

  constructor(private readonly app: Hono) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await this.app.request(path, { ...init, headers });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at);
      const value = pair!.slice(at + 1);
      if (!value || /max-age=0/i.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** GET a page, keeping its CSRF token. */
  async page(path: string): Promise<{ status: number; html: string; res: Response }> {
    const res = await this.request(path);
    const html = await res.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    if (token) this.csrf = token;
    return { status: res.status, html, res };
  }

  /** POST a form, with the CSRF token unless the fields say otherwise. */
  async post(path: string, fields: Record<string, string>, { csrf = true, headers = {} as Record<string, string> } = {}) {
    const body = new URLSearchParams(csrf ? { _csrf: this.csrf, ...fields } : fields);
    const res = await this.request(path, { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } });
    return { status: res.status, html: await res.text(), res };
  }

  async login(password = ADMIN_PASSWORD) {
    await this.page('/admin/login');
    return this.post('/admin/login', { password });
  }
}

/** The text of an HTML page, tags dropped and entities of quotes and ampersands read: for matching what a person reads. */
export function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}
