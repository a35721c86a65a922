/**
 * The admin panel in a real browser (Debian's chromium driven by playwright-core), against the
 * real server app listening on a port: log in, apply a pricing mode, change the margin and see
 * the derived figures follow, create a pack, grant an account a bonus, and see analytics drawn
 * from real usage. Screenshots of each page go to test-artifacts/. Skipped, with a note, when
 * /usr/bin/chromium is not installed.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing, type ProcessorEvent } from '../src/index.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, DAY, HOUR, TestClock } from './support/harness.ts';

noteMissingChromium("the admin panel's browser tests are");

/**
 * Ten days of usage before the clock's: three accounts (one on the paid plan), three cheap
 * models, more on some days than others, the first days at a 40% margin and the rest at 50%.
 */
async function seed(billing: Billing, clock: TestClock) {
  await billing.admin.applyPreset('usage-subscription');
  const accounts = [
    { id: 'acme', name: 'Acme Inc' },
    { id: 'globex', name: 'Globex' },
    { id: 'initech', name: 'Initech' },
  ];
  const start = clock.now.getTime();
  clock.set(new Date(start - 10 * DAY).toISOString());
  for (const a of accounts) {
    await billing.upsertAccount({ id: a.id, kind: 'team', name: a.name });
    await billing.credit(a.id, { source: 'bonus', amountMicros: 50_000_000, reference: 'launch' });
  }
  await billing.subscribe('acme', 'pro');
  await billing.admin.updateSettings({ marginBps: 4000 });
  let n = 0;
  for (let day = 9; day >= 0; day--) {
    if (day === 5) await billing.admin.updateSettings({ marginBps: 5000 });
    clock.set(new Date(start - day * DAY - 2 * HOUR).toISOString());
    await billing.recordBatch(
      accounts.flatMap((a, i) => {
        const scale = 1 + ((day * 7 + i * 3) % 5);
        return ['gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash'].slice(0, 1 + ((day + i) % 3)).map((model) => ({
          accountId: a.id, model, usage: { inputTokens: 100_000 * scale, outputTokens: 20_000 * scale }, idempotencyKey: `seed-${++n}`,
        }));
      }),
    );
  }
  clock.set(new Date(start).toISOString());
}

