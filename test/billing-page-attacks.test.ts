/**
 * The billing page as an attacker and as a paying customer use it, on PGlite and PostgreSQL:
 * two accounts' billing open in one browser, each tab on its own; a link checked (HEAD) or
 * prefetched before the click; a member's crafted forms; a buy form sent twice at once; names
 * and a return address made of markup; bad form values said in words, never a 500; every redirect after an action to the page itself; the cookie and the
 * links on the server's public address (PUBLIC_URL) behind a proxy (billing-page-processes.test.ts
 * has a processor's checkout sending the customer back there).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/server/app.ts';
import { loadConfig, ConfigError } from '../src/server/config.ts';
import { loadCredentials } from '../src/hono/credentials.ts';
import { AdminClient, text } from './support/admin-client.ts';
import { apiWorld } from './support/api-world.ts';
import { ENGINES, HOUR } from './support/harness.ts';
import { API_KEY, useApi, type Api } from './support/http.ts';

const OWNER = { returnUrl: 'https://app.example/settings', role: 'owner' };

/** A link for `account` made through the API: its path on this server. */
async function link(api: Api, account: string, body: Record<string, unknown> = OWNER): Promise<string> {
  const reply = await api.call('POST', `/v1/accounts/${account}/billing-sessions`, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return new URL(reply.body.url).pathname;
}

/** Open `path` in `browser`: the page's address it is sent to, which names the session. */
async function open(browser: AdminClient, path: string): Promise<string> {
  const opened = await browser.request(path);
  expect(opened.status).toBe(303);
  return opened.headers.get('location')!;
}

/** The page at `address`, its CSRF token kept: the tab showing it. */
async function tab(browser: AdminClient, address: string) {
  const page = await browser.page(address);
  expect(page.status).toBe(200);
  // The token htmx sends: on a member's page too, which has no form.
  const csrf = JSON.parse(/hx-headers="([^"]+)"/.exec(page.html)![1]!.replaceAll('&quot;', '"'))['X-CSRF-Token'] as string;
  return { html: page.html, csrf };
}

