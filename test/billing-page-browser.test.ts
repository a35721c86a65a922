/**
 * The hosted billing page in a real browser (Debian's chromium driven by playwright-core)
 * against the server app: an owner opens a link, buys a pack through the fake processor and
 * sees the balance grow, changes the plan, sets auto-recharge; a member sees the pool and their
 * own cap but no button; the link opened again is refused in words. Screenshots at desktop and
 * phone width go to test-artifacts/. Skipped, with a note, when /usr/bin/chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { amount } from '../src/billing-page/money.ts';
import { TEST_MODEL } from './support/api-world.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, DAY, TestClock } from './support/harness.ts';

noteMissingChromium('the billing page browser test is');

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

describe.skipIf(!haveChromium)('the billing page, in a browser', () => {
  const clock = new TestClock(new Date('2026-03-01T09:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 100_00, overage: 'credits', sort: 10 });
    await billing.admin.setModelPrice({ ...TEST_MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme Robotics' });
    await billing.subscribe('acme', 'plus');
    await billing.upsertAccount({ id: 'sam', kind: 'personal', name: 'Sam Personal' });
    await billing.admin.setMemberLimits('acme', 'user_7', [{ window: 'day', unit: 'usd', amount: 1_000_000 }], { name: 'Ada Lovelace' });
    // Nine days of calls by two members, more on some days than others.
    for (let day = 0; day < 9; day++) {
      for (const [user, tokens] of [['user_7', 40_000 * (1 + (day % 3))], ['user_8', 90_000 + 30_000 * (day % 4)]] as const) {
        await billing.record('acme', { ...TEST_MODEL, userId: user, usage: { inputTokens: tokens, outputTokens: tokens / 4 } }, { idempotencyKey: `d${day}-${user}` });
      }
      await billing.record('acme', { model: 'gpt-4o-mini', provider: 'openai', userId: 'user_8', usage: { inputTokens: 300_000, outputTokens: 20_000 } }, { idempotencyKey: `mini-${day}` });
      clock.advance(DAY);
    }
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  /** A page at `viewport` that opened a new link for `input`; its script and console errors go to `problems`. */
  async function open(input: Parameters<typeof createBillingSession>[2], viewport: { width: number; height: number }, problems: string[]): Promise<{ page: Page; url: string }> {
    const { url } = await createBillingSession(billing, 'acme', input, { baseUrl: served.base });
    const page = await (await served.browser.newContext({ viewport })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe('/billing');
    return { page, url };
  }

  const available = async (page: Page) => page.locator('[data-figure=available]').innerText();
  /** Whether the note a form left is on screen where the page opened, not scrolled past. */
  const noteInView = async (page: Page) => page.evaluate(() => {
    const box = document.querySelector('#note')!.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight;
  });
  const credits = (text: string) => Number(text.replace(/[^\d.]/g, ''));

  it('lets an owner buy a pack and see the balance grow, change the plan and set auto-recharge', async () => {
    const problems: string[] = [];
    const { page, url } = await open({ returnUrl: 'https://app.example/settings', userId: 'user_8', role: 'owner' }, DESKTOP, problems);
    expect(await page.locator('#back-to-app').getAttribute('href')).toBe('https://app.example/settings');
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    // Pointing at Mar 9's bar (the 29th of 30 days), the legend says its amount as the page does.
    await page.locator('#usage-chart').scrollIntoViewIfNeeded();
    const over = (await page.locator('#usage-chart .u-over').boundingBox())!;
    await page.mouse.move(over.x + (over.width * 28.5) / 30, over.y + over.height - 5);
    const mar9 = (await billing.usage('acme', { from: new Date('2026-03-09T00:00:00Z'), to: new Date('2026-03-10T00:00:00Z'), groupBy: 'day' })).rows[0]!;
    expect(mar9.valueMicros).toBeGreaterThan(0);
    expect(await page.locator('#usage-chart .u-legend .u-value').allInnerTexts()).toEqual(['Mar 9', amount(mar9.valueMicros - mar9.refundedMicros, await billing.admin.getSettings())]);
    // A screen reader, which the canvas and its pointer-driven legend tell nothing, reads the days in a table instead.
    expect(await page.locator('#usage').ariaSnapshot()).not.toContain('Day :');
    const days = page.getByRole('table', { name: 'Usage on each day with any' });
    expect(await days.getByRole('row').count()).toBe(1 + 9);
    expect(await days.getByRole('row', { name: /^Mar 9 / }).innerText()).toBe(`Mar 9\t${amount(mar9.valueMicros - mar9.refundedMicros, await billing.admin.getSettings())}`);
    expect(await page.locator('#by-model tr').count()).toBe(2);
    expect(await page.locator('#by-model tr').first().innerText()).toMatch(/^test-model · 8\d%, 18 calls/);
    // Its bar is a picture of the share the row says in words, not an unnamed progress bar to a screen reader.
    expect(await page.locator('#by-model').ariaSnapshot()).not.toContain('progressbar');
    expect(await page.locator('#last-calls tbody tr').count()).toBe(10);
    // The viewer's own calls are theirs; a capped member's by the name the account capped them under.
    expect(new Set(await page.locator('#last-calls tbody tr td:nth-child(3)').allInnerTexts())).toEqual(new Set(['You', 'Ada Lovelace']));
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-owner.png`, fullPage: true });
    // Another member's cap: under "Members' caps", titled by its window, the member's name a caption (not the host app's id).
    expect(await page.locator('#limits h3').innerText()).toBe("Members' caps");
    expect(await page.locator('[data-member=user_7] > small').innerText()).toBe('Ada Lovelace');
    expect(await page.locator('#limits').innerText()).not.toContain('user_7');
    expect(await page.locator('[data-member=user_7] .limit-head strong').allInnerTexts()).toEqual(['Today']);
    expect(await page.locator('#limits').innerText()).not.toContain('cap of');
    await page.locator('#limits').screenshot({ path: `${ARTIFACTS}/billing-page-limits-owner.png` });

    // Another range: htmx swaps the usage section alone, and its chart is drawn again.
    const total30 = await page.locator('[data-figure=usage-total]').innerText();
    await page.click('#usage .ranges a:text("7 days")');
    await page.waitForSelector('#usage h2:text("Usage, last 7 days")');
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    expect(new URL(page.url()).searchParams.get('days')).toBe('7');
    // The total is the chart's seven days (Mar 4 to 10), not a week back to the minute.
    expect(total30).toBe('669.6 credits in all.');
    expect(await page.locator('[data-figure=usage-total]').innerText()).toBe('455.4 credits in all.');
    expect(await page.locator('#usage .ranges a.current').innerText()).toBe('7 days');
    await page.locator('#usage').screenshot({ path: `${ARTIFACTS}/billing-page-usage-7-days.png` });

    const before = credits(await available(page));
    await page.click('[data-pack=extra-10] button');
    await page.waitForSelector('#note');
    expect(await page.locator('#note').innerText()).toBe('Bought: 1,000 credits added.');
    expect(await noteInView(page)).toBe(true);
    expect(credits(await available(page))).toBe(before + 1_000);
    expect(await page.locator('#payments tbody tr').first().innerText()).toMatch(/1,000 extra credits\s+\$10\.00/);

    // From a paid plan, a change is at once: a page says what it pays and what becomes of the allowance, before anything moves.
    await page.click('[data-plan=max] a.button');
    await page.waitForSelector('#change-confirm');
    expect(await page.locator('h1').innerText()).toBe('Upgrade to Max?');
    expect(await page.locator('#change-confirm p').first().innerText()).toBe(
      "Max replaces Plus now: $100.00 is paid now for a month from today, then each month. What is left of Plus's allowance ends now.",
    );
    expect((await billing.balance('acme')).plan.slug).toBe('plus');
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-change-confirm.png` });
    await page.click('#change-confirm button');
    await page.waitForSelector('#note');
    expect(await page.locator('#note').innerText()).toBe('You are on Max now.');
    expect(await page.locator('[data-current] h3').innerText()).toBe('Max');
    expect(await page.locator('[data-plan=plus] a.button').innerText()).toBe('Downgrade to Plus…');
    // Payments named as they were bought: the pack's name, not its slug; each period the fake processor opens is paid as it opens, Plus's first, Max's at the change.
    expect(await page.locator('#payments tbody tr td:nth-child(2)').allInnerTexts()).toEqual(['Max plan, a month', '1,000 extra credits', 'Plus plan, a month']);
    expect(await page.locator('#payments tbody tr').first().innerText()).toMatch(/Max plan, a month\s+\$100\.00/);

    // Refused, the form's error is beside its fields and at the top, where the page opens.
    await page.fill('#auto-recharge-form input[name=threshold]', '250');
    await page.fill('#auto-recharge-form input[name=maxCount]', 'three');
    await page.click('#auto-recharge-form button');
    await page.waitForSelector('#note');
    expect(await page.locator('#note').innerText()).toBe('Auto-recharge was not saved: At most, recharges a month: "three" is not a whole number.');
    expect(await noteInView(page)).toBe(true);
    expect(await page.locator('#auto-recharge [role=alert]').innerText()).toBe('At most, recharges a month: "three" is not a whole number');
    // The field it names is marked, and described by it for a screen reader on the field; the others are not.
    const marked = page.locator('#auto-recharge-form [aria-invalid=true]');
    expect(await marked.evaluateAll((fields) => fields.map((f) => [f.getAttribute('name'), document.getElementById(f.getAttribute('aria-describedby') ?? '')?.textContent?.trim()]))).toEqual([
      ['maxCount', 'At most, recharges a month: "three" is not a whole number'],
    ]);
    // The one message the console has: that the refused form's page is a 400.
    expect(problems.splice(0)).toEqual(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    // A long value refused wraps in its messages instead of widening the page past the screen.
    await page.fill('#auto-recharge-form input[name=maxCount]', 'x'.repeat(300));
    await Promise.all([page.waitForNavigation(), page.click('#auto-recharge-form button')]);
    expect(await page.locator('#auto-recharge [role=alert]').innerText()).toContain('x'.repeat(300));
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(page.viewportSize()!.width);
    problems.splice(0);
    await page.fill('#auto-recharge-form input[name=maxCount]', '3');
    await page.click('#auto-recharge-form button');
    await page.waitForSelector('#note:text("Auto-recharge is on")');
    expect(await page.locator('#note').innerText()).toBe('Auto-recharge is on: it buys 1,000 extra credits for $10.00, plus anything owed, on the saved card when less than 250 credits is left, at most 3 times a month.');
    expect(await page.locator('[data-figure=auto-recharge-state]').innerText()).toBe('On: buys 1,000 extra credits for $10.00, plus anything owed, on the saved card when less than 250 credits is left, at most 3 times a month');
    expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', thresholdMicros: 2_500_000, monthlyMaxCount: 3 });
    // A threshold of a fraction of credits is shown back as it is, and saved again unchanged, stays so.
    await page.fill('#auto-recharge-form input[name=threshold]', '250.75');
    await page.click('#auto-recharge-form button');
    await page.waitForSelector('#note:text("250.75 credits")');
    expect(await page.locator('#auto-recharge-form input[name=threshold]').inputValue()).toBe('250.75');
    await page.click('#auto-recharge-form button');
    await page.waitForSelector('#note:text("Auto-recharge is on")');
    expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', thresholdMicros: 2_507_500, monthlyMaxCount: 3 });
    await page.locator('#auto-recharge').screenshot({ path: `${ARTIFACTS}/billing-page-auto-recharge.png` });

    await page.click('#cancel');
    expect(await page.locator('h1').innerText()).toBe('Cancel Max?');
    await page.click('#cancel-confirm button');
    expect(await page.locator('[data-figure=plan-ends]').innerText()).toMatch(/^Canceled: it ends Apr 10, 2026, 09:00 UTC, then Free\.$/);
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-owner-after.png`, fullPage: true });

    // The link again, in this browser or another: refused in words, nothing shown.
    const other = await (await served.browser.newContext({ viewport: PHONE })).newPage();
    await other.goto(url);
    expect(await other.locator('h1').innerText()).toBe('This billing link has expired');
    expect(await other.content()).not.toContain('Acme');
    await other.screenshot({ path: `${ARTIFACTS}/billing-page-expired-phone.png` });
    expect(problems).toEqual([]);
  }, 90_000);

  it('shows a member the pool and their own cap, with no button to buy or change, at phone width', async () => {
    const problems: string[] = [];
    const { page } = await open({ returnUrl: 'https://app.example/', userId: 'user_7', role: 'member' }, PHONE, problems);
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    expect(await page.locator('[data-figure=available]').isVisible()).toBe(true);
    expect(await page.locator('[data-limit="Today (your cap)"]').innerText()).toMatch(/of 100 credits/);
    expect(await page.locator('main button, main form').count()).toBe(0);
    expect(await page.locator('#payments, #auto-recharge').count()).toBe(0);
    expect(await page.locator('#last-calls').innerText()).not.toContain('gpt-4o-mini');
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-member-phone.png`, fullPage: true });
    // Nothing wider than the phone: no sideways scrolling.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(problems).toEqual([]);
  }, 60_000);

  it('keeps each tab on its account when billing for a second account is opened in the same browser', async () => {
    const problems: string[] = [];
    const context = await served.browser.newContext({ viewport: DESKTOP });
    const tab = async (account: string, input: Parameters<typeof createBillingSession>[2]) => {
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto((await createBillingSession(billing, account, input, { baseUrl: served.base })).url);
      return page;
    };
    const team = await tab('acme', { returnUrl: 'https://app.example/team', role: 'owner' });
    const own = await tab('sam', { returnUrl: 'https://app.example/me', role: 'owner' });
    expect(await own.locator('header .who').innerText()).toMatch(/^Sam Personal/);
    // Back to the team's tab: reloaded, it is still the team's, and its Buy buys for the team.
    await team.reload();
    expect(await team.locator('header .who').innerText()).toMatch(/^Acme Robotics/);
    const teamBefore = (await billing.balance('acme')).availableMicros;
    const ownBefore = (await billing.balance('sam')).availableMicros;
    await team.click('[data-pack=extra-10] button');
    await team.waitForSelector('#note');
    expect(await team.locator('#note').innerText()).toBe('Bought: 1,000 credits added.');
    expect((await billing.balance('acme')).availableMicros).toBe(teamBefore + 10_000_000);
    expect((await billing.balance('sam')).availableMicros).toBe(ownBefore);
    // The note was the team tab's: the other tab, reloaded, is its own account's, with no note.
    await own.reload();
    expect(await own.locator('header .who').innerText()).toMatch(/^Sam Personal/);
    expect(await own.locator('#note').count()).toBe(0);
    await team.screenshot({ path: `${ARTIFACTS}/billing-page-two-tabs-team.png` });
    expect(problems).toEqual([]);
  }, 60_000);

  it('fits an owner\'s page to a phone', async () => {
    const problems: string[] = [];
    const { page } = await open({ returnUrl: 'https://app.example/', role: 'admin' }, PHONE, problems);
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-owner-phone.png`, fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(problems).toEqual([]);
  }, 60_000);
});
