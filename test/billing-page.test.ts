/**
 * The hosted billing page over HTTP, on PGlite and PostgreSQL: a link made for one account opens
 * once and before it expires, becomes a session on that account only, which ends; an owner buys
 * and changes the plan through the fake processor (once per form), a member sees and is refused;
 * a form without its CSRF token is refused; bad input to the link's route is a plain 400.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, fakeProcessor, type DeclineCode } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { AdminClient } from './support/admin-client.ts';
import { apiWorld, TEST_MODEL } from './support/api-world.ts';
import { ENGINES, HOUR, MINUTE } from './support/harness.ts';
import { completed } from './support/spend.ts';
import { useApi, type Api } from './support/http.ts';

/** A link for `account` made through the API: its path on this server. */
async function link(api: Api, account: string, body: Record<string, unknown> = { returnUrl: 'https://app.example/settings', role: 'owner' }) {
  const reply = await api.call('POST', `/v1/accounts/${account}/billing-sessions`, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  const url = new URL(reply.body.url);
  expect(url.origin).toBe('http://localhost');
  expect(url.pathname).toMatch(/^\/billing\/open\/[\w-]{43}$/);
  return { path: url.pathname, expiresAt: reply.body.expiresAt as string };
}

/** A browser of its own (a cookie jar) that opened `path`. */
async function opened(api: Api, path: string) {
  const browser = new AdminClient(api.app);
  const open = await browser.page(path);
  return { browser, open };
}

for (const engine of ENGINES) {
  describe(`the billing page over HTTP on ${engine.name}`, () => {
    const api = useApi(engine);

    it('opens a link once, into a session on its account; the same link again says to open billing from the app', async () => {
      await apiWorld(api.billing);
      const { path, expiresAt } = await link(api, 'acme');
      expect(expiresAt).toBe('2026-03-10T12:10:00.000Z');
      const { browser, open } = await opened(api, path);
      expect(open.status).toBe(303);
      expect(open.res.headers.get('location')).toMatch(/^\/billing\?s=[\w-]{16}$/);
      const cookie = open.res.headers.getSetCookie().find((c) => c.startsWith('tollgate_billing_'))!;
      // The cookie is named by the session the page's address names.
      expect(cookie.startsWith(`tollgate_billing_${open.res.headers.get('location')!.slice('/billing?s='.length)}=`)).toBe(true);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      expect(cookie).toMatch(/Path=\/billing/);
      const page = await browser.page('/billing');
      expect(page.status).toBe(200);
      expect(page.html).toContain('Acme');
      expect(page.html).toContain('href="https://app.example/settings"');
      expect(page.res.headers.get('referrer-policy')).toBe('no-referrer');
      // Only hashes are stored: neither the link's token nor the cookie's is in the table.
      const rows = await api.sql.query<{ link_sha256: Buffer; cookie_sha256: Buffer }>('SELECT link_sha256, cookie_sha256 FROM billing_sessions');
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(path.split('/').at(-1));

      const again = await opened(api, path);
      expect(again.open.status).toBe(410);
      expect(again.open.html).toContain('Go back to the app and open billing from there again');
      expect((await again.browser.page('/billing')).status).toBe(401);
      // The browser that opened it, coming back to the link (the back button), keeps its session.
      expect((await browser.page(path)).status).toBe(303);
    });

    it('opens a link at most once when two browsers open it at the same moment', async () => {
      await apiWorld(api.billing);
      const { path } = await link(api, 'acme');
      const tries = await Promise.all(Array.from({ length: 6 }, () => opened(api, path)));
      expect(tries.map((t) => t.open.status).sort()).toEqual([303, 410, 410, 410, 410, 410]);
    });

    it('refuses a link opened after ten minutes, and ends the session after an hour', async () => {
      await apiWorld(api.billing);
      const late = await link(api, 'acme');
      const { path } = await link(api, 'acme');
      const { browser } = await opened(api, path);
      api.clock.advance(10 * MINUTE);
      expect((await opened(api, late.path)).open.status).toBe(410);
      expect((await browser.page('/billing')).status).toBe(200);
      api.clock.advance(HOUR - 10 * MINUTE - 1_000);
      expect((await browser.page('/billing')).status).toBe(200);
      api.clock.advance(1_000);
      const ended = await browser.page('/billing');
      expect(ended.status).toBe(401);
      expect(ended.html).toContain('Your billing session has ended');
      expect(ended.html).not.toContain('Acme');
    });

    it('keeps a session to its own account: no request reads or acts on another', async () => {
      await apiWorld(api.billing);
      await api.billing.upsertAccount({ id: 'rival', kind: 'team', name: 'Rival Corp' });
      await api.billing.subscribe('rival', 'plus');
      const { browser } = await opened(api, (await link(api, 'acme')).path);
      for (const path of ['/billing?account=rival', '/billing/?accountId=rival', '/billing/accounts/rival']) {
        const page = await browser.page(path);
        expect(page.html, path).not.toContain('Rival Corp');
      }
      const rivalBefore = await api.billing.balance('rival');
      const acmeBefore = await api.billing.balance('acme');
      await browser.page('/billing');
      const bought = await browser.post('/billing/purchase?account=rival', { pack: 'extra-10', idempotencyKey: 'k1', accountId: 'rival' });
      expect(bought.status).toBe(303);
      expect(await api.billing.balance('rival')).toEqual(rivalBefore);
      expect((await api.billing.balance('acme')).availableMicros).toBe(acmeBefore.availableMicros + 10_000_000);
    });

    it('lets an owner buy a pack once per form, change the plan, cancel and resume it, and set auto-recharge', async () => {
      await apiWorld(api.billing);
      const { browser } = await opened(api, (await link(api, 'acme')).path);
      const before = (await api.billing.balance('acme')).availableMicros;
      await browser.page('/billing');
      for (let i = 0; i < 2; i++) expect((await browser.post('/billing/purchase', { pack: 'extra-10', idempotencyKey: 'buy-1' })).status).toBe(303);
      expect((await api.billing.balance('acme')).availableMicros).toBe(before + 10_000_000);
      const page = await browser.page('/billing');
      expect(page.html).toContain('Bought: 1,000 credits added.');
      expect((await api.billing.payments('acme')).filter((p) => p.kind === 'pack')).toHaveLength(1);

      // Before it, the page that asks says what becomes of the pack just bought: Free does not spend packs.
      expect((await browser.page('/billing/cancel')).html).toContain(
        'Credit packs you bought stay yours, though Free does not spend them: they are spent again on a plan that does, and you can resume the plan until it ends.',
      );
      expect((await browser.post('/billing/cancel', { idempotencyKey: 'cancel-1' })).status).toBe(303);
      expect((await api.billing.getAccount('acme')).planEndsAt).not.toBeNull();
      expect((await browser.page('/billing')).html).toMatch(/Plus is canceled: it ends Apr 10, 2026, 12:00 UTC/);
      expect((await browser.post('/billing/resume', { idempotencyKey: 'resume-1' })).status).toBe(303);
      expect((await api.billing.getAccount('acme')).planEndsAt).toBeNull();

      await api.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 100_00, overage: 'credits' });
      await api.billing.admin.createPlan({ slug: 'flat', name: 'Flat', priceCents: 50_00, overage: 'block' });
      // The page that asks before a change: a plan that spends no packs says the pack bought stays, unspent.
      const flat = await browser.page('/billing/change?plan=flat');
      expect(flat.html).toContain('<title>Upgrade to Flat? · ');
      expect(flat.html).toContain('Credit packs you bought stay yours, though Flat does not spend them: they are spent again on a plan that does.');
      expect((await browser.page('/billing/change?plan=max')).html).not.toContain('Credit packs you bought stay yours');
      // No such plan, a free one, or the one it is on: back to the page.
      for (const plan of ['nope', 'free', 'plus']) expect((await browser.page(`/billing/change?plan=${plan}`)).status, plan).toBe(303);
      await browser.page('/billing');
      expect((await browser.post('/billing/plan', { plan: 'max', idempotencyKey: 'plan-1' })).status).toBe(303);
      expect((await api.billing.balance('acme')).plan.slug).toBe('max');
      expect((await browser.page('/billing')).html).toContain('You are on Max now.');

      const set = await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '250', maxCount: '3', maxDollars: '' });
      expect(set.status).toBe(303);
      expect((await api.billing.balance('acme')).autoRecharge).toMatchObject({ enabled: true, pack: 'extra-10', thresholdMicros: 2_500_000, monthlyMaxCount: 3, monthlyMaxMicros: null, state: 'on' });
      // What it will charge, on what, when and how often, both in the note and in its state.
      const on = (await browser.page('/billing')).html;
      expect(on).toContain('Auto-recharge is on: it buys 1,000 extra credits for $10.00, plus anything owed, on the saved card when less than 250 credits is left, at most 3 times a month.');
      expect(on).toMatch(/data-figure="auto-recharge-state"><strong>On<\/strong>: buys 1,000 extra credits for \$10.00, plus anything owed, on the saved card when less than 250 credits is left, at most 3 times a month</);
      const refused = await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '', maxCount: 'many' });
      expect(refused.status).toBe(400);
      expect(refused.html).toContain('At most, recharges a month: &quot;many&quot; is not a whole number');
      expect((await api.billing.balance('acme')).autoRecharge).toMatchObject({ thresholdMicros: 2_500_000, monthlyMaxCount: 3 });
      // A monthly cap below the pack's $10 would let no recharge through: refused, not saved as on.
      const under = await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '250', maxCount: '', maxDollars: '5' });
      expect(under.status).toBe(400);
      expect(under.html).toContain('At most, charged a month: $5.00 is less than $10.00, the pack&#39;s price, so no recharge could be made: raise it or leave it empty.');
      expect((await api.billing.balance('acme')).autoRecharge).toMatchObject({ monthlyMaxCount: 3, monthlyMaxMicros: null });
      await expect(api.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: 1_000_000, monthlyMaxMicros: 9_990_000 })).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('offers no auto-recharge on a free plan that cannot buy the add-on pack, and offers it once subscribed', async () => {
      await apiWorld(api.billing);
      const { browser } = await opened(api, (await link(api, 'solo')).path);
      const free = await browser.page('/billing');
      expect(free.html).toContain('Subscribe to a paid plan first.');
      expect(free.html).not.toContain('id="auto-recharge"');
      // Free's models in words, not as the patterns the plan lists them by.
      expect(free.html).toContain('<li>Models: gpt-4o-mini, gpt-4.1-mini, gpt-4.1-nano, gpt-5-mini, gpt-5-nano, and any model named claude-3-5-haiku…, claude-haiku-… or gemini-…flash…</li>');
      await api.billing.subscribe('solo', 'plus');
      expect((await browser.page('/billing')).html).toContain('id="auto-recharge-form"');
    });

    it('says auto-recharge turned off when the plan ended and its pack is no longer sold to it, by the pack\'s name, and offers no form', async () => {
      await apiWorld(api.billing);
      // $35 is available: under a threshold of 4,000 credits ($40), a recharge is due.
      await api.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: 40_000_000, monthlyMaxCount: null, monthlyMaxMicros: null });
      await api.billing.cancel('acme', { immediately: true });
      await api.billing.runRecharges();
      expect((await api.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', off: { code: 'pack_unavailable' } });
      const { browser } = await opened(api, (await link(api, 'acme')).path);
      const page = (await browser.page('/billing')).html;
      expect(page).toContain('<strong>Turned off</strong>: 1,000 extra credits can no longer be bought on your plan. Subscribe to a plan that packs are sold to, then turn it on again.');
      expect(page).not.toContain('extra-10&quot;');
      expect(page).not.toContain('id="auto-recharge-form"');
    });

    it('shows an auto-recharge threshold in the form as it is stored, so the form saved unchanged keeps it', async () => {
      await apiWorld(api.billing);
      // Set through the API: 250.5001 credits (a credit is a cent here), not a whole number of them.
      await api.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: 2_505_001, monthlyMaxCount: 2, monthlyMaxMicros: 25_000_000 });
      const before = (await api.billing.balance('acme')).autoRecharge;
      const { browser } = await opened(api, (await link(api, 'acme')).path);
      const form = /<form[^>]*id="auto-recharge-form">([^]*?)<\/form>/.exec((await browser.page('/billing')).html)![1]!;
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(form)?.[1];
      expect(field('threshold')).toBe('250.5001');
      const fields = { enabled: 'on', pack: /<option value="([^"]+)" selected/.exec(form)![1]!, threshold: field('threshold')!, maxCount: field('maxCount')!, maxDollars: field('maxDollars')! };
      expect(fields).toEqual({ enabled: 'on', pack: 'extra-10', threshold: '250.5001', maxCount: '2', maxDollars: '25' });
      expect((await browser.post('/billing/auto-recharge', fields)).status).toBe(303);
      expect((await api.billing.balance('acme')).autoRecharge).toEqual(before);
      // Typed with decimals, a threshold is read as the credits typed.
      expect((await browser.post('/billing/auto-recharge', { ...fields, threshold: '1,200.25' })).status).toBe(303);
      expect((await api.billing.balance('acme')).autoRecharge?.thresholdMicros).toBe(12_002_500);
    });

    it('shows a member the pool and their own cap, no controls, and refuses their forms', async () => {
      await apiWorld(api.billing);
      await api.billing.admin.setMemberLimits('acme', 'user_7', [{ window: 'day', unit: 'usd', amount: 1_000_000 }]);
      await api.billing.admin.setMemberLimits('acme', 'user_8', [{ window: 'day', unit: 'usd', amount: 3_000_000 }]);
      await api.billing.record('acme', { ...TEST_MODEL, userId: 'user_7', usage: { inputTokens: 100_000, outputTokens: 0 } }, { idempotencyKey: 'u7' });
      await api.billing.record('acme', { ...TEST_MODEL, userId: 'user_8', usage: { inputTokens: 200_000, outputTokens: 0 } }, { idempotencyKey: 'u8' });
      const { browser } = await opened(api, (await link(api, 'acme', { returnUrl: 'https://app.example/', userId: 'user_7' })).path);
      const page = await browser.page('/billing');
      expect(page.html).toContain('Today (your cap)');
      expect(page.html).not.toContain('user_8');
      expect(page.html).not.toContain('Members&#39; caps');
      expect(page.html).not.toMatch(/action="\/billing\/(purchase|plan|cancel|resume|auto-recharge|portal)"/);
      expect(page.html).not.toContain('id="payments"');
      const week = await browser.page('/billing/usage?days=7');
      expect(week.status).toBe(200);
      expect(week.html).toMatch(/^<section id="usage" class="card"><div class="section-head"><h2>Usage, last 7 days<\/h2>/);
      expect(week.html).toContain('60 credits in all, by the whole team.');
      expect(week.html).toContain('Your last calls');
      expect(week.html.match(/<tr><td>Mar 10, 2026, 12:00 UTC<\/td>/g)).toHaveLength(1);
      // The page's own token (htmx sends it as a header): what refuses is the role, not a missing token.
      browser.csrf = JSON.parse(/hx-headers="([^"]+)"/.exec(page.html)![1]!.replaceAll('&quot;', '"'))['X-CSRF-Token'];
      expect(browser.csrf).toMatch(/^[\w-]{43}$/);
      const state = await api.state();
      for (const [path, fields] of [['/billing/purchase', { pack: 'extra-10' }], ['/billing/plan', { plan: 'free' }], ['/billing/cancel', {}], ['/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '100' }]] as const) {
        const refused = await browser.post(path, { ...fields, idempotencyKey: `m-${path}` });
        expect(refused.status, path).toBe(403);
        expect(refused.html).toContain('Only the account&#39;s owner or an admin can do this');
      }
      expect((await browser.page('/billing/cancel')).status).toBe(403);
      expect((await browser.page('/billing/change?plan=plus')).status).toBe(403);
      expect(await api.state()).toEqual(state);
    });

    it('shows an owner their own cap as theirs, and the other members\' caps under a heading, each member\'s name (or app id) small beside them', async () => {
      await apiWorld(api.billing);
      await api.billing.admin.setMemberLimits('acme', 'user_7', [{ window: 'day', unit: 'usd', amount: 1_000_000 }, { window: 'month', unit: 'usd', amount: 5_000_000 }]);
      await api.billing.admin.setMemberLimits('acme', 'user_8', [{ window: 'day', unit: 'usd', amount: 3_000_000 }]);
      await api.billing.admin.setMemberLimits('acme', 'user_9', [{ window: 'month', unit: 'tokens', amount: 2_000_000 }], { name: 'Zoë <b>Ops</b> & Co' });
      const { browser } = await opened(api, (await link(api, 'acme', { returnUrl: 'https://app.example/', userId: 'user_8', role: 'owner' })).path);
      const limits = /<section id="limits"[^]*?<\/section>/.exec((await browser.page('/billing')).html)![0];
      expect(limits).toContain('<strong>Today (your cap)</strong>');
      expect(limits).not.toContain('(cap of');
      expect(limits).toMatch(/<h3>Members&#39; caps<\/h3><div class="member-caps" data-member="user_[79]">/);
      // A member capped without a name goes by the host app's id; one with a name by it alone, escaped.
      expect(limits).toContain('<div class="member-caps" data-member="user_7"><small class="muted">Member <code>user_7</code></small>');
      expect(limits).toContain('<div class="member-caps" data-member="user_9"><small class="muted">Zoë &lt;b&gt;Ops&lt;/b&gt; &amp; Co</small>');
      expect(limits).not.toContain('<b>Ops</b>');
      // Each of the member's bars is titled by its window alone; who is the caption's, and the bar's label for a screen reader.
      expect([...limits.matchAll(/<strong>([^<]*)<\/strong>/g)].map((m) => m[1]).sort()).toEqual(['This month', 'This month', 'Today', 'Today (your cap)']);
      expect(limits).toContain('aria-label="This month, cap of member user_7: 0 credits of 500 credits"');
      expect(limits).toContain('aria-label="This month, cap of Zoë &lt;b&gt;Ops&lt;/b&gt; &amp; Co: 0 tokens of 2M tokens"');
      expect(limits).not.toContain('held for calls in progress');

      // A call in progress counts against the cap, as the gate counts it, and the bar says how much of it is held, not spent.
      const held = await api.billing.authorize('acme', { ...TEST_MODEL, inputTokens: 50_000, maxOutputTokens: 0, userId: 'user_8' });
      expect(held.ok).toBe(true);
      const mine = /<div class="limit" data-limit="Today \(your cap\)">[^]*?<\/small>/.exec((await browser.page('/billing')).html)![0];
      expect(mine).toMatch(/<span>10 credits of 300 credits<\/span>/);
      expect(mine).toMatch(/ · 10 credits of it held for calls in progress<\/small>$/);
      if (held.ok) await api.billing.release(held.hold.id);

      // The last calls name who made each the same way: the viewer as "You", a named member by name, escaped, another by id.
      for (const user of ['user_7', 'user_8', 'user_9']) {
        await api.billing.record('acme', { ...TEST_MODEL, userId: user, usage: { inputTokens: 1_000, outputTokens: 0 } }, { idempotencyKey: `who-${user}` });
      }
      const usage = /<section id="usage"[^]*?<\/section>/.exec((await browser.page('/billing')).html)![0];
      expect([...usage.matchAll(/<td class="wide">([^<]*)<\/td>/g)].map((m) => m[1]).sort()).toEqual(['You', 'Zoë &lt;b&gt;Ops&lt;/b&gt; &amp; Co', 'user_7']);
    });

    it('charts calendar days in the account\'s zone across a change of clocks: none skipped, none twice', async () => {
      await apiWorld(api.billing);
      await api.billing.upsertAccount({ id: 'acme', kind: 'team', timeZone: 'Europe/Paris' });
      for (const [now, first, last] of [
        ['2026-03-29T22:30:00Z', '2026-03-24', '2026-03-30'], // 00:30 on Mar 30 in Paris, the day after clocks went forward
        ['2026-10-26T22:30:00Z', '2026-10-20', '2026-10-26'], // 23:30 on Oct 26, the day after they went back
      ] as const) {
        api.clock.set(now);
        await api.billing.record('acme', { ...TEST_MODEL, usage: { inputTokens: 1_000, outputTokens: 0 } }, { idempotencyKey: `chart-${now}` }); // a chart is drawn for usage
        const { browser } = await opened(api, (await link(api, 'acme')).path);
        const week = await browser.page('/billing/usage?days=7');
        const series = JSON.parse(/data-series="([^"]+)"/.exec(week.html)![1]!.replaceAll('&quot;', '"')) as { x: number[] };
        const days = series.x.map((x) => new Date(x * 1000).toISOString().slice(0, 10));
        const expected = Array.from({ length: 7 }, (_, i) => new Date(Date.parse(`${first}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10));
        expect(days).toEqual(expected);
        expect(days.at(-1)).toBe(last);
      }
    });

    it('refuses a form without its CSRF token, or with another session\'s', async () => {
      await apiWorld(api.billing);
      const a = (await opened(api, (await link(api, 'acme')).path)).browser;
      const b = (await opened(api, (await link(api, 'acme')).path)).browser;
      await a.page('/billing');
      await b.page('/billing');
      const state = await api.state();
      expect((await a.post('/billing/purchase', { pack: 'extra-10' }, { csrf: false })).status).toBe(403);
      a.csrf = b.csrf;
      const crossed = await a.post('/billing/purchase', { pack: 'extra-10' });
      expect(crossed.status).toBe(403);
      expect(crossed.html).toContain('This form has expired');
      expect(await api.state()).toEqual(state);
    });

    it('refuses a bad link request with a plain 400 and writes nothing', async () => {
      await apiWorld(api.billing);
      const bad = await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'javascript:alert(1)' });
      expect(bad.body.error.message).toBe('Invalid request: returnUrl: must be an http or https URL');
      await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/', role: 'root' });
      await api.refused(400, 'invalid_input', 'POST', '/v1/accounts/acme/billing-sessions', {});
      await api.refused(404, 'account_not_found', 'POST', '/v1/accounts/nobody/billing-sessions', { returnUrl: 'https://app.example/' });
      await api.refused(401, 'unauthorized', 'POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/' }, { Authorization: null });
      expect(await api.sql.query('SELECT 1 FROM billing_sessions')).toEqual([]);
    });

    it('makes the same link in-process, with the library\'s typed error for bad input', async () => {
      await apiWorld(api.billing);
      const made = await createBillingSession(api.billing, 'acme', { returnUrl: 'https://app.example/', role: 'admin' }, { baseUrl: 'https://billing.example/' });
      expect(made.url).toMatch(/^https:\/\/billing\.example\/billing\/open\/[\w-]{43}$/);
      const { browser, open } = await opened(api, new URL(made.url).pathname);
      expect(open.status).toBe(303);
      expect((await browser.page('/billing')).html).toContain('>admin<');
      await expect(createBillingSession(api.billing, 'acme', { returnUrl: 'ftp://x' }, { baseUrl: 'https://billing.example' })).rejects.toSatisfy(
        (e) => e instanceof BillingError && e.code === 'invalid_input' && /http or https/.test(e.message),
      );
      // A base that is not a web address is said so, and nothing is written.
      const rows = await api.sql.query('SELECT id FROM billing_sessions');
      for (const baseUrl of ['billing.example', 'javascript:alert(1)', '']) {
        await expect(createBillingSession(api.billing, 'acme', { returnUrl: 'https://app.example/' }, { baseUrl })).rejects.toSatisfy(
          (e) => e instanceof BillingError && e.code === 'invalid_input' && e.message === 'Invalid baseUrl: must be an http or https URL, where browsers reach the server (https://billing.example.com)',
        );
      }
      expect(await api.sql.query('SELECT id FROM billing_sessions')).toEqual(rows);
    });
  });

  describe(`the billing page's auto-recharge and payments on ${engine.name}`, () => {
    const card: { declining?: DeclineCode } = {};
    const api = useApi(engine, { processors: [fakeProcessor({ decline: () => card.declining })] });

    it('says auto-recharge turned off on a declined card, and shows a payment refunded in part', async () => {
      await apiWorld(api.billing);
      card.declining = undefined;
      const bought = completed(await api.billing.purchase('acme', 'extra-10', { idempotencyKey: 'pack-1' }));
      const payment = (await api.billing.payments('acme')).find((p) => p.reference === bought.paymentRef)!;
      await api.billing.refundPayment('acme', payment.id, { amountCents: 4_00 }, { idempotencyKey: 'refund-1' });
      const { browser } = await opened(api, (await link(api, 'acme')).path);
      await browser.page('/billing');
      // $31 is available: under a threshold of 4,000 credits ($40), a recharge is due at once.
      expect((await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '4000' })).status).toBe(303);
      card.declining = 'card_declined';
      expect(await api.billing.runRecharges()).toMatchObject([{ outcome: 'declined' }]);

      const page = (await browser.page('/billing')).html;
      expect(page).toContain('<strong>Turned off</strong>: the card on file was declined for the recharge of $10.00 (Your card was declined). Check the payment method, then turn it on again.');
      expect(page).toMatch(/<tr data-payment="fake_pay_[^"]+"><td>Mar 10, 2026, 12:00 UTC<\/td><td>1,000 extra credits<div class="refund" data-refund="fake_re_[^"]+">Refunded \$4\.00, Mar 10, 2026, 12:00 UTC<\/div><\/td><td class="num">\$10\.00<small class="muted"> \(\$4\.00 back\)<\/small><\/td><\/tr>/);
      // Set again, it is on again.
      expect((await browser.post('/billing/auto-recharge', { enabled: 'on', pack: 'extra-10', threshold: '4000' })).status).toBe(303);
      expect((await api.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', off: null });
    });
  });
}