for (const engine of ENGINES) {
  describe(`the billing page under attack on ${engine.name}`, () => {
    const api = useApi(engine);

    it('keeps two accounts opened in one browser each in its own tab: each shows, buys for and leaves notes on its own account', async () => {
      await apiWorld(api.billing);
      await api.billing.upsertAccount({ id: 'solo', kind: 'personal', name: 'Sam Solo' });
      await api.billing.subscribe('solo', 'plus');
      const browser = new AdminClient(api.app);
      const acmeAt = await open(browser, await link(api, 'acme'));
      const acme = await tab(browser, acmeAt);
      // Billing for the person's own account opened after, in another tab: as a member of it, say.
      const soloAt = await open(browser, await link(api, 'solo', { returnUrl: 'https://app.example/me', role: 'member', userId: 'sam' }));
      const solo = await tab(browser, soloAt);
      expect(acmeAt).not.toBe(soloAt);
      expect(text(acme.html)).toContain('Acme owner');
      expect(text(solo.html)).toContain('Sam Solo member');

      // The first tab, reloaded or swapping its usage range, is still Acme's.
      expect(text((await browser.page(acmeAt)).html)).toContain('Acme owner');
      const usage = await browser.page(`/billing/usage?${new URLSearchParams({ s: new URL(acmeAt, 'http://x').searchParams.get('s')!, days: '7' })}`);
      expect(usage.html).not.toContain('by the whole team');
      // Its Buy form buys for Acme, as its owner; the note is on Acme's page only.
      const acmeBefore = await api.billing.balance('acme');
      const soloBefore = await api.billing.balance('solo');
      browser.csrf = acme.csrf;
      const bought = await browser.post('/billing/purchase', { pack: 'extra-10', idempotencyKey: 'two-tabs-1' });
      expect(bought.status).toBe(303);
      expect(bought.res.headers.get('location')).toBe(`${acmeAt}#note`);
      expect((await api.billing.balance('acme')).availableMicros).toBe(acmeBefore.availableMicros + 10_000_000);
      expect(await api.billing.balance('solo')).toEqual(soloBefore);
      expect((await browser.page(soloAt)).html).not.toContain('Bought:');
      expect((await browser.page(acmeAt)).html).toContain('Bought: 1,000 credits added.');
      // The member tab's form is the member's: refused, whichever tab was opened last.
      browser.csrf = solo.csrf;
      expect((await browser.post('/billing/purchase', { pack: 'extra-10', idempotencyKey: 'two-tabs-2' })).status).toBe(403);
      expect(await api.billing.balance('solo')).toEqual(soloBefore);
      // A page whose address names no session of this browser says the session ended; without a name, the newest is shown.
      expect((await browser.page('/billing?s=AAAAAAAAAAAAAAAA')).status).toBe(401);
      expect(text((await browser.page('/billing')).html)).toContain('Sam Solo member');
    });

    it('leaves a link unopened by a HEAD or a browser\'s prefetch of it, for the click that follows', async () => {
      await apiWorld(api.billing);
      const path = await link(api, 'acme');
      expect((await api.app.request(path, { method: 'HEAD' })).status).toBe(200);
      for (const headers of <Record<string, string>[]>[{ 'Sec-Purpose': 'prefetch' }, { 'Sec-Purpose': 'prefetch;prerender' }, { Purpose: 'prefetch' }]) {
        const fetched = await api.app.request(path, { headers });
        expect(fetched.status).toBe(503);
        expect(fetched.headers.getSetCookie()).toEqual([]);
      }
      expect(await api.sql.query('SELECT 1 FROM billing_sessions WHERE opened_at IS NOT NULL')).toEqual([]);
      const browser = new AdminClient(api.app);
      expect(text((await browser.page(await open(browser, path))).html)).toContain('Acme owner');
    });

    it('keeps a browser\'s twenty newest sessions: opening more forgets the oldest, and those that ended', async () => {
      await apiWorld(api.billing);
      const browser = new AdminClient(api.app);
      const opened: string[] = [];
      for (let i = 0; i < 22; i++) opened.push(await open(browser, await link(api, i % 2 ? 'acme' : 'solo')));
      const sessions = () => [...browser.cookies.keys()].filter((name) => /^tollgate_billing_[\w-]{16}$/.test(name));
      expect(sessions()).toHaveLength(20);
      for (const at of opened.slice(0, 2)) expect((await browser.page(at)).status).toBe(401);
      for (const at of opened.slice(2)) expect((await browser.page(at)).status).toBe(200);
      // An hour on, every session has ended: the next link opened leaves the browser that one alone.
      api.clock.advance(HOUR);
      const last = await open(browser, await link(api, 'acme'));
      expect(sessions()).toEqual([`tollgate_billing_${new URL(last, 'http://x').searchParams.get('s')}`]);
    });

    it('refuses a member\'s crafted forms however sent: a header token, JSON, another account named', async () => {
      await apiWorld(api.billing);
      const browser = new AdminClient(api.app);
      const at = await open(browser, await link(api, 'acme', { returnUrl: 'https://app.example/', role: 'member', userId: 'user_7' }));
      const { csrf } = await tab(browser, at);
      const state = await api.state();
      const sends: ({ body: string } & Record<string, string>)[] = [
        { 'Content-Type': 'application/x-www-form-urlencoded', body: new URLSearchParams({ _csrf: csrf, pack: 'extra-10', idempotencyKey: 'm1' }).toString() },
        { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, body: JSON.stringify({ pack: 'extra-10', idempotencyKey: 'm2' }) },
        { 'Content-Type': 'text/plain', 'X-CSRF-Token': csrf, body: 'pack=extra-10' },
      ];
      for (const { body, ...headers } of sends) {
        for (const path of ['/billing/purchase', '/billing/plan', '/billing/cancel', '/billing/resume', '/billing/portal', '/billing/auto-recharge', `${at}&accountId=solo`]) {
          const res = await browser.request(path, { method: 'POST', headers, body });
          expect(res.status, `${path} ${headers['Content-Type']}`).toBe(403);
        }
      }
      // Nor does the page read another account for a member who names it.
      expect((await browser.page(`${at}&account=solo&accountId=solo`)).html).toContain('Acme');
      expect(await api.state()).toEqual(state);
    });

    it('buys a pack once when its form is sent twice at once, and a resubmit after shows the same purchase', async () => {
      await apiWorld(api.billing);
      const browser = new AdminClient(api.app);
      const at = await open(browser, await link(api, 'acme'));
      const page = await browser.page(at);
      const key = /name="idempotencyKey" value="([^"]+)"/.exec(page.html.slice(page.html.indexOf('data-pack="extra-10"')))![1]!;
      const before = (await api.billing.balance('acme')).availableMicros;
      const clicks = await Promise.all([1, 2, 3].map(() => browser.post('/billing/purchase', { pack: 'extra-10', idempotencyKey: key })));
      expect(clicks.map((c) => c.status)).toEqual([303, 303, 303]);
      expect((await api.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
      expect((await api.billing.payments('acme')).filter((p) => p.kind === 'pack')).toHaveLength(1);
      // The same key for another pack is not a second purchase: said in words.
      await api.billing.admin.createPack({ slug: 'extra-50', name: '5,000 extra credits', priceCents: 50_00, valueMicros: 50_000_000 });
      expect((await browser.post('/billing/purchase', { pack: 'extra-50', idempotencyKey: key })).status).toBe(303);
      const after = await browser.page(at);
      expect(after.html).toContain('<p class="error" role="alert" id="note">This form is not one the page can take any more: reload the page and try again.</p>');
      expect((await api.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
    });

    it('keeps a form\'s idempotency key to its own account: a customer cannot take a key the host app will use for another', async () => {
      await apiWorld(api.billing);
      await api.billing.upsertAccount({ id: 'other', kind: 'team' });
      const browser = new AdminClient(api.app);
      const at = await open(browser, await link(api, 'acme'));
      await browser.page(at);
      expect((await browser.post('/billing/purchase', { pack: 'extra-10', idempotencyKey: 'welcome-other' })).status).toBe(303);
      expect((await api.billing.payments('acme')).filter((p) => p.kind === 'pack')).toHaveLength(1);
      const credit = await api.call('POST', '/v1/accounts/other/credits', { source: 'bonus', amountMicros: 1_000_000, reference: 'welcome' }, { 'Idempotency-Key': 'welcome-other' });
      expect(credit.status, JSON.stringify(credit.body)).toBe(201);
      expect((await api.billing.balance('other')).buckets).toContainEqual(expect.objectContaining({ source: 'bonus', remainingMicros: 1_000_000 }));
    });

    it('shows names and a return address made of markup as text, never as markup', async () => {
      await apiWorld(api.billing);
      await api.billing.upsertAccount({ id: 'acme', kind: 'team', name: '<script>alert("acct")</script>' });
      await api.billing.admin.updatePlan('plus', { name: 'Plus <img src=x onerror=alert(1)>' });
      const browser = new AdminClient(api.app);
      const returnUrl = 'https://app.example/back?x="><script>alert(2)</script>';
      const at = await open(browser, await link(api, 'acme', { returnUrl, role: 'owner' }));
      const page = await browser.page(at);
      expect(page.status).toBe(200);
      expect(page.html).not.toMatch(/<script>alert|<img src=x/);
      expect(page.html).toContain('&lt;script&gt;alert(&quot;acct&quot;)&lt;/script&gt;');
      expect(page.html).toContain('Plus &lt;img src=x onerror=alert(1)&gt;');
      const back = /<a class="back" href="([^"]*)"/.exec(page.html)![1]!;
      expect(back.startsWith('https://app.example/back?x=')).toBe(true);
      expect(back).not.toContain('<');
    });

    it('refuses a return address that is not a web page, however written, and sends every action back to the page itself', async () => {
      await apiWorld(api.billing);
      for (const returnUrl of ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', '//evil.example/', 'vbscript:x', 'https://app.example/\u0000x']) {
        const refused = await api.call('POST', '/v1/accounts/acme/billing-sessions', { returnUrl, role: 'owner' });
        expect(refused.status, returnUrl).toBe(400);
        expect(refused.body.error.message, returnUrl).toMatch(/^Invalid request: returnUrl: /);
      }
      const browser = new AdminClient(api.app);
      const at = await open(browser, await link(api, 'acme'));
      await browser.page(at);
      await api.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 100_00, overage: 'credits' });
      for (const [path, fields] of [
        ['/billing/purchase', { pack: 'extra-10' }], ['/billing/plan', { plan: 'max' }], ['/billing/cancel', {}], ['/billing/resume', {}],
        ['/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '100' }], ['/billing/plan', { plan: 'https://evil.example/' }],
      ] as const) {
        const done = await browser.post(path, { ...fields, idempotencyKey: `redirect-${path}-${Object.values(fields).join()}` });
        expect(done.status, path).toBe(303);
        expect(done.res.headers.get('location'), path).toBe(`${at}#note`);
      }
    });

    it('says bad form values in words, as a page, never a 500', async () => {
      await apiWorld(api.billing);
      const browser = new AdminClient(api.app);
      const at = await open(browser, await link(api, 'acme'));
      await browser.page(at);
      const state = await api.state();
      const reload = 'This form is not one the page can take any more: reload the page and try again.';
      const cases: [string, Record<string, string>, string][] = [
        ['/billing/purchase', { pack: 'no-such-pack', idempotencyKey: 'bad-1' }, 'That pack is not on sale any more: reload the page to see the packs on sale.'],
        ['/billing/plan', { plan: 'gone', idempotencyKey: 'bad-2' }, 'That plan is not on sale any more: reload the page to see the plans on sale.'],
        ['/billing/purchase', { pack: '', idempotencyKey: 'bad-3' }, reload],
        ['/billing/plan', { plan: 'x'.repeat(5_000), idempotencyKey: 'bad-4' }, reload],
        ['/billing/purchase', { pack: 'extra-10', idempotencyKey: 'k'.repeat(3_000) }, reload],
      ];
      for (const [path, fields, says] of cases) {
        const sent = await browser.post(path, fields);
        expect(sent.status, path).toBe(303);
        const note = /<p class="error" role="alert" id="note">([^<]+)<\/p>/.exec((await browser.page(sent.res.headers.get('location')!)).html)?.[1];
        expect(note, JSON.stringify(fields).slice(0, 80)).toBe(says);
      }
      // In credits, as the settings say (a credit is a cent here): an amount too large is said in credits too.
      for (const [fields, says] of [
        [{ threshold: '9007199254740991' }, 'When less than this is left: 9,007,199,254,740,991 credits is more than 900,719,925,474, the most it can be'],
        [{ threshold: '99999999999999999999' }, 'When less than this is left: 99,999,999,999,999,999,999 credits is more than 900,719,925,474, the most it can be'],
        [{ threshold: '-5' }, 'When less than this is left: &quot;-5&quot; is not an amount of credits such as 200 or 12.5'],
        [{ threshold: '1', maxDollars: '1e9' }, 'At most, charged a month: &quot;1e9&quot; is not an amount of dollars such as 10 or 0.05 (at most six decimals)'],
        [{ threshold: '1', pack: '<b>' }, 'Buy: must be 1–63 lowercase letters, digits, &quot;-&quot; or &quot;_&quot;.'],
      ] as const) {
        const refused = await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', ...fields });
        expect(refused.status, JSON.stringify(fields)).toBe(400);
        expect(/<p class="error" role="alert" id="auto-recharge-error">([^<]+)<\/p>/.exec(refused.html)?.[1], JSON.stringify(fields)).toBe(says);
      }
      expect((await browser.request('/billing/purchase', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'x='.padEnd(40_000, 'x') })).status).toBe(413);
      // A body that is no form at all, as a form: a page that says so.
      const garbled = await browser.request('/billing/purchase', { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=zzz' }, body: 'not a multipart body' });
      expect(garbled.status).toBe(400);
      expect(text(await garbled.text())).toContain('This form could not be read Reload the billing page and try again.');
      expect(await api.state()).toEqual(state);
    });
  });

  describe(`the billing page behind a proxy on ${engine.name}`, () => {
    const api = useApi(engine);

    it('makes links on the public address when one is set, and its cookie Secure when it is https', async () => {
      await apiWorld(api.billing);
      const credentials = await loadCredentials(api.sql, { secretKey: API_KEY, adminPassword: 'admin-password-for-tests' });
      const app = createApp({ billing: api.billing, credentials, logger: pino({ level: 'silent' }), publicUrl: 'https://billing.example.com' });
      // The API called on an internal address: the link is still on the public one.
      const made = await app.request('http://10.0.0.7:3000/v1/accounts/acme/billing-sessions', {
        method: 'POST', headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(OWNER),
      });
      expect(made.status).toBe(201);
      const { url } = (await made.json()) as { url: string };
      expect(url).toMatch(/^https:\/\/billing\.example\.com\/billing\/open\/[\w-]{43}$/);
      // The proxy passes it on over http: the cookie is Secure all the same.
      const opened = await app.request(`http://10.0.0.7:3000${new URL(url).pathname}`);
      expect(opened.status).toBe(303);
      const cookie = opened.headers.getSetCookie().find((c) => c.startsWith('tollgate_billing_'))!;
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; Path=\/billing;/);
      // So is the note a form leaves for the next page, and its removal once shown.
      const browser = new AdminClient(app);
      const another = (await (await app.request('http://10.0.0.7:3000/v1/accounts/acme/billing-sessions', {
        method: 'POST', headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(OWNER),
      })).json()) as { url: string };
      const page = `http://10.0.0.7:3000${await open(browser, `http://10.0.0.7:3000${new URL(another.url).pathname}`)}`;
      const { csrf } = await tab(browser, page);
      const notes = (res: Response) => res.headers.getSetCookie().filter((c) => c.startsWith('tollgate_billing_note_'));
      const bought = await browser.request('http://10.0.0.7:3000/billing/purchase', {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, pack: 'extra-10', idempotencyKey: 'behind-proxy' }).toString(),
      });
      expect(bought.status).toBe(303);
      const taken = notes(await browser.request(page));
      expect(notes(bought)).toHaveLength(1);
      expect(taken).toHaveLength(1);
      for (const note of [...notes(bought), ...taken]) expect(note).toMatch(/; Secure/);
      // Without it, a link is on the address called, and its cookie is Secure only over https.
      const plain = await api.call('POST', '/v1/accounts/acme/billing-sessions', OWNER);
      expect(plain.body.url).toMatch(/^http:\/\/localhost\/billing\/open\//);
      const plainCookie = (await api.app.request(new URL(plain.body.url).pathname)).headers.getSetCookie()[0]!;
      expect(plainCookie).not.toMatch(/Secure/);
      const proxied = await api.call('POST', '/v1/accounts/acme/billing-sessions', OWNER);
      const proxiedCookie = (await api.app.request(new URL(proxied.body.url).pathname, { headers: { 'X-Forwarded-Proto': 'https' } })).headers.getSetCookie()[0]!;
      expect(proxiedCookie).toMatch(/; Secure/);
    });

    it('reads PUBLIC_URL: an address with no path, or a plain message naming it', () => {
      expect(loadConfig({ PUBLIC_URL: 'https://billing.example.com/' }).publicUrl).toBe('https://billing.example.com');
      expect(loadConfig({}).publicUrl).toBeUndefined();
      for (const bad of ['billing.example.com', 'https://billing.example.com/tollgate', 'ftp://x', 'https://x?y=1']) {
        expect(() => loadConfig({ PUBLIC_URL: bad }), bad).toThrow(ConfigError);
        expect(() => loadConfig({ PUBLIC_URL: bad })).toThrow(/^PUBLIC_URL must be the http or https address browsers reach this server at/);
      }
    });
  });
}
