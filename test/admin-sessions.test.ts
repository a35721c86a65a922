/**
 * Admin sessions and the login, as an attacker would try them: a copied cookie after logout,
 * after a change of the admin password and after a restart; failed logins counted for the whole
 * deployment (in-process apps on one database, then `npm start` with two workers on PostgreSQL);
 * hashes in flight bounded and kept off the event loop; a body too large; a hostile `next`.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/server/app.ts';
import { loadCredentials, type Credentials } from '../src/hono/credentials.ts';
import type { Sql } from '../src/db/sql.ts';
import { ADMIN_PASSWORD, AdminClient, text } from './support/admin-client.ts';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';

const SECRET_KEY = 'tg_sk_test_0123456789abcdefghij';
const OTHER_PASSWORD = 'another admin password';

/** The environment @hono/node-server hands the app: the request's socket, with its address. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

async function appWith(sql: Sql, billing: Parameters<typeof createApp>[0]['billing'], password = ADMIN_PASSWORD, wrap = (c: Credentials) => c): Promise<Hono> {
  const credentials = wrap(await loadCredentials(sql, { adminPassword: password, secretKey: SECRET_KEY }));
  return createApp({ billing, credentials, logger: pino({ level: 'silent' }) });
}

/** The login form's nonce cookie and token, as a browser gets them. */
async function loginForm(app: Hono): Promise<{ cookie: string; token: string }> {
  const res = await app.request('/admin/login');
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('tollgate_login='))!;
  return { cookie, token: /name="_csrf" value="([^"]+)"/.exec(await res.text())![1]! };
}

/** Post the login form from `address` (a socket's), with the form's nonce and token. */
async function postLogin(app: Hono, form: { cookie: string; token: string }, password: string, address = '203.0.113.7', next?: string) {
  const body = new URLSearchParams({ _csrf: form.token, password, ...(next === undefined ? {} : { next }) });
  return app.request('/admin/login', { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: form.cookie } }, from(address));
}

