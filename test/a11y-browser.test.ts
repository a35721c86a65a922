/**
 * The admin panel and the billing page as people who do not use a mouse, or do not see well, or
 * hold a phone meet them: text legible against its background (WCAG AA, 4.5:1), an outline of
 * headings a screen reader can list, fields named by their labels, a keyboard's way past the
 * panel's nav, and a customer's page at phone width that does not scroll sideways, with what is
 * tapped a finger high. Skipped, with a note, when /usr/bin/chromium is missing.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { TEST_MODEL } from './support/api-world.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { adminPage, ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, DAY, TestClock } from './support/harness.ts';

noteMissingChromium('the accessibility browser tests are');

/** The page's headings as "level name", for a screen reader's list of them. */
const headings = (page: Page) => page.evaluate(() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map((h) => `${h.tagName[1]} ${h.textContent!.trim()}`));

/** Where a page's outline goes wrong: not one h1, or a heading more than one level under the one before it. */
function outlineFaults(outline: string[]): string[] {
  const levels = outline.map((h) => Number(h[0]));
  return [
    ...(levels.filter((l) => l === 1).length === 1 ? [] : ['not one h1']),
    ...outline.filter((h, i) => i > 0 && levels[i]! > levels[i - 1]! + 1).map((h) => `skips to ${h}`),
  ];
}

/**
 * Each visible text on the page whose colour against the background behind it is under WCAG AA's
 * ratio (4.5:1; 3:1 for large text), as "ratio tag "text"".
 */
