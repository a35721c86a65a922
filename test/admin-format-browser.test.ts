/**
 * One money format on every page of the admin panel, in a real browser (Debian's chromium driven
 * by playwright-core) against the server app: on the money view's told story (payments, refunds,
 * disputes, a recharge, usage and a usage refund), with odd amounts added (a 30% margin, a pack
 * worth $12.345678, a plan including $0.854582 with a $0.123456 daily limit, a bonus of $84.39,
 * calls of a fraction of a cent), every amount each page shows is in the panel's one format
 * (support/amounts.ts), and every rate has cents and at most four decimals. The model prices page
 * shows, per kind of token, the provider's cost and what a customer pays at the margin, with the
 * unit. Screenshots go to test-artifacts/. Skipped, with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { AMOUNTS, offRule, rateInRule } from './support/amounts.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { moneyStory, RANGE } from './support/money-story.ts';
import { signedProcessor } from './support/signed-processor.ts';
import { StripeFake } from './support/stripe-fake.ts';
import { mustCall } from './support/spend.ts';

noteMissingChromium("the admin money format's browser tests are");

describe.skipIf(!haveChromium)('one money format on every admin page, in a browser', () => {
  const clock = new TestClock(new Date('2026-03-01T00:00:00Z'));
  let billing: Billing;
  let panel: AdminPanel;
  let stripe: StripeFake;
  let page: Page;
  const problems: string[] = [];
  let bonusBucket: number;
  let paymentId: number;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const fake = fakeProcessor();
    stripe = await StripeFake.start();
    const atStripe = stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/done' });
    billing = await billingInMemory({ clock: clock.read, processors: [fake, signedProcessor(), atStripe] });
    await moneyStory(billing, clock, billing.sql, fake);
    // Odd amounts, where an exact figure would show six decimals.
    await billing.admin.updateSettings({ marginBps: 3000 });
    await billing.admin.createPack({ slug: 'odd-pack', name: 'Odd pack', priceCents: 12_00, valueMicros: 12_345_678 });
    await billing.admin.createPlan({
      slug: 'odd', name: 'Odd', priceCents: 0, includedMicros: 854_582, overage: 'credits', limits: [{ window: 'day', unit: 'usd', amount: 123_456 }],
    });
    bonusBucket = (await billing.credit('globex', { source: 'bonus', amountMicros: 84_390_000, reference: 'odd-bonus' })).bucketId;
    await mustCall(billing, 'globex', 427_291); // $0.427291 of cost, $0.610416 of value at 30%
    await mustCall(billing, 'globex', 291); // a fraction of a cent
    paymentId = (await billing.payments('globex'))[0]!.id;
    await billing.admin.syncCatalog('stripe'); // the payments page lists each price at Stripe
    panel = await openAdminPanel(billing, problems);
    page = panel.page;
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
    await stripe?.close();
  });

  /** The page's text without its rates, each element's text apart (cells do not run together), and its rates ([data-rate]) apart. */
  const amountsOn = (p: Page) =>
    p.evaluate(() => {
      const rates = [...document.querySelectorAll('[data-rate]')].map((e) => e.textContent ?? '');
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
        acceptNode: (n) => (n.parentElement?.closest('[data-rate], script, style') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
      });
      let text = '';
      let parent: Node | null = null;
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        text += (n.parentNode === parent ? '' : ' ') + (n.textContent ?? '');
        parent = n.parentNode;
      }
      return { text, rates };
    });

  const PAGES = [
    ['/admin/pricing', 'pricing'],
    ['/admin/pricing/credit-packs/apply', 'pricing-apply'],
    ['/admin/pricing/table', 'pricing-table'],
    ['/admin/settings', 'settings'],
    ['/admin/plans', 'plans'],
    ['/admin/plans/odd', 'plan-odd'],
    ['/admin/packs', 'packs'],
    ['/admin/packs/odd-pack', 'pack-odd'],
    ['/admin/prices?q=gpt-4o', 'prices'],
    ['/admin/accounts', 'accounts'],
    ['/admin/accounts/acme', 'account-acme'],
    ['/admin/accounts/globex', 'account-globex'],
    ['/admin/accounts/globex/buckets/BONUS/take-back', 'take-back'],
    ['/admin/accounts/globex/payments/PAYMENT/refund', 'payment-refund'],
    [`/admin/analytics${RANGE}`, 'analytics'],
    ['/admin/payments', 'payments'],
  ] as const;

  it.each(PAGES)('%s shows every amount in one format', async (path, name) => {
    await page.goto(`${panel.base}${path.replace('BONUS', String(bonusBucket)).replace('PAYMENT', String(paymentId))}`);
    const { text, rates } = await amountsOn(page);
    expect((text.match(AMOUNTS)?.length ?? 0) + rates.length, 'a page with no amounts proves nothing').toBeGreaterThan(0);
    expect(offRule(text), `an amount off the format on ${path}`).toBeUndefined();
    expect(rates.filter((r) => !rateInRule(r)), `rates off the format on ${path}`).toEqual([]);
    await page.screenshot({ path: `${ARTIFACTS}/format-${name}.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it.each([
    ['/admin/accounts/globex', 'phone', 'account-globex'], ['/admin/analytics' + RANGE, 'phone', 'analytics'], ['/admin/pricing/table', 'phone', 'pricing-table'],
    ['/admin/pricing', 'phone', 'pricing'], ['/admin/settings', 'phone', 'settings'], ['/admin/plans', 'laptop', 'plans'], ['/admin/packs', 'laptop', 'packs'],
  ] as const)('%s at a %s\'s width', async (path, device, name) => {
    const width = device === 'phone' ? 390 : 1024;
    await page.setViewportSize({ width, height: 844 });
    await page.goto(`${panel.base}${path}`);
    await page.screenshot({ path: `${ARTIFACTS}/format-${name}-${device}.png`, fullPage: true });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.setViewportSize({ width: 1360, height: 900 });
    expect(wide, `the page scrolls sideways at a ${device}'s width`).toBeLessThanOrEqual(width);
  });

  it("says a chart's amounts in its legend as the page does", async () => {
    await page.goto(`${panel.base}/admin/analytics${RANGE}`);
    const chart = page.locator('#usage-chart[data-drawn="true"]');
    await chart.locator('canvas').first().waitFor();
    await chart.screenshot({ path: `${ARTIFACTS}/format-usage-chart.png` });
    const box = (await chart.locator('.u-over').boundingBox())!;
    // 2026-03-03, the day of the most usage, is the third of five days.
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const values = await chart.locator('.u-legend .u-value').allInnerTexts();
    const shown = JSON.parse((await chart.getAttribute('data-series'))!) as { series: { shown: string[] }[] };
    expect(values.slice(1)).toEqual(shown.series.map((s) => s.shown[2]));
    expect(values.slice(1).filter((v) => offRule(v) !== undefined || !/^-?\$/.test(v))).toEqual([]);
  });

  it('says the odd amounts rounded where they stand beside others', async () => {
    await page.goto(`${panel.base}/admin/accounts/globex`);
    const { text } = await amountsOn(page);
    expect(text).toContain('$84.39');
    expect(text).not.toContain('0.610416');
    expect(text).toContain('$0.61'); // the call's value at 30%: $0.427291 ÷ 0.7 = $0.610416, rounded
    expect(text).toContain('$0.000416'); // the small call's value, exact: 291 µ$ ÷ 0.7, rounded up
    await page.goto(`${panel.base}/admin/plans`);
    expect((await amountsOn(page)).text).toContain('$0.855');
  });

  it('shows, per kind of token, the provider cost and what a customer pays at the margin, with the unit', async () => {
    await page.goto(`${panel.base}/admin/prices?q=gpt-4o-mini`);
    const heads = await page.locator('table.prices thead th').allInnerTexts();
    for (const kind of ['Input', 'Output', 'Cache read', 'Cache write', 'Reasoning']) expect(heads).toContain(`${kind}\n$ per 1M tokens`);
    const row = page.locator('tr[data-model="gpt-4o-mini"]').first();
    const cells = await row.locator('td.num').allInnerTexts();
    // gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cache read; at 30% a customer pays ÷ 0.7.
    expect(cells[0]).toBe('$0.15\npays ≈ $0.2143');
    expect(cells[1]).toBe('$0.60\npays ≈ $0.8572');
    expect(cells[2]).toBe('$0.075\npays ≈ $0.1072');
    expect(cells[4]).toBe('as output');
    await page.screenshot({ path: `${ARTIFACTS}/format-prices-mini.png`, fullPage: false });
    // At a phone's width the table scrolls within its page; the page itself does not.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${ARTIFACTS}/format-prices-phone.png`, fullPage: false });
    await page.setViewportSize({ width: 1360, height: 900 });
  });
});