describe.skipIf(!haveChromium)('the admin panel in a browser', () => {
  const clock = new TestClock(new Date('2026-03-10T12:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;
  let base: string;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor(), signedProcessor()] });
    await seed(billing, clock);
    served = await serveToBrowser(billing);
    ({ base, browser } = served);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    // A CSP violation, a script error or a failed request shows here (a refused login is expected).
    // A live figure's next request waits for the one in flight, so none is aborted: htmx logs an abort as an error.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      const refusedLogin = new URL(r.url()).pathname === '/admin/login' && [401, 429].includes(r.status());
      if (r.status() >= 400 && !refusedLogin) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
  const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

  it('logs in, applies a pricing mode, follows the margin, creates a pack, grants a bonus and charts real usage', async () => {
    const page = await newPage();
    await page.goto(`${base}/admin/accounts`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.fill('input[name=password]', 'wrong password');
    await page.click('button[type=submit]');
    await page.locator('.error', { hasText: 'Wrong password.' }).waitFor();
    await shot(page, 'login');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin/accounts`);

    // Pricing mode: the preview says what applying it does; applying it asks first, saying whom it reaches.
    await page.goto(`${base}/admin/pricing`);
    const card = page.locator('[data-mode="subscription-plus-packs"]');
    expect(await card.locator('h2').innerText()).toBe('“$20/month plus $10 per 1,000 extra credits”');
    expect(await card.locator('.change.create').innerText()).toMatch(/Plus plan.*\$20\.00\/month/s);
    expect(await card.locator('.change.create').innerText()).toMatch(/1,000 extra credits pack/);
    expect(await card.locator('.change.legacy').innerText()).toMatch(/Pro — 1 account stays on it/);
    await card.locator('a.button').click();
    await page.waitForURL(`${base}/admin/pricing/subscription-plus-packs/apply`);
    expect(await page.locator('[data-reach="plan:pro"]').innerText()).toMatch(/off sale \(legacy\).*1 account \(acme\) on it/s);
    expect((await billing.admin.getSettings()).pricingMode).not.toBe('subscription-plus-packs');
    await shot(page, 'pricing-confirm');
    await page.click('#apply button[type=submit]');
    await page.locator('.note', { hasText: 'Applied “$20/month plus $10 per 1,000 extra credits”.' }).waitFor();
    expect(await page.locator('[data-mode="subscription-plus-packs"]').getAttribute('class')).toContain('current');
    await shot(page, 'pricing');

    // The plans' derived figures at 50%, then the margin set to 60% (its sentence live), then the figures again.
    await page.goto(`${base}/admin/plans`);
    expect(await text(page, 'tr[data-plan="plus"] [data-figure="cost"]')).toBe('$10.00');
    await page.goto(`${base}/admin/settings`);
    expect(await text(page, '[data-live="margin"]')).toBe('At 50% margin people pay $20.00 for $10.00 of provider cost.');
    await page.fill('input[name=margin]', '60');
    await page.locator('[data-live="margin"]', { hasText: 'At 60% margin people pay $25.00 for $10.00 of provider cost.' }).waitFor();
    await shot(page, 'settings');
    await page.click('form.settings button[type=submit]');
    await page.locator('.note', { hasText: 'Settings saved.' }).waitFor();
    await page.goto(`${base}/admin/plans`);
    expect(await text(page, 'tr[data-plan="plus"] [data-figure="cost"]')).toBe('$8.00');
    await shot(page, 'plans');
    await page.click('tr[data-plan="plus"] a');
    expect(await text(page, '.figures [data-figure="cost"]')).toBe('$8.00');
    await page.fill('#plan-form input[name=price]', '30');
    await page.locator('.figures [data-figure="cost"]', { hasText: '$12.00' }).waitFor();
    expect(await text(page, '.figures [data-figure="value"]')).toBe('3,000 credits ($30.00)');
    await page.fill('#plan-form input[name=model]', 'gpt-4.1');
    await page.locator('.figures [data-figure="tokens"]', { hasText: 'tokens of gpt-4.1' }).waitFor();
    await shot(page, 'plan');

    // A pack, created through the form.
    await page.goto(`${base}/admin/packs`);
    await page.fill('#pack-form input[name=name]', '5,000 credits');
    await page.fill('#pack-form input[name=slug]', 'credits-50');
    await page.fill('#pack-form input[name=price]', '45');
    await page.fill('#pack-form input[name=value]', '50');
    await page.locator('.figures [data-figure="bonus"]', { hasText: '500 credits ($5.00)' }).waitFor();
    await page.click('#pack-form button[type=submit]');
    await page.locator('.note', { hasText: 'Pack “5,000 credits” created.' }).waitFor();
    expect(await text(page, 'tr[data-pack="credits-50"]')).toMatch(/\$45\.00\s+5,000 credits \(\$50\.00\)\s+500 credits/);
    await shot(page, 'packs');

    // Accounts: search as you type, open one, grant a bonus.
    await page.goto(`${base}/admin/accounts`);
    expect(await page.locator('tr[data-account]').count()).toBe(3);
    await shot(page, 'accounts');
    await page.fill('input[name=q]', 'glob');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-account]').length === 1);
    await page.click('tr[data-account="globex"] a');
    await page.waitForURL(`${base}/admin/accounts/globex`);
    const before = await text(page, '[data-figure="available"]');
    await page.fill('#credit-form input[name=amount]', '5');
    await page.fill('#credit-form input[name=reference]', 'support-ticket-42');
    await page.click('#credit-form button[type=submit]');
    await page.locator('.note', { hasText: 'Bonus of $5.00 granted.' }).waitFor();
    expect(await text(page, '[data-figure="available"]')).not.toBe(before);
    expect(await page.locator('table.grid td', { hasText: 'bonus #' }).count()).toBeGreaterThan(0);
    await shot(page, 'account');

    // Model prices: thousands, searchable.
    await page.goto(`${base}/admin/prices`);
    expect(await text(page, '#price-results p')).toMatch(/^[\d,]{5,} models/);
    await page.fill('input[name=q]', 'claude sonnet 4');
    await page.locator('#price-results p', { hasText: 'matching “claude sonnet 4”' }).waitFor();
    expect(await page.locator('tr[data-model]').count()).toBeGreaterThan(0);
    await shot(page, 'prices');

    // The money view: the usage chart is drawn from the recorded usage.
    await page.goto(`${base}/admin/analytics`);
    await page.locator('#usage-chart[data-drawn="true"] canvas').waitFor();
    const chart = await page.locator('#usage-chart canvas').boundingBox();
    expect(chart!.width).toBeGreaterThan(600);
    expect(await text(page, '[data-figure="usage-value"]')).toMatch(/^\$\d+\.\d+/);
    expect(await page.locator('table.grid code', { hasText: 'gemini-2.5-flash' }).count()).toBe(1);
    await shot(page, 'analytics');

    // A form posted with the session's cookie but not its token is refused.
    const forged = await page.context().request.post(`${base}/admin/settings`, { form: { margin: '10' } });
    expect(forged.status()).toBe(403);
    expect((await billing.admin.getSettings()).marginBps).toBe(6000);
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('lists the sessions and ends the others; a copy of a cookie stops working at logout', async () => {
    const logIn = async (page: Page) => {
      await page.goto(`${base}/admin/sessions`);
      await page.fill('input[name=password]', ADMIN_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}/admin/sessions`);
    };
    const [mine, other] = [await newPage(), await newPage()];
    await logIn(other);
    await logIn(mine);
    expect(await mine.locator('tr[data-session]').count()).toBeGreaterThanOrEqual(2);
    expect(await mine.locator('tr[data-session]', { hasText: 'This session' }).innerText()).toMatch(/from 127\.0\.0\.1/);
    await shot(mine, 'sessions');
    await mine.click('form[action="/admin/sessions/end-others"] button');
    await mine.locator('.note', { hasText: /^Ended \d+ other sessions?\.$/ }).waitFor();
    expect(await mine.locator('tr[data-session]').count()).toBe(1);
    await other.goto(`${base}/admin/plans`);
    expect(new URL(other.url()).pathname).toBe('/admin/login');

    // Log out; the cookie copied before into another browser opens nothing.
    const cookies = await mine.context().cookies();
    const copy = await newPage();
    await copy.context().addCookies(cookies);
    await copy.goto(`${base}/admin/plans`);
    expect(new URL(copy.url()).pathname).toBe('/admin/plans');
    await mine.click('nav form.logout button');
    await mine.waitForURL(`${base}/admin/login`);
    await copy.goto(`${base}/admin/plans`);
    expect(new URL(copy.url()).pathname).toBe('/admin/login');
    for (const page of [mine, other, copy]) await page.context().close();
    expect(problems).toEqual([]);
  });

  it('shows the processors with their webhook URLs, and each webhook event with what became of it', async () => {
    const paid = (await billing.admin.listPlans({ status: 'active' })).find((p) => p.priceCents > 0)!;
    const at = clock.now;
    const send = (events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return billing.receiveWebhook(SIGNED, body, headers);
    };
    await billing.upsertAccount({ id: 'hooli', kind: 'team', name: 'Hooli' });
    await send([{ type: 'subscription.paid', eventId: 'evt_paid', accountId: 'hooli', subscriptionRef: 'sub_1', planSlug: paid.slug, paymentRef: 'in_1', amountCents: paid.priceCents, periodStart: at, periodEnd: at, at }]);
    await send([{ type: 'subscription.paid', eventId: 'evt_paid', accountId: 'hooli', subscriptionRef: 'sub_1', planSlug: paid.slug, paymentRef: 'in_1', amountCents: paid.priceCents, periodStart: at, periodEnd: at, at }]);
    await send([{ type: 'ignored', eventId: 'evt_other', processorType: 'customer.updated' }]);
    await expect(send([{ type: 'payment.succeeded', eventId: 'evt_failed', accountId: 'hooli', paymentRef: 'pi_9', packSlug: 'no-such-pack', amountCents: 500, at }])).rejects.toMatchObject({ code: 'pack_not_found' });

    const page = await newPage();
    await page.goto(`${base}/admin/payments`);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin/payments`);
    expect(await text(page, 'tr[data-processor="signed"]')).toContain(`${base}/webhooks/signed`);
    expect(await text(page, 'tr[data-processor="fake"]')).toMatch(/Charges nobody/);
    expect(await page.locator('tr[data-event]').count()).toBe(3); // the duplicate is the same event
    expect(await text(page, 'tr[data-event="evt_paid"]')).toMatch(/subscription\.paid[\s\S]*hooli[\s\S]*Applied/);
    expect(await text(page, 'tr[data-event="evt_other"]')).toMatch(/Ignored/);
    expect(await text(page, 'tr[data-event="evt_failed"]')).toMatch(/Failed[\s\S]*no-such-pack/);
    await shot(page, 'payments');
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('marks the fields a refused form names, the first focused, keeping what was typed', async () => {
    // Its own page: the refusals' 422s are what it wants, not problems.
    const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/admin/login`);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.goto(`${base}/admin/plans`);
    const form = page.locator('#plan-form');
    await form.locator('[name=name]').fill('Team');
    await form.locator('[name=price]').fill('30');
    await form.locator('[name=dayUsd]').fill('abc');
    await form.locator('button', { hasText: 'Create plan' }).click();
    await page.locator('.error', { hasText: 'Daily limit ($): "abc" is not an amount of dollars' }).waitFor();
    const marked = () => page.evaluate(() => [...document.querySelectorAll('[aria-invalid=true]')].map((e) => (e as HTMLInputElement).name));
    expect(await marked()).toEqual(['dayUsd']);
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).name)).toBe('dayUsd');
    // Landing there, a screen reader says what is wrong with it: the note describes the field.
    const description = () => page.evaluate(() => (document.activeElement!.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent?.trim()).join(' '));
    expect(await description()).toContain('Daily limit ($): "abc" is not an amount of dollars');
    expect(await page.inputValue('#plan-form [name=dayUsd]')).toBe('abc');
    await page.locator('#plan-form').screenshot({ path: `${ARTIFACTS}/plan-form-refused.png` });
    // A label said without its unit ("Value" for "Value ($)"), on another page.
    await page.goto(`${base}/admin/packs`);
    await page.fill('[name=name]', 'Pack');
    await page.fill('[name=price]', '10');
    await page.fill('[name=value]', '-1');
    await page.locator('button', { hasText: 'Create pack' }).click();
    await page.locator('.error', { hasText: 'Value: "-1"' }).waitFor();
    expect(await marked()).toEqual(['value']);
    // A whole number refused on the settings page, by the label it has there.
    await page.goto(`${base}/admin/settings`);
    await page.fill('[name=pastDueGrace]', 'abc');
    await page.locator('button', { hasText: 'Save settings' }).click();
    await page.locator('.error', { hasText: 'Grace (days): "abc" is not a whole number' }).waitFor();
    expect(await marked()).toEqual(['pastDueGrace']);
    await page.context().close();
    expect(errors).toEqual([]);
  });

  it('keeps pages behind the login, and rate limits failed logins', async () => {
    const page = await newPage();
    for (const path of ['/admin/settings', '/admin/analytics']) {
      await page.goto(`${base}${path}`);
      expect(new URL(page.url()).pathname).toBe('/admin/login');
    }
    for (let i = 0; i < 5; i++) {
      await page.fill('input[name=password]', `guess ${i}`);
      await page.click('button[type=submit]');
      await page.locator('.error', { hasText: 'Wrong password.' }).waitFor();
    }
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.locator('.error', { hasText: 'Too many failed attempts' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.context().close();
    expect(problems).toEqual([]);
  });
});
