/**
 * The admin panel over HTTP: who gets in (the password, a rate limit on failures, a session
 * cookie naming a stored session; test/admin-sessions.test.ts has the rest), CSRF on every form, every page rendering, and bad input answered with the
 * library's message beside the form, never a 500.
 */
import type { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, fundedAccounts } from './support/spend.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { safeNext } from '../src/admin/pages/login.tsx';
import { bpsField, centsField, grantField, microsField, wholeField } from '../src/admin/form.ts';
import { derive, marginSentence, rateAtMargin, tokensFor } from '../src/admin/derive.ts';
import { ownerMessage } from '../src/admin/labels.ts';
import { usd } from '../src/admin/format.ts';
import { BillingError, type Micros } from '../src/index.ts';

const PAGES = ['/admin/pricing', '/admin/settings', '/admin/plans', '/admin/packs', '/admin/prices', '/admin/accounts', '/admin/analytics'];

describe('the admin panel’s arithmetic', () => {
  it('reads typed amounts as the decimals they are, and names the field when they are not', () => {
    const read = (f: typeof centsField, raw: string) => f({ x: raw }, 'x', 'Price');
    expect(read(centsField, '20')).toBe(2000);
    expect(read(centsField, '$9.99')).toBe(999);
    expect(read(centsField, ' 1,000.5 ')).toBe(100_050);
    expect(read(centsField, '')).toBeUndefined();
    expect(read(microsField, '0.000125')).toBe(125);
    expect(read(microsField, '0.1')).toBe(100_000);
    expect(read(bpsField, '62.5%')).toBe(6250);
    expect(read(wholeField, '2,000,000')).toBe(2_000_000);
    for (const [f, raw] of [[centsField, '9.999'], [centsField, '-5'], [centsField, '1e3'], [centsField, '1,00'], [microsField, '0.0000001'], [wholeField, '1.5'], [centsField, '9'.repeat(20)]] as const) {
      expect(() => read(f, raw), raw).toThrow(BillingError);
    }
    expect(() => read(centsField, 'ten')).toThrow('Price: "ten" is not an amount of dollars such as 20 or 9.99');
    // An amount merely too large says so, and the most it can be.
    expect(() => read(centsField, '100,000,000.01')).toThrow('Price: $100,000,000.01 is more than $100,000,000.00, the most it can be');
    expect(() => read(centsField, '9'.repeat(20))).toThrow(`Price: "${'9'.repeat(20)}" is more than $100,000,000.00, the most it can be`);
    expect(() => read(microsField, '$9007199255')).toThrow('Price: "$9007199255" is more than $9,007,199,254.74 (about $9 billion), the most it can be');
    // A grant's most is the library's, however large the amount typed.
    expect(() => read(grantField, '9'.repeat(20))).toThrow(`Price: "${'9'.repeat(20)}" is more than $100,000,000.00, the most it can be`);
    expect(() => read(grantField, '100,000,000.000001')).toThrow('Price: $100,000,000.000001 is more than $100,000,000.00, the most it can be');
    expect(read(grantField, '100,000,000')).toBe(100_000_000_000_000);
    expect(() => read(bpsField, '150')).toThrow('Price: 150% is more than 100%, the most it can be');
    expect(read(centsField, '100,000,000')).toBe(100_000_000_00);
  });

  it('tells the library\'s field errors by the forms\' labels, and any other error as the library says it', () => {
    const error = (message: string, issues?: string[]) => new BillingError('invalid_input', message, issues ? { issues } : undefined);
    expect(ownerMessage(error('Invalid plan: priceCents: x; limits.0.amount: must not be negative', ['priceCents: x', 'limits.0.amount: must not be negative']))).toBe(
      'Price: x. Limits: must not be negative.',
    );
    expect(ownerMessage(error('Invalid settings: fallbackRates.cacheRead: must be given.', ['fallbackRates.cacheRead: must be given.']))).toBe('Cache read ($ per 1M tokens): must be given.');
    // A field the panel has no label for: the library's own sentence, whole.
    expect(ownerMessage(error('Invalid plan: priceCents: x; processorPrices.stripe: y', ['priceCents: x', 'processorPrices.stripe: y']))).toBe('Invalid plan: priceCents: x; processorPrices.stripe: y');
    expect(ownerMessage(new BillingError('refund_exceeds_charge', 'Usage event 7 has $1.50 left to refund; asked for $5.00'))).toBe('Usage event 7 has $1.50 left to refund; asked for $5.00');
  });

  it('derives the provider cost a value buys, the tokens that buys, and the margin’s sentence', () => {
    expect(marginSentence(5000)).toBe('at 50% margin people pay $20.00 for $10.00 of provider cost');
    expect(marginSentence(6000)).toBe('at 60% margin people pay $25.00 for $10.00 of provider cost');
    expect(marginSentence(0)).toBe('at 0% margin people pay $10.00 for $10.00 of provider cost');
    expect(marginSentence(3000)).toBe('at 30% margin people pay $14.29 for $10.00 of provider cost'); // to the cent from a dollar up
    // What a customer pays per million tokens: rate ÷ (1 − margin), rounded up to $0.0001, "≈" when it was.
    expect(rateAtMargin('0.15', 5000)).toBe('$0.30');
    expect(rateAtMargin('0.075', 5000)).toBe('$0.15');
    expect(rateAtMargin('1.25', 0)).toBe('$1.25');
    expect(rateAtMargin('2.5', 3000)).toBe('≈ $3.5715');
    expect(rateAtMargin('0.00001', 5000)).toBe('≈ $0.0001');
    expect(rateAtMargin('10', 9999)).toBe('$100,000.00');
    expect(rateAtMargin({ base: '1', tiers: [{ start: 200_000, price: '2' }] }, 5000)).toBe('$2.00+');
    const price = { source: 'override', provider: 'test', model: 'test-model', rates: { input: '1', output: '2' } } as const;
    // $1 of cost: calls of 3,000 in ($0.003) and 1,000 out ($0.002) cost $0.005 per 4,000 tokens.
    expect(tokensFor(1_000_000, price)).toBe(800_000);
    expect(tokensFor(1_000_000, { ...price, rates: { input: '0', output: '0' } })).toBeUndefined();
    expect(derive(20_000_000 as Micros, 6000, price)).toEqual({ valueMicros: 20_000_000, costMicros: 8_000_000, tokens: 6_400_000 });
    expect(derive(20_000_000 as Micros, 5000)).toEqual({ valueMicros: 20_000_000, costMicros: 10_000_000 });
  });
});