const illegibleText = (page: Page) => page.evaluate(() => {
  const rgba = (css: string) => {
    const [r, g, b, a = 1] = css.match(/[\d.]+/g)!.map(Number);
    return [r!, g!, b!, a];
  };
  const luminance = (rgb: number[]) => {
    const [r, g, b] = rgb.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const background = (e: Element | null): number[] => {
    for (; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3]! > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const found: string[] = [];
  for (const e of document.querySelectorAll('body *')) {
    const box = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    if (box.width <= 1 || box.height <= 1 || style.visibility === 'hidden') continue;
    if (![...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim())) continue;
    const back = background(e);
    const fore = rgba(style.color);
    const seen = fore.slice(0, 3).map((v, i) => v * fore[3]! + back[i]! * (1 - fore[3]!));
    const [light, dark] = [luminance(seen), luminance(back)].sort((a, b) => b - a);
    const ratio = (light! + 0.05) / (dark! + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) found.push(`${ratio.toFixed(2)} ${e.tagName} "${e.textContent!.trim().slice(0, 30)}"`);
  }
  return found;
});

/** A phone in the hand: its width, and a finger for a pointer. */
const PHONE = { viewport: { width: 375, height: 800 }, hasTouch: true, isMobile: true };

/**
 * What the page offers to tap (`selector`) that is under 44 px high, a finger's width, as
 * "height tag text": links within a sentence or a table's cell are text, not targets (WCAG 2.5.8).
 */
const shortTargets = (page: Page, selector: string) => page.evaluate((selector) =>
  [...document.querySelectorAll(selector)]
    .filter((e) => !e.closest('p, td, li:not(nav li)') && e.getBoundingClientRect().height > 0)
    .map((e) => `${Math.round(e.getBoundingClientRect().height)} ${e.tagName} ${((e as HTMLInputElement).name || e.textContent || '').trim().slice(0, 30)}`)
    .filter((row) => Number(row.split(' ')[0]) < 44), selector);

describe.skipIf(!haveChromium)('accessibility, in a browser', () => {
  const clock = new TestClock(new Date('2026-03-01T09:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.admin.setModelPrice({ ...TEST_MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme Robotics' });
    await billing.subscribe('acme', 'plus');
    for (let day = 0; day < 5; day++) {
      await billing.record('acme', { ...TEST_MODEL, userId: 'user_8', usage: { inputTokens: 40_000 * (1 + day), outputTokens: 10_000 } }, { idempotencyKey: `d${day}` });
      clock.advance(DAY);
    }
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it("keeps the admin panel's text, the tables' headings and muted notes too, legible against its background", async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    for (const path of ['/admin/accounts', '/admin/accounts/acme', '/admin/plans', '/admin/packs', '/admin/settings']) {
      await page.goto(served.base + path);
      expect({ path, illegible: await illegibleText(page) }).toEqual({ path, illegible: [] });
    }
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('gives each page one h1 and an outline without gaps, a plan or pack card under its section', async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    for (const path of ['/admin/pricing/table', '/admin/plans', '/admin/plans/plus', '/admin/packs/extra-10', '/admin/accounts/acme']) {
      expect((await page.goto(served.base + path))!.status()).toBe(200);
      expect({ path, faults: outlineFaults(await headings(page)) }).toEqual({ path, faults: [] });
    }
    await page.goto(`${served.base}/admin/pricing/table`);
    expect((await headings(page)).slice(0, 3)).toEqual(['1 Pricing table', '2 Plans', '3 Free']);
    expect(problems).toEqual([]);
    await page.context().close();

    const { url } = await createBillingSession(billing, 'acme', { returnUrl: 'https://app.example/settings', userId: 'user_8', role: 'owner' }, { baseUrl: served.base });
    const customer = await (await served.browser.newContext()).newPage();
    await customer.goto(url);
    const outline = await headings(customer);
    expect(outlineFaults(outline)).toEqual([]);
    // A plan's card is under "Plan", not beside it: a screen reader's list of headings says so.
    expect(outline.slice(outline.indexOf('2 Plan'), outline.indexOf('2 Plan') + 3)).toEqual(['2 Plan', '3 Plus', '3 Free']);
    expect(outline[outline.indexOf('2 Credit packs') + 1]).toMatch(/^3 /);
    await customer.context().close();
  });

  it("names each admin field by its label alone, its hint describing it, as a screen reader reads them", async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    await page.goto(`${served.base}/admin/plans`);
    const form = page.locator('#plan-form');
    const described = (name: string) => form.locator(`[name=${name}]`).evaluate((e) => (e.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent?.trim()).join(' '));
    expect(await form.getByRole('textbox', { name: 'Slug', exact: true }).count()).toBe(1);
    expect(await described('slug')).toBe('Lowercase letters, digits, - and _.');
    expect(await form.getByRole('combobox', { name: 'Overage', exact: true }).count()).toBe(1);
    expect(await described('overage')).toBe('Whether usage may go on into purchased credit.');
    // A field without a hint is named by its label as before, and described by nothing.
    expect(await form.getByRole('textbox', { name: 'Name', exact: true }).getAttribute('aria-describedby')).toBeNull();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("names the admin panel's page in its nav, and lets the keyboard skip the nav: the first Tab shows a link to the page's content", async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    await page.goto(`${served.base}/admin/plans`);
    // The nav says which of its pages this is, as it shows it.
    expect(await page.locator('nav [aria-current=page]').allInnerTexts()).toEqual(['Plans']);
    await page.keyboard.press('Tab');
    const skip = page.locator(':focus');
    expect(await skip.innerText()).toBe('Skip to content');
    const box = (await skip.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    // The next Tab is in the page's own content (its model search), not the nav's first link.
    expect(await page.evaluate(() => [document.activeElement!.closest('main') !== null, document.activeElement!.getAttribute('name')])).toEqual([true, 'model']);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("keeps the keyboard's place on the usage range it chose, when the billing page swaps the section in", async () => {
    const { url } = await createBillingSession(billing, 'acme', { returnUrl: 'https://app.example/settings', userId: 'user_8', role: 'owner' }, { baseUrl: served.base });
    const page = await (await served.browser.newContext()).newPage();
    await page.goto(url);
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    await page.locator('#usage .ranges a', { hasText: '7 days' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#usage h2:text("Usage, last 7 days")');
    // Not back at the top of the page: the next Tab goes on from the range, to the next one.
    expect(await page.evaluate(() => document.activeElement!.textContent!.trim())).toBe('7 days');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement!.textContent!.trim())).toBe('30 days');
    await page.context().close();
  });

  it("fits a customer's billing page to a 375 px phone, with no sideways scroll and what is tapped at least 44 px high", async () => {
    const { url } = await createBillingSession(billing, 'acme', { returnUrl: 'https://app.example/settings', userId: 'user_8', role: 'owner' }, { baseUrl: served.base });
    const page = await (await served.browser.newContext(PHONE)).newPage();
    await page.goto(url);
    await page.waitForSelector('#usage-chart[data-drawn=true]');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await shortTargets(page, '#back-to-app, main a[href], main button, main label.check, main input[type=text], main select')).toEqual([]);
    await page.context().close();
  });

  it("gives the admin panel's nav, buttons and fields a finger's height at a phone's width, with no sideways scroll", async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems, { device: PHONE });
    for (const path of ['/admin/accounts', '/admin/accounts/acme', '/admin/plans', '/admin/packs', '/admin/settings', '/admin/pricing']) {
      expect((await page.goto(served.base + path))!.status()).toBe(200);
      expect({ path, wide: await page.evaluate(() => document.documentElement.scrollWidth) }).toEqual({ path, wide: 375 });
      const targets = 'nav a[href], main a.button, main button, main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), main select, main label:has(> input[type=checkbox])';
      expect({ path, short: await shortTargets(page, targets) }).toEqual({ path, short: [] });
    }
    await page.screenshot({ path: `${ARTIFACTS}/a11y-admin-pricing-phone.png`, fullPage: true });
    expect(problems).toEqual([]);
    await page.context().close();
  });
});
