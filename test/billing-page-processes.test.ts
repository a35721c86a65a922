/**
 * The billing page through the real server: two worker processes on one PostgreSQL, Stripe
 * through its SDK against the local fake of its API. A link fired at by many requests at once,
 * which the two processes share, opens once; the session it opens is known to both. Through
 * the page an owner subscribes and buys a pack at Stripe: each form is a redirect to Stripe's
 * checkout page, and what was paid shows once Stripe's webhook says so; the portal button goes
 * to Stripe's portal. The server has a public address (PUBLIC_URL, as behind a proxy): links and
 * Stripe's returns are on it, and the cookie is Secure. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';
import { StripeFake } from './support/stripe-fake.ts';

/** Where browsers reach the server: what links and a processor's returns are made on. */
const PUBLIC_URL = 'https://billing.example.com';

describe.skipIf(!POSTGRES_URL)(`the billing page on two server processes with Stripe${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: { sql: Sql; url?: string; drop(): Promise<void> };
  let stripe: StripeFake;
  let server: ServerProcess;
  let base: string;

  /** A request as a browser sends it with `cookie`, not following redirects; each on its own connection, so the two processes share them. */
  const get = (path: string, cookie = '') => fetch(`${base}${path}`, { redirect: 'manual', headers: { cookie, connection: 'close' } });
  async function post(path: string, cookie: string, fields: Record<string, string>) {
    return fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, connection: 'close', 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  }
  const cookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('tollgate_billing_'))!.split(';')[0]!;
  const lastSession = () => [...stripe.sessions.keys()].at(-1)!;
  const balance = async () => (await server.call('GET', '/v1/accounts/acme/balance')).body;

  async function link(role = 'owner'): Promise<string> {
    const made = await server.call('POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/', role });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    // On the public address (a proxy in front, say), though the API was called on the processes' own.
    expect(made.body.url.startsWith(`${PUBLIC_URL}/billing/open/`)).toBe(true);
    return new URL(made.body.url).pathname;
  }

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    stripe = await StripeFake.start();
    server = await ServerProcess.start({
      DATABASE_URL: db.url, WEB_CONCURRENCY: '2', PUBLIC_URL, TOLLGATE_PROCESSOR: 'stripe',
      STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url,
    });
    base = `http://127.0.0.1:${server.port}`;
    stripe.webhookUrl = `${base}/webhooks/stripe`;
    await server.ready(2);
    await server.call('PATCH', '/v1/admin/plans/plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
    await server.call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
    expect((await server.call('PUT', '/v1/accounts/acme', { kind: 'team', name: 'Acme' })).body.processor).toBe('stripe');
  }, 60_000);

  afterAll(async () => {
    server?.kill();
    await server?.exited;
    await stripe?.close();
    await db?.drop();
  });

  it('opens a link once though twelve requests for it reach both processes at once, and either process knows the session', async () => {
    const path = await link();
    const tries = await Promise.all(Array.from({ length: 12 }, () => get(path)));
    const statuses = tries.map((r) => r.status);
    expect(statuses.filter((s) => s === 303)).toHaveLength(1);
    expect(statuses.filter((s) => s === 410)).toHaveLength(11);
    const cookie = cookieOf(tries.find((r) => r.status === 303)!);
    const pages = await Promise.all(Array.from({ length: 8 }, () => get('/billing', cookie)));
    expect(pages.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(await pages[0]!.text()).toContain('Acme');
  }, 60_000);

  it('sends an owner to Stripe to subscribe and to buy a pack, and shows what was paid once Stripe says so', async () => {
    const opened = await get(await link());
    const cookie = cookieOf(opened);
    expect(opened.headers.getSetCookie().find((c) => c.startsWith('tollgate_billing_'))).toMatch(/; Secure/);
    const at = opened.headers.get('location')!;
    expect(at).toMatch(/^\/billing\?s=[\w-]{16}$/);
    const page = await (await get(at, cookie)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;

    const subscribe = await post('/billing/plan', cookie, { _csrf: csrf, plan: 'plus', idempotencyKey: 'page-sub-1' });
    expect(subscribe.status).toBe(303);
    expect(subscribe.headers.get('location')).toBe(`${stripe.url}/c/pay/${lastSession()}`);
    expect(stripe.sessions.get(lastSession())).toMatchObject({ success_url: `${PUBLIC_URL}${at}&checkout=paid`, cancel_url: `${PUBLIC_URL}${at}&checkout=left` });
    expect((await balance()).plan.slug).toBe('free');
    await stripe.completeCheckout(lastSession());
    expect((await balance()).plan.slug).toBe('plus');
    const back = await (await get(`${at}&checkout=paid`, cookie)).text();
    expect(back).toContain('Back from checkout');
    expect(back).toContain(`<a href="${at}">Reload</a> to see it.`); // the page, without the note
    expect(back).toMatch(/<span class="tag">Your plan<\/span><article class="card price-card" data-plan="plus">/);
    // The payment is named as bought: the plan's name, not its slug.
    expect(back).toMatch(/data-payment="[^"]+"><td>[^<]+<\/td><td>Plus plan, a month<\/td>/);

    const before = (await balance()).availableMicros as number;
    const buy = await post('/billing/purchase', cookie, { _csrf: csrf, pack: 'extra-10', idempotencyKey: 'page-pack-1' });
    expect(buy.status).toBe(303);
    expect(buy.headers.get('location')).toBe(`${stripe.url}/c/pay/${lastSession()}`);
    expect((await balance()).availableMicros).toBe(before);
    await stripe.completeCheckout(lastSession());
    expect((await balance()).availableMicros).toBe(before + 10_000_000);
    expect(await (await get('/billing', cookie)).text()).toMatch(/data-payment="pi_[^"]+"><td>[^<]+<\/td><td>1,000 extra credits/);

    const portal = await post('/billing/portal', cookie, { _csrf: csrf });
    expect(portal.status).toBe(303);
    expect(portal.headers.get('location')).toMatch(new RegExp(`^${stripe.url}/p/session/`));
  }, 60_000);
});