/** A second client holding a copy of `client`'s cookies and CSRF token, on `app`. */
function copyOf(client: AdminClient, app: Hono): AdminClient {
  const copy = new AdminClient(app);
  for (const [name, value] of client.cookies) copy.cookies.set(name, value);
  copy.csrf = client.csrf;
  return copy;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

for (const engine of ENGINES) {
  describe(`admin sessions on ${engine.name}`, () => {
    const t = useBilling(engine);
    let app: Hono;

    beforeEach(async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
      app = await appWith(t.sql, t.billing);
    });

    it('ends a session at logout: a copied cookie is refused by every process, its CSRF token grants nothing, and a restart does not bring it back', async () => {
      const admin = new AdminClient(app);
      expect((await admin.login()).status).toBe(303);
      await admin.page('/admin/accounts/acme');
      const { availableMicros } = await t.billing.balance('acme');
      const otherProcess = await appWith(t.sql, t.billing);
      const copy = copyOf(admin, app);
      const elsewhere = copyOf(admin, otherProcess);
      expect((await elsewhere.page('/admin/accounts/acme')).status).toBe(200);

      expect((await admin.post('/admin/logout', {})).status).toBe(303);
      for (const client of [copy, elsewhere, copyOf(admin, await appWith(t.sql, t.billing))]) {
        const page = await client.request('/admin/accounts/acme');
        expect(page.status).toBe(302);
        expect(page.headers.get('Location')).toBe('/admin/login?next=%2Fadmin%2Faccounts%2Facme');
        const grant = await client.post('/admin/accounts/acme/credit', { source: 'bonus', amount: '1', reference: 'after-logout' });
        expect(grant.status).toBe(401);
      }
      expect((await t.billing.balance('acme')).availableMicros).toBe(availableMicros);
      expect(await t.sql.query('SELECT id FROM admin_sessions')).toEqual([]);
    });

    it('ends every session when the admin password changes, on the processes started before the change too', async () => {
      const admin = new AdminClient(app);
      await admin.login();
      expect((await admin.page('/admin/plans')).status).toBe(200);
      // A process started with another TOLLGATE_ADMIN_PASSWORD: the password changed.
      const changed = await appWith(t.sql, t.billing, OTHER_PASSWORD);
      expect((await admin.request('/admin/plans')).status).toBe(302);
      expect((await copyOf(admin, changed).request('/admin/plans')).status).toBe(302);
      // The old password is refused by the process that started with it; the new one works on both.
      expect((await new AdminClient(app).login()).status).toBe(401);
      const again = new AdminClient(app);
      expect((await again.login(OTHER_PASSWORD)).status).toBe(303);
      expect((await copyOf(again, changed).page('/admin/plans')).status).toBe(200);
      // A restart with the same password keeps the sessions.
      expect((await copyOf(again, await appWith(t.sql, t.billing, OTHER_PASSWORD)).page('/admin/plans')).status).toBe(200);
    });

    it('lists the sessions with when they began and were last used, from where and in what browser, and ends one or all the others', async () => {
      const [a, b, c] = [new AdminClient(app), new AdminClient(app), new AdminClient(app)];
      for (const [client, agent] of [[a, 'Browser A'], [b, 'Browser B'], [c, 'Browser C']] as const) {
        await client.page('/admin/login');
        expect((await client.post('/admin/login', { password: ADMIN_PASSWORD }, { headers: { 'User-Agent': agent } })).status).toBe(303);
      }
      const list = await a.page('/admin/sessions');
      expect(list.status).toBe(200);
      expect(list.html.match(/<tr data-session=/g)).toHaveLength(3);
      expect(text(list.html)).toMatch(/Browser A.*This session/);
      expect(text(list.html)).toContain('Browser B');

      // The last use moves at most once a minute, not on every request.
      await t.sql.exec("UPDATE admin_sessions SET last_used_at = now() - interval '5 minutes'");
      const lastUse = async () => new Map((await t.sql.query<{ user_agent: string; last_used_at: Date }>('SELECT user_agent, last_used_at FROM admin_sessions')).map((r) => [r.user_agent, new Date(r.last_used_at).getTime()]));
      const before = await lastUse();
      await b.page('/admin/plans');
      const after = await lastUse();
      expect(after.get('Browser B')! - before.get('Browser B')!).toBeGreaterThan(4 * 60_000);
      expect(after.get('Browser A')).toBe(before.get('Browser A'));
      await b.page('/admin/packs');
      expect((await lastUse()).get('Browser B')).toBe(after.get('Browser B'));

      const [bId] = (await t.sql.query<{ id: string }>("SELECT id FROM admin_sessions WHERE user_agent = 'Browser B'")).map((r) => r.id);
      await a.page('/admin/sessions');
      expect((await a.post(`/admin/sessions/${bId}/end`, {})).status).toBe(303);
      expect((await b.request('/admin/plans')).status).toBe(302);
      expect((await c.request('/admin/plans')).status).toBe(200);
      await a.page('/admin/sessions');
      const ended = await a.post('/admin/sessions/end-others', {});
      expect(ended.status).toBe(303);
      expect(text((await a.page('/admin/sessions')).html)).toContain('Ended 1 other session.');
      expect((await c.request('/admin/plans')).status).toBe(302);
      expect((await a.request('/admin/plans')).status).toBe(200);
      // Another session's end form does not end this one's.
      expect((await a.post('/admin/sessions/999999/end', {})).status).toBe(303);
      expect((await a.request('/admin/plans')).status).toBe(200);
    });

    it('refuses an expired session, and deletes it at the next login', async () => {
      const admin = new AdminClient(app);
      await admin.login();
      await t.sql.exec("UPDATE admin_sessions SET expires_at = now() - interval '1 second'");
      expect((await admin.request('/admin/plans')).status).toBe(302);
      await new AdminClient(app).login();
      expect(await t.sql.query("SELECT count(*)::int AS n FROM admin_sessions WHERE expires_at <= now()")).toEqual([{ n: 0 }]);
    });

    it('counts failed logins per address in the database: five are checked, the rest refused with 429 before any hash, until the window passes or a login succeeds', async () => {
      let checked = 0;
      // What is claimed is which attempts reach the check, so a wrong guess is answered without its
      // scrypt (about 0.1 s each, 19 of them); the right password still goes through the real one.
      const counting = await appWith(t.sql, t.billing, ADMIN_PASSWORD, (c) => ({ ...c, verifyAdminPassword: async (p) => (checked++, p === ADMIN_PASSWORD ? c.verifyAdminPassword(p) : undefined) }));
      const form = await loginForm(counting);
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await postLogin(counting, form, `guess ${i}`, '198.51.100.1')).status);
      expect(statuses).toEqual([...Array(5).fill(401), ...Array(15).fill(429)]);
      expect(checked).toBe(5);
      const limited = await postLogin(counting, form, ADMIN_PASSWORD, '198.51.100.1');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThan(800);
      expect(text(await limited.text())).toContain('Too many failed attempts: try again in 15 minutes.');
      // Another process on the same database counts the same attempts, as does the address written as IPv4-mapped IPv6.
      const other = await appWith(t.sql, t.billing);
      expect((await postLogin(other, await loginForm(other), ADMIN_PASSWORD, '::ffff:198.51.100.1')).status).toBe(429);
      expect(checked).toBe(5);
      // Another address is not held back; an IPv6 address is counted with its /64.
      expect((await postLogin(counting, form, ADMIN_PASSWORD, '198.51.100.2')).status).toBe(303);
      for (let i = 0; i < 5; i++) expect((await postLogin(counting, form, 'wrong', `2001:db8:1:2::${i + 1}`)).status).toBe(401);
      expect((await postLogin(counting, form, ADMIN_PASSWORD, '2001:db8:1:2:ffff::9')).status).toBe(429);
      expect((await postLogin(counting, form, ADMIN_PASSWORD, '2001:db8:1:3::1')).status).toBe(303);

      // When the window has passed the address may try again.
      await t.sql.exec("UPDATE admin_login_attempts SET window_start = now() - interval '16 minutes'");
      expect((await postLogin(counting, form, ADMIN_PASSWORD, '198.51.100.1')).status).toBe(303);
      // A success clears the address's count.
      for (let i = 0; i < 4; i++) expect((await postLogin(counting, form, 'wrong', '198.51.100.3')).status).toBe(401);
      expect((await postLogin(counting, form, ADMIN_PASSWORD, '198.51.100.3')).status).toBe(303);
      for (let i = 0; i < 5; i++) expect((await postLogin(counting, form, 'wrong', '198.51.100.3')).status).toBe(401);
      expect((await postLogin(counting, form, 'wrong', '198.51.100.3')).status).toBe(429);
    });

    it('checks one password at a time in a process, refusing the others at once with 503 and Retry-After, without counting them', async () => {
      let inFlight = 0;
      let most = 0;
      let checkEnded = Infinity;
      let answered = 0;
      let othersAnswered!: () => void;
      const untilOthersAnswered = new Promise<void>((resolve) => (othersAnswered = resolve));
      const slow = await appWith(t.sql, t.billing, ADMIN_PASSWORD, (c) => ({
        ...c,
        verifyAdminPassword: async (p) => {
          most = Math.max(most, ++inFlight);
          try {
            // Held until the 11 other logins are answered, or for a second: had they waited for it, they are answered after it.
            await Promise.race([untilOthersAnswered, sleep(1_000)]);
            return await c.verifyAdminPassword(p);
          } finally {
            inFlight--;
            checkEnded = performance.now();
          }
        },
      }));
      const form = await loginForm(slow);
      const answers = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const res = await postLogin(slow, form, 'wrong', `192.0.2.${i + 1}`);
          if (++answered === 11) othersAnswered();
          return { status: res.status, answeredAt: performance.now(), retryAfter: res.headers.get('Retry-After'), address: `192.0.2.${i + 1}` };
        }),
      );
      expect(most).toBe(1);
      expect(answers.filter((a) => a.status === 401)).toHaveLength(1);
      const busy = answers.filter((a) => a.status === 503);
      expect(busy).toHaveLength(11);
      for (const a of busy) {
        // At once: while the one check in flight still ran, not after it.
        expect(a.answeredAt).toBeLessThan(checkEnded);
        expect(a.retryAfter).toBe('1');
      }
      const counted = await t.sql.query<{ address: string }>('SELECT address FROM admin_login_attempts WHERE attempts > 0');
      expect(counted.map((r) => r.address).sort()).toEqual(answers.filter((a) => a.status === 401).map((a) => a.address).sort());
    });

    it('hashes a password off the event loop', async () => {
      const form = await loginForm(app);
      let ticks = 0;
      let done = false;
      const login = postLogin(app, form, 'wrong', '192.0.2.100').finally(() => (done = true));
      while (!done) {
        await tick();
        ticks++;
      }
      expect((await login).status).toBe(401);
      expect(ticks).toBeGreaterThan(20);
    });

    it('answers a hostile next, CR and LF included, with a page of the panel rather than a 500', async () => {
      const form = await loginForm(app);
      const injected = await postLogin(app, form, ADMIN_PASSWORD, '192.0.2.50', '/admin/plans\r\nSet-Cookie: evil=1');
      expect(injected.status).toBe(303);
      expect(injected.headers.get('Location')).toBe('/admin/pricing');
      expect(injected.headers.getSetCookie().some((c) => c.startsWith('evil'))).toBe(false);
      const page = await app.request('/admin/login?next=%2Fadmin%2Fplans%0D%0ASet-Cookie%3A%20evil%3D1');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('name="next" value="/admin/pricing"');
      const admin = new AdminClient(app);
      await admin.login();
      for (const next of ['/admin/plans\r\n', '/admin/plans?x=\r\ny', '/admin/plans?x=€', '/admin/../v1/pricing']) {
        const res = await admin.request(`/admin/login?next=${encodeURIComponent(next)}`);
        expect(res.status, next).toBe(303);
        expect(res.headers.get('Location'), next).toBe('/admin/pricing');
      }
    });

    it('refuses a body over 64 KiB on every admin route with 413 and a clear message', async () => {
      const form = await loginForm(app);
      const big = new URLSearchParams({ _csrf: form.token, password: 'x'.repeat(5 * 1024 * 1024) });
      const login = await app.request('/admin/login', { method: 'POST', body: big, headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: form.cookie } }, from('192.0.2.60'));
      expect(login.status).toBe(413);
      expect(await login.text()).toMatch(/larger than 64 KiB/);
      const admin = new AdminClient(app);
      await admin.login();
      await admin.page('/admin/settings');
      const settings = await admin.post('/admin/settings', { margin: '10', padding: 'x'.repeat(100_000) });
      expect(settings.status).toBe(413);
      expect((await t.billing.admin.getSettings()).marginBps).not.toBe(1000);
    });
  });
}