describe('the admin panel', () => {
  const t = useBilling(ENGINES[0]!);
  let app: Hono;
  let admin: AdminClient;

  beforeEach(async () => {
    await t.billing.admin.applyPreset('subscription-plus-packs');
    app = await adminApp(t.billing);
    admin = new AdminClient(app);
  });

  it('shows a plan\'s and a pack\'s provider cost to the cent from a dollar up, and to three significant digits below', async () => {
    await t.billing.admin.createPlan({ slug: 'third', name: 'Third', priceCents: 40_00, includedMicros: 33_333_333 });
    await t.billing.admin.createPack({ slug: 'dime', name: 'Dime', priceCents: 1_00, valueMicros: 1_234_567 });
    await admin.login();
    const cost = (html: string, row: string) => new RegExp(`data-${row}[^]*?data-figure="cost">([^<]+)<`).exec(html)?.[1];
    expect(cost((await admin.page('/admin/plans')).html, 'plan="third"')).toBe('$16.67'); // $16.6666665 of cost at 50%
    expect(cost((await admin.page('/admin/packs')).html, 'pack="dime"')).toBe('$0.617'); // $0.617283 of cost at 50%
  });

  it('needs a session for every page, and logs in with the password to an HttpOnly, SameSite cookie naming a stored session', async () => {
    expect((await app.request('/')).headers.get('Location')).toBe('/admin');
    expect((await app.request('/admin')).headers.get('Location')).toBe('/admin/login?next=%2Fadmin');
    for (const path of PAGES) {
      const res = await app.request(path);
      expect(res.status, path).toBe(302);
      expect(res.headers.get('Location')).toBe(`/admin/login?next=${encodeURIComponent(path)}`);
    }
    const htmx = await app.request('/admin/plans', { headers: { 'HX-Request': 'true' } });
    expect(htmx.status).toBe(401);
    expect(htmx.headers.get('HX-Redirect')).toBe('/admin/login');
    expect((await app.request('/admin/plans', { method: 'POST' })).status).toBe(401);
    // Assets are public.
    const htmxJs = await app.request('/admin/assets/htmx.min.js');
    expect(htmxJs.status).toBe(200);
    expect(htmxJs.headers.get('Content-Type')).toMatch(/javascript/);
    for (const asset of ['uPlot.min.js', 'uPlot.min.css', 'admin.css', 'admin.js']) expect((await app.request(`/admin/assets/${asset}`)).status, asset).toBe(200);

    const wrong = await admin.login('not the password');
    expect(wrong.status).toBe(401);
    expect(text(wrong.html)).toContain('Wrong password.');
    expect(admin.cookies.has('tollgate_admin')).toBe(false);

    await admin.page('/admin/login?next=%2Fadmin%2Faccounts');
    const right = await admin.post('/admin/login', { password: 'correct horse battery staple', next: '/admin/accounts' });
    expect(right.status).toBe(303);
    expect(right.res.headers.get('Location')).toBe('/admin/accounts');
    const cookie = right.res.headers.getSetCookie().find((c) => c.startsWith('tollgate_admin='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/admin/);
    expect(cookie).toMatch(/Max-Age=43200/);

    for (const path of PAGES) {
      const page = await admin.page(path);
      expect(page.status, path).toBe(200);
      expect(page.res.headers.get('Content-Security-Policy')).toContain("script-src 'self'");
      expect(page.res.headers.get('Cache-Control')).toBe('no-store');
    }

    // A cookie naming no stored session is no session, nor is one of another form.
    const token = admin.cookies.get('tollgate_admin')!;
    expect(token).toMatch(/^[\w-]{43}$/);
    for (const value of [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'forged', `${token}.${token}`]) {
      const forged = new AdminClient(app);
      forged.cookies.set('tollgate_admin', value);
      expect((await forged.request('/admin/plans')).status, value).toBe(302);
    }
    expect(await t.sql.query('SELECT count(*)::int AS n FROM admin_sessions')).toEqual([{ n: 1 }]);

    const out = await admin.post('/admin/logout', {});
    expect(out.status).toBe(303);
    expect(admin.cookies.has('tollgate_admin')).toBe(false);
    expect((await admin.request('/admin/plans')).status).toBe(302);
    expect(await t.sql.query('SELECT count(*)::int AS n FROM admin_sessions')).toEqual([{ n: 0 }]);
  });

  it('sends a login only to pages of the panel, and never with a control character', () => {
    expect(safeNext('/admin/accounts?q=acme')).toBe('/admin/accounts?q=acme');
    expect(safeNext('/admin')).toBe('/admin');
    expect(safeNext('/admin/plans?q=a b')).toBe('/admin/plans?q=a%20b');
    for (const bad of ['https://evil.example/', '//evil.example', '/\\evil.example', '/admin\\@evil', '/v1/accounts', '/administrator', '/admin/../v1', '/admin/%2e%2e/v1', '/admin/%2E%2E/%2e%2e/v1',
      '/admin/plans\r\nSet-Cookie: a=b', '/admin/plans\n', '/admin/plans?\u0000', '/admin/plans?\u007f', '/admin/plans?x=€', '/admin/pläns', undefined, '']) {
      expect(safeNext(bad), JSON.stringify(bad)).toBe('/admin/pricing');
    }
  });

  it('refuses a login form without its token, and rate limits failed logins by address', async () => {
    await admin.page('/admin/login');
    expect((await admin.post('/admin/login', { password: 'correct horse battery staple' }, { csrf: false })).status).toBe(403);
    for (let i = 0; i < 5; i++) expect((await admin.login('wrong')).status).toBe(401);
    const limited = await admin.login();
    expect(limited.status).toBe(429);
    expect(Number(limited.res.headers.get('Retry-After'))).toBeGreaterThan(800);
    expect(text(limited.html)).toContain('Too many failed attempts: try again in 15 minutes.');
    expect(admin.cookies.has('tollgate_admin')).toBe(false);
  });

  it('refuses every form posted without the session’s CSRF token (403)', async () => {
    await admin.login();
    await admin.page('/admin/settings');
    const before = await t.billing.admin.getSettings();
    for (const [path, fields] of [
      ['/admin/settings', { margin: '10' }],
      ['/admin/pricing', { mode: 'tiers' }],
      ['/admin/plans', { slug: 'x', name: 'X', price: '1' }],
      ['/admin/logout', {}],
    ] as const) {
      expect((await admin.post(path, fields, { csrf: false })).status, path).toBe(403);
      expect((await admin.post(path, { ...fields, _csrf: 'forged' }, { csrf: false })).status, path).toBe(403);
    }
    expect(await t.billing.admin.getSettings()).toEqual(before);
    // htmx sends it as a header.
    const live = await admin.post('/admin/settings/preview', { margin: '60', creditValue: '0.01', displayUnit: 'usd' }, { csrf: false, headers: { 'X-CSRF-Token': admin.csrf } });
    expect(live.status).toBe(200);
    expect(text(live.html)).toContain('At 60% margin people pay $25.00 for $10.00 of provider cost.');
    expect((await admin.post('/admin/settings', { margin: '60', displayUnit: 'usd', creditValue: '0.01', defaultPlan: 'free', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '900' })).status).toBe(303);
    expect((await t.billing.admin.getSettings()).marginBps).toBe(6000);
    // The grace of a failed renewal: shown, and set from the form; more than 90 days is refused with why.
    expect(text((await admin.page('/admin/settings')).html)).toContain('Failed renewals');
    const fields = { margin: '60', displayUnit: 'usd', creditValue: '0.01', defaultPlan: 'free', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '900' };
    expect((await admin.post('/admin/settings', { ...fields, pastDueGrace: '3' })).status).toBe(303);
    expect((await t.billing.admin.getSettings()).pastDueGraceDays).toBe(3);
    expect(text((await admin.post('/admin/settings', { ...fields, pastDueGrace: '120' })).html)).toContain('must be at most 90 days');
  });

  it('shows bad input’s message beside the form, keeps what was typed, and never answers 500', async () => {
    // A body sent as a form that is none: said so, with nothing changed; before a login too.
    const garbled = { method: 'POST', body: 'not a multipart body', headers: { 'Content-Type': 'multipart/form-data; boundary=zzz' } };
    const login = await admin.request('/admin/login', garbled);
    expect(login.status).toBe(400);
    expect(text(await login.text())).toContain('This form could not be read: reload the page and try again.');
    await admin.login();
    await admin.page('/admin/settings');
    const settingsBefore = await t.billing.admin.getSettings();
    const settings = await admin.request('/admin/settings', { ...garbled, headers: { ...garbled.headers, 'X-CSRF-Token': admin.csrf } });
    expect(settings.status).toBe(400);
    expect(await settings.text()).toBe('This form could not be read: reload the page and try again.');
    expect(await t.billing.admin.getSettings()).toEqual(settingsBefore);
    await admin.page('/admin/plans');
    const taken = await admin.post('/admin/plans', { slug: 'plus', name: 'Another', price: '5' });
    expect(taken.status).toBe(422);
    expect(text(taken.html)).toContain('A plan "plus" exists already: update it or pick another slug');
    expect(taken.html).toContain('value="Another"');
    const surcharge = await admin.post('/admin/plans', { slug: 'odd', name: 'Odd', price: '5', surcharge: '9' });
    expect(text(surcharge.html)).toContain('Surcharge: $9.00 is more than the price, $5.00: the surcharge is the part of the price that is not usage, so it must not exceed the price.');
    const typo = await admin.post('/admin/plans', { slug: 'odd', name: 'Odd', price: 'ten' });
    expect(typo.status).toBe(422);
    expect(text(typo.html)).toContain('Price: "ten" is not an amount of dollars such as 20 or 9.99');
    const badSlug = await admin.post('/admin/plans', { slug: 'Odd Plan', name: 'Odd', price: '5' });
    expect(text(badSlug.html)).toContain('Slug: must be 1–63 lowercase letters');

    await admin.page('/admin/settings');
    const margin = await admin.post('/admin/settings', { margin: '100', displayUnit: 'usd', creditValue: '0.01', defaultPlan: 'free', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '900' });
    expect(margin.status).toBe(422);
    expect(text(margin.html)).toContain('Margin: 100% is too high: a margin must be below 100% (99.99% at most), for at 100% no price covers the cost.');
    const paidDefault = await admin.post('/admin/settings', { margin: '50', displayUnit: 'usd', creditValue: '0.01', defaultPlan: 'plus', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '900' });
    expect(text(paidDefault.html)).toContain('Default plan: "plus" costs $20.00 a month, and accounts are on the default plan without paying: choose a free plan.');
    const fallback = await admin.post('/admin/settings', { margin: '50', displayUnit: 'usd', creditValue: '0.01', defaultPlan: 'free', unknownModelPolicy: 'fallback', minHold: '0.01', holdTtl: '900' });
    expect(text(fallback.html)).toContain('Fallback price: must be given to charge models the price book does not know the fallback price: at least its input and output rates ($ per 1M tokens).');

    await admin.page('/admin/prices');
    const rate = await admin.post('/admin/prices', { model: 'gpt-4o-mini', effectiveFrom: '2026-03-01', input: '-1', output: '2' });
    expect(rate.status).toBe(422);
    expect(text(rate.html)).toContain('Input ($ per 1M tokens): must not be negative, got "-1".');
    const when = await admin.post('/admin/prices', { model: 'gpt-4o-mini', effectiveFrom: 'soon', input: '1', output: '2' });
    expect(text(when.html)).toContain('From: must be a valid date');

    await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
    await admin.page('/admin/accounts/acme');
    const credit = await admin.post('/admin/accounts/acme/credit', { source: 'bonus', amount: '0', reference: 'x' });
    expect(credit.status).toBe(422);
    expect(text(credit.html)).toContain('Amount: must be more than $0.00.');
    const refund = await admin.post('/admin/accounts/acme/refund', { event: '999' });
    expect(text(refund.html)).toContain('No usage event 999');
    const archived = await admin.post('/admin/accounts/acme/plan', { plan: 'nope' });
    expect(text(archived.html)).toContain('No plan "nope"');

    const unknown = await admin.page('/admin/accounts/nobody');
    expect(unknown.status).toBe(400);
    expect(text(unknown.html)).toContain('No account "nobody"');
    expect((await admin.page('/admin/plans/nope')).status).toBe(400);
    expect((await admin.page('/admin/nothing-here')).status).toBe(404);
    // A route of the panel with nothing at it (a stale link) is the panel's page too, not the API's JSON.
    for (const stale of ['/admin/accounts/acme/payments/999/refund', '/admin/pricing/bogus/apply']) {
      const gone = await admin.page(stale);
      expect([gone.status, text(gone.html)]).toEqual([404, expect.stringContaining(`There is no page at ${stale}.`)]);
    }
    const range = await admin.page('/admin/analytics?from=2026-03-10&to=2026-03-01');
    expect(range.status).toBe(422);
    expect(text(range.html)).toContain('from must be before to');
  });

  it('refuses a credit, an allowance or a pack’s value above $100 million, so that the account’s page still adds up what it holds', async () => {
    await t.billing.upsertAccount({ id: 'acme', kind: 'personal' });
    await admin.login();
    // Two credits of $5 billion each: their sum is past 2^53 micro-dollars, which no read parses.
    for (const reference of ['a', 'b']) {
      await admin.page('/admin/accounts/acme');
      const credit = await admin.post('/admin/accounts/acme/credit', { source: 'bonus', amount: '5,000,000,000', reference });
      expect(credit.status).toBe(422);
      expect(text(credit.html)).toContain('Amount: $5,000,000,000.00 is more than $100,000,000.00, the most it can be');
    }
    expect((await admin.page('/admin/accounts/acme')).status).toBe(200);
    const most = await admin.post('/admin/accounts/acme/credit', { source: 'bonus', amount: '100,000,000', reference: 'c' });
    expect(most.status).toBe(303);

    await admin.page('/admin/plans');
    const plan = await admin.post('/admin/plans', { slug: 'huge', name: 'Huge', price: '10', included: '9007199254.740991' });
    expect(plan.status).toBe(422);
    expect(text(plan.html)).toContain('Included usage: $9,007,199,254.740991 is more than $100,000,000.00, the most it can be');
    await admin.page('/admin/packs');
    const pack = await admin.post('/admin/packs', { slug: 'huge', name: 'Huge', price: '10', value: '5000000000' });
    expect(pack.status).toBe(422);
    expect(text(pack.html)).toContain('Value: $5,000,000,000.00 is more than $100,000,000.00, the most it can be');
  });

  it('says an account in debt owes its debt, as its tile and the billing page say, not its debt and what calls in progress hold', async () => {
    await fundedAccounts(t.billing, ['acme'], 1_000_000);
    const auth = await t.billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 });
    expect(auth.ok).toBe(true);
    await t.billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 1_000_000, outputTokens: 0 } }, { idempotencyKey: 'big' });
    const { debtMicros, heldMicros } = await t.billing.balance('acme');
    expect(debtMicros).toBeGreaterThan(0);
    expect(heldMicros).toBeGreaterThan(0);
    await admin.login();
    const page = text((await admin.page('/admin/accounts/acme')).html);
    expect(page).toContain(`(the account owes ${usd(debtMicros)}: nothing is available)`);
    expect(page).not.toContain(`owes ${usd(debtMicros + heldMicros)}`);
  });

  it('caps the member a typed user id names, without the spaces around it, and refuses one of spaces only', async () => {
    await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
    await admin.login();
    await admin.page('/admin/accounts/acme');
    expect((await admin.post('/admin/accounts/acme/members', { userId: ' u_7 ', name: 'Ann', dayUsd: '1' })).status).toBe(303);
    expect((await t.billing.balance('acme')).members.map((m) => m.userId)).toEqual(['u_7']);
    await admin.page('/admin/accounts/acme');
    const blank = await admin.post('/admin/accounts/acme/members', { userId: '   ', dayUsd: '1' });
    expect(blank.status).toBe(422);
    expect(text(blank.html)).toContain('Member (user id): must not be empty.');
    expect((await t.billing.balance('acme')).members.map((m) => m.userId)).toEqual(['u_7']);
  });

  it('saves a subscribed plan’s new name at once, its limits being the ones it had', async () => {
    await t.billing.admin.createPlan({
      slug: 'capped', name: 'Capped', priceCents: 10_00, limits: [{ window: 'day', unit: 'usd', amount: 1_500_000 }, { window: 'month', unit: 'tokens', amount: 2_000_000 }],
    });
    await t.billing.upsertAccount({ id: 'acme', kind: 'personal' });
    await t.billing.subscribe('acme', 'capped');
    await admin.login();
    await admin.page('/admin/plans/capped');
    const fields = { name: 'Capped plan', price: '10', dayUsd: '1.5', monthTokens: '2,000,000', overage: 'block', status: 'active', sort: '0', public: 'on' };
    const saved = await admin.post('/admin/plans/capped', fields);
    // Not a page asking to confirm a new version whose limits are "$1.50 a day, … → $1.50 a day, …".
    expect(text(saved.html)).not.toContain('→');
    expect(saved.status).toBe(303);
    expect((await t.billing.admin.getPlan('capped'))?.name).toBe('Capped plan');
    // A limit changed is a change.
    await admin.page('/admin/plans/capped');
    const changed = await admin.post('/admin/plans/capped', { ...fields, dayUsd: '2' });
    expect(changed.status).toBe(200);
    expect(text(changed.html)).toContain('limits 150 credits ($1.50) a day, 2M tokens a month → 200 credits ($2.00) a day, 2M tokens a month');
  });

  it('says how the money view rounds: to the cent from a dollar up, to three significant digits below', async () => {
    await admin.login();
    const money = text((await admin.page('/admin/analytics')).html);
    expect(money).toContain('amounts here are to the cent from a dollar up and to three significant digits below ($0.0315), and exact in the CSV.');
  });

  it('creates, edits and archives plans and packs, with their derived figures', async () => {
    await admin.login();
    await admin.page('/admin/plans');
    const figures = await admin.post('/admin/derive/plan', { price: '20', surcharge: '5', model: 'test-model' });
    expect(text(figures.html)).toMatch(/Included value a month 1,500 credits \(\$15\.00\) Provider cost it buys at 50% margin \$7\.50 .*no price for “test-model”/);
    await addTestModel(t.billing);
    // $7.50 of cost, calls of 3,000 in ($0.003) and 1,000 out ($0.002): 1,500 calls of 4,000 tokens.
    expect(text((await admin.post('/admin/derive/plan', { price: '20', surcharge: '5', model: 'test-model' })).html)).toContain('≈ 6M tokens of test-model');
    expect(text((await admin.post('/admin/derive/plan', { price: 'x' })).html)).toContain('Price: "x" is not an amount');

    const created = await admin.post('/admin/plans', {
      slug: 'team', name: 'Team', price: '49', surcharge: '9', dayUsd: '5', monthTokens: '2,000,000', overage: 'credits', models: 'gpt-4o-mini\nclaude-*', public: 'on', sort: '4',
    });
    expect(created.status).toBe(303);
    expect(await t.billing.admin.getPlan('team')).toMatchObject({
      priceCents: 4900, surchargeCents: 900, includedMicrosOverride: null, overage: 'credits', models: ['gpt-4o-mini', 'claude-*'], public: true, sort: 4,
      limits: [{ window: 'day', unit: 'usd', amount: 5_000_000 }, { window: 'month', unit: 'tokens', amount: 2_000_000 }],
    });
    const list = text((await admin.page('/admin/plans')).html);
    expect(list).toContain('Plan “Team” created.');
    expect(list).toMatch(/Team team active \$49\.00 4,000 credits \(\$40\.00\) \$20\.00 76\.19M 500 credits \(\$5\.00\) a day 2M tokens a month spends packs gpt-4o-mini, claude-\*/);
    const edit = await admin.page('/admin/plans/team');
    expect(edit.html).toContain('value="49"');
    expect((await admin.post('/admin/plans/team', { name: 'Team', price: '59', surcharge: '9', included: '45', overage: 'block', status: 'active' })).status).toBe(303);
    expect(await t.billing.admin.getPlan('team')).toMatchObject({ priceCents: 5900, includedMicrosOverride: 45_000_000, limits: [], models: [], public: false });
    expect((await admin.post('/admin/plans/team/status', { status: 'archived' })).status).toBe(303);
    expect((await t.billing.admin.getPlan('team')).status).toBe('archived');

    await admin.page('/admin/packs');
    const pack = await admin.post('/admin/packs', { slug: 'big', name: 'Big pack', price: '50', value: '60', expires: '365', requiresPlan: 'on', public: 'on' });
    expect(pack.status).toBe(303);
    expect(await t.billing.admin.getPack('big')).toMatchObject({ priceCents: 5000, valueMicrosOverride: 60_000_000, expiresAfterDays: 365, requiresPlan: true });
    expect(text((await admin.post('/admin/derive/pack', { price: '50', value: '60' })).html)).toMatch(/Value it grants 6,000 credits \(\$60\.00\) Bonus value 1,000 credits \(\$10\.00\) \(20% more than paid\)/);
    expect((await admin.post('/admin/packs/big/status', { status: 'archived' })).status).toBe(303);
    expect((await t.billing.admin.getPack('big')).status).toBe('archived');
  });

  it('applies a pricing mode, sets an override, grants credit, refunds and changes a plan, and exports analytics', async () => {
    const { billing } = t;
    await admin.login();
    const pricing = text((await admin.page('/admin/pricing')).html);
    for (const sentence of ['“$20/month for usage”', '“$10 for 1,000 credits”', '“$20/month plus $10 per 1,000 extra credits”', '“$20 / $100 / $200 tiers”']) expect(pricing).toContain(sentence);
    expect((await admin.post('/admin/pricing', { mode: 'tiers' })).status).toBe(303);
    expect((await billing.admin.getSettings()).pricingMode).toBe('tiers');
    expect(text((await admin.page('/admin/pricing')).html)).toContain('Applied “$20 / $100 / $200 tiers”.');

    expect((await admin.post('/admin/prices', { model: 'house-model', provider: 'acme', effectiveFrom: '2026-01-01', input: '3', output: '9' })).status).toBe(303);
    const prices = text((await admin.page('/admin/prices?q=house')).html);
    expect(prices).toContain('1 model matching “house”');
    // The provider's rate, and what a customer pays for it at the 50% margin.
    expect(prices).toMatch(/house-model acme \$3\.00 pays \$6\.00 \$9\.00 pays \$18\.00 .*override from 2026-01-01/);

    await billing.upsertAccount({ id: 'acme/eu', kind: 'team', name: 'Acme EU' });
    const path = `/admin/accounts/${encodeURIComponent('acme/eu')}`;
    await admin.page(path);
    expect((await admin.post(`${path}/credit`, { source: 'bonus', amount: '12.5', reference: 'welcome' })).status).toBe(303);
    const event = await billing.record('acme/eu', { model: 'gpt-4o-mini', usage: { inputTokens: 100_000, outputTokens: 20_000 } }, { idempotencyKey: 'k1' });
    const page = text((await admin.page(path)).html);
    expect(page).toContain('Bonus of $12.50 granted.');
    expect(page).toMatch(/Available \$12\.\d+/);
    // The refund form carries a key of its own: submitted twice (a double click, a resubmit), it refunds once.
    const refundKey = /action="[^"]*\/refund"[\s\S]*?name="idempotencyKey" value="([^"]+)"/.exec((await admin.page(path)).html)?.[1];
    expect(refundKey).toMatch(/^admin_/);
    for (let i = 0; i < 2; i++) {
      expect((await admin.post(`${path}/refund`, { event: String(event.usageEventId), amount: '0.01', idempotencyKey: refundKey! })).status).toBe(303);
    }
    expect((await billing.admin.accountActivity('acme/eu')).usageEvents[0]!.refundedMicros).toBe(10_000);
    expect((await admin.post(`${path}/plan`, { plan: 'pro' })).status).toBe(303);
    expect((await billing.balance('acme/eu')).plan.slug).toBe('pro');
    expect(text((await admin.page('/admin/accounts?q=eu')).html)).toMatch(/acme\/eu Acme EU Pro/);

    const csv = await admin.request('/admin/analytics.csv?from=2026-03-01&to=2026-03-31&by=model');
    expect(csv.headers.get('Content-Type')).toContain('text/csv');
    expect(csv.headers.get('Content-Disposition')).toContain('tollgate-money-by-model-2026-03-01-to-2026-03-31.csv');
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('model,usage_calls,input_tokens,output_tokens,usage_charged_usd,usage_refunded_usd,usage_value_usd,provider_cost_usd,margin_usd');
    expect(lines[1]).toBe('gpt-4o-mini,1,100000,20000,0.054000,0.010000,0.044000,0.027000,0.017000');
    const daily = (await (await admin.request('/admin/analytics.csv?from=2026-03-09&to=2026-03-10')).text()).trim().split('\n');
    expect(daily.slice(1).map((l) => l.split(',')[0])).toEqual(['2026-03-09', '2026-03-10']);
  });

  it('with only the fake processor: the Payments page names what the real ones need, and an account page offers no move', async () => {
    await admin.login();
    const payments = text((await admin.page('/admin/payments')).html);
    expect(payments).toContain('Not configured here: stripe (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, then restart); paddle (set PADDLE_API_KEY and PADDLE_WEBHOOK_SECRET');
    expect(payments).toContain('Never synced (its checkout needs no price).');
    expect((await admin.post('/admin/payments/sync', { processor: 'fake' })).status).toBe(303);
    expect(text((await admin.page('/admin/payments')).html)).toMatch(/Catalog synced to fake: 2 created[\s\S]*Catalog at fake[\s\S]*fake_price_plan_plus_2000_per_month/);
    const refused = await admin.post('/admin/payments/sync', { processor: 'stripe' });
    expect(refused.status).toBe(422);
    expect(text(refused.html)).toContain('No processor "stripe" is configured here');
    // Forms without the session's token change nothing.
    expect((await admin.post('/admin/payments/sync', { processor: 'fake' }, { csrf: false })).status).toBe(403);

    await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
    expect(text((await admin.page('/admin/accounts/acme')).html)).toContain('No processor but the fake one is configured here');
    expect((await admin.post('/admin/accounts/acme/processor', { processor: 'stripe' }, { csrf: false })).status).toBe(403);
    const moved = await admin.post('/admin/accounts/acme/processor', { processor: 'stripe' });
    expect(moved.status).toBe(422);
    expect(text(moved.html)).toContain('No processor "stripe" is configured here');
    expect((await t.billing.getAccount('acme')).processor).toBe('fake');
  });
});