/** One request over a connection of its own, which either worker may take. */
function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('the login’s body, as it arrives', () => {
  const t = useBilling(ENGINES[0]!);
  it('is refused with 413 once past 64 KiB, before the rest is sent', async () => {
    const server = serve({ fetch: (await appWith(t.sql, t.billing)).fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    try {
      // Declared 5 MB, streamed without a length: the answer comes after the first 64 KiB, while the client still sends.
      for (const headers of [{ 'Content-Length': String(5 * 1024 * 1024) }, { 'Transfer-Encoding': 'chunked' }]) {
        const answer = await new Promise<{ status: number; sent: number; body: string }>((resolve, reject) => {
          let sent = 0;
          const req = httpRequest({ host: '127.0.0.1', port, path: '/admin/login', method: 'POST', agent: false, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => {
              resolve({ status: res.statusCode!, sent, body });
              req.destroy();
            });
          });
          req.on('error', (error) => (sent > 0 ? undefined : reject(error)));
          const chunk = 'password=' + 'x'.repeat(16 * 1024);
          const write = () => {
            if (sent < 256 * 1024) {
              sent += chunk.length;
              req.write(chunk, () => setTimeout(write, 5));
            }
          };
          write();
        });
        expect(answer.status, JSON.stringify(headers)).toBe(413);
        expect(answer.body).toMatch(/larger than 64 KiB/);
        expect(answer.sent).toBeLessThan(256 * 1024);
      }
    } finally {
      server.close();
    }
  });
});

describe.skipIf(!POSTGRES_URL)(`the login across the processes of one deployment${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('npm start with WEB_CONCURRENCY=2: 20 sequential and 200 concurrent wrong passwords, five checked; 5 MB refused, CR and LF in next sent home; sessions ended at logout and by a new password, across workers and restarts', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    let server: ServerProcess | undefined;
    let base = '';
    const restart = async (password: string) => {
      await server?.stop();
      server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_SECRET_KEY: SECRET_KEY, TOLLGATE_ADMIN_PASSWORD: password });
      await server.ready(2);
      base = `http://127.0.0.1:${server.port}`;
    };
    const form = async () => {
      const res = await send(`${base}/admin/login`);
      return { cookie: String(res.headers['set-cookie']!.find((c) => c.startsWith('tollgate_login='))!.split(';')[0]), token: /name="_csrf" value="([^"]+)"/.exec(res.body)![1]! };
    };
    const login = (f: { cookie: string; token: string }, password: string) =>
      send(`${base}/admin/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: f.cookie }, body: new URLSearchParams({ _csrf: f.token, password }).toString() });
    const sessionOf = (res: { headers: IncomingHttpHeaders }) => String(res.headers['set-cookie']!.find((c) => c.startsWith('tollgate_admin='))!.split(';')[0]);
    const get = (path: string, cookie: string) => send(`${base}${path}`, { headers: { Cookie: cookie } });

    await restart(ADMIN_PASSWORD);
    try {
      const f = await form();
      const sequential: number[] = [];
      for (let i = 0; i < 20; i++) sequential.push((await login(f, `guess ${i}`)).status);
      expect(sequential).toEqual([...Array(5).fill(401), ...Array(15).fill(429)]);

      await db.sql.exec('DELETE FROM admin_login_attempts');
      const concurrent = (await Promise.all(Array.from({ length: 200 }, (_, i) => login(f, `guess ${i}`)))).map((r) => r.status);
      const checked = concurrent.filter((s) => s === 401).length;
      expect(checked).toBeGreaterThan(0);
      expect(checked).toBeLessThanOrEqual(5);
      expect(concurrent.every((s) => s === 401 || s === 429 || s === 503)).toBe(true);
      // Whatever the flood left of the five, the next attempts use up no more than the rest.
      let after = 0;
      for (let status = 0; status !== 429; after += status === 401 ? 1 : 0) status = (await login(f, 'one more guess')).status;
      expect(checked + after).toBeLessThanOrEqual(5);
      expect((await login(f, ADMIN_PASSWORD)).status).toBe(429);

      // A body of 5 MB is refused unread; a next with CR and LF sends to the panel's first page.
      const fields = { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: f.cookie };
      const huge = await send(`${base}/admin/login`, { method: 'POST', headers: fields, body: `_csrf=${f.token}&password=${'x'.repeat(5 * 1024 * 1024)}` });
      expect(huge.status).toBe(413);
      expect(huge.body).toMatch(/larger than 64 KiB/);
      await db.sql.exec('DELETE FROM admin_login_attempts');
      const injected = await send(`${base}/admin/login`, { method: 'POST', headers: fields, body: new URLSearchParams({ _csrf: f.token, password: ADMIN_PASSWORD, next: '/admin/plans\r\nSet-Cookie: evil=1' }).toString() });
      expect([injected.status, injected.headers.location]).toEqual([303, '/admin/pricing']);

      // Sessions: one kept, one logged out and its cookie copied.
      const kept = sessionOf(await login(await form(), ADMIN_PASSWORD));
      const loggedOut = sessionOf(await login(await form(), ADMIN_PASSWORD));
      const page = await get('/admin/plans', loggedOut);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      expect((await send(`${base}/admin/logout`, { method: 'POST', headers: { Cookie: loggedOut, 'Content-Type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrf}` })).status).toBe(303);
      for (let i = 0; i < 4; i++) {
        expect((await get('/admin/plans', loggedOut)).status).toBe(302); // each on a connection of its own, which either worker may take
        expect((await get('/admin/plans', kept)).status).toBe(200);
      }
      await restart(ADMIN_PASSWORD);
      expect((await get('/admin/plans', loggedOut)).status).toBe(302);
      expect((await get('/admin/plans', kept)).status).toBe(200);
      await restart(OTHER_PASSWORD);
      expect((await get('/admin/plans', kept)).status).toBe(302);
      expect((await login(await form(), ADMIN_PASSWORD)).status).toBe(401);
      expect((await get('/admin/plans', sessionOf(await login(await form(), OTHER_PASSWORD)))).status).toBe(200);
    } finally {
      await server?.stop();
      await db.drop();
    }
  }, 120_000);
});
