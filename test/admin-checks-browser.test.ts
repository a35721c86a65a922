/**
 * The catalog's sanity checks where the owner acts, in a real browser (Debian's chromium driven
 * by playwright-core) against the server app: the pricing page lists what is wrong, each linked
 * to its plan or pack; a plan's form warns, as its values are typed and before they are saved,
 * that it would lose money and leave a pack nobody can spend, and the warnings go once the values
 * are sound, and the create form as well (its slug following its name); the packs page says who
 * can buy each pack; the settings warn of what a margin would make lose money; a bad field is named
 * by its label, with dollars. Screenshots go to test-artifacts/. Skipped, with a note, without
 * /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the admin sanity checks' browser tests are");

describe.skipIf(!haveChromium)('sanity checks in the admin panel, in a browser', () => {
  let billing: Billing;
  let panel: AdminPanel;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    // A $5 plan that includes $500 of usage, and a second plan called "Plus".
    await billing.admin.createPlan({ slug: 'cheap', name: 'Cheap', priceCents: 5_00, includedMicros: 500_000_000, overage: 'credits' });
    await billing.admin.createPlan({ slug: 'plus-2', name: 'Plus', priceCents: 30_00, overage: 'credits' });
    panel = await openAdminPanel(billing, problems, { refusalsExpected: true });
    page = panel.page;
    // When each page last had input, for submitOncePreviewed.
    await page.addInitScript(() => {
      (window as unknown as { lastInput: number }).lastInput = 0;
      document.addEventListener('input', () => ((window as unknown as { lastInput: number }).lastInput = performance.now()), true);
    });
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
  });

  const checks = (scope: string) => page.locator(`${scope} .checks li`).allInnerTexts();

  it('lists on the pricing page what is wrong with the plans and packs, each linked to it', async () => {
    await page.goto(`${panel.base}/admin/pricing`);
    expect(await page.locator('#checks h2').innerText()).toBe('2 things to look at in your plans and packs');
    expect(await checks('#checks')).toEqual([
      'plan cheap “Cheap” costs $5.00 a month and lets a subscriber use $500.00 of usage, which costs you $250.00 at the 50% margin: each subscriber who uses it all loses you $245.00 a month.',
      'plan plus-2 “Plus” is also the name of the active plan plus: customers cannot tell them apart.', // one problem, listed once
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/checks-pricing.png`, fullPage: true });
    await page.locator('#checks a', { hasText: 'cheap' }).click();
    await page.waitForURL('**/admin/plans/cheap');
    // The plan's own page says it too, before anything is changed.
    expect(await checks('#plan-form')).toEqual([expect.stringContaining('loses you $245.00 a month')]);
  });

  it('warns on a plan form as its values are typed, before saving, and stops once they are sound', async () => {
    await billing.admin.updatePlan('cheap', { status: 'archived' });
    await billing.admin.updatePlan('plus-2', { status: 'archived' });
    await page.goto(`${panel.base}/admin/plans/plus`);
    expect(await checks('#plan-form')).toEqual([]);
    // $5 a month for $500 of usage, and no more spending of packs: two warnings, nothing saved yet.
    await page.fill('input[name=price]', '5');
    await page.fill('input[name=included]', '500');
    await page.locator('#plan-form .checks li[data-check="plan_loses_money"]').waitFor();
    await page.selectOption('select[name=overage]', 'block');
    await page.locator('#plan-form .checks li[data-check="pack_not_spendable"]').waitFor();
    expect(await checks('#plan-form')).toEqual([
      '“Plus” costs $5.00 a month and lets a subscriber use $500.00 of usage, which costs you $250.00 at the 50% margin: each subscriber who uses it all loses you $245.00 a month.',
      expect.stringMatching(/^The pack “1,000 extra credits” could be paid for and never used: no paid plan on sale spends credit packs/),
    ]);
    expect((await billing.admin.getPlan('plus')).priceCents).toBe(20_00);
    await page.screenshot({ path: `${ARTIFACTS}/checks-plan-form.png`, fullPage: true });

    // Back to sound values: the warnings go.
    await page.fill('input[name=included]', '10');
    await page.selectOption('select[name=overage]', 'credits');
    await page.waitForFunction(() => document.querySelectorAll('#plan-form .checks li').length === 0);
    await page.fill('input[name=price]', '20');
    await page.fill('input[name=included]', '');
    await submitOncePreviewed('#plan-form', 'included');
    await page.locator('.note', { hasText: 'Plan “Plus” saved.' }).waitFor();
    await page.goto(`${panel.base}/admin/pricing`);
    expect(await page.locator('#checks h2').innerText()).toBe('Nothing to look at in your plans and packs');
  });

  it('says on the packs page who can buy each pack, and nobody when no plan on sale spends it', async () => {
    await page.goto(`${panel.base}/admin/packs`);
    expect(await page.locator('tr[data-pack="extra-10"] td').last().innerText()).toBe('accounts on Plus (add-on)');
    await billing.admin.updatePlan('plus', { overage: 'block' });
    await page.reload();
    const soldTo = page.locator('tr[data-pack="extra-10"] td').last();
    expect(await soldTo.innerText()).toBe('nobody: no plan on sale spends it');
    expect(await soldTo.getAttribute('class')).toBe('warn');
    await page.screenshot({ path: `${ARTIFACTS}/checks-packs.png`, fullPage: true });
    await page.goto(`${panel.base}/admin/packs/extra-10`);
    expect(await checks('#pack-form')).toEqual([expect.stringContaining('could be paid for and never used')]);
    await page.screenshot({ path: `${ARTIFACTS}/checks-pack-form.png`, fullPage: true });
    await billing.admin.updatePlan('plus', { overage: 'credits' });
  });

  it('warns on the settings page, as a margin is typed, of the plans it would make lose money', async () => {
    await billing.admin.updatePlan('plus', { includedMicros: 30_000_000 }); // $30 of usage costs $15 at 50%
    await page.goto(`${panel.base}/admin/settings`);
    expect(await checks('form.settings')).toEqual([]);
    await page.fill('input[name=margin]', '30');
    await page.locator('form.settings .checks li[data-check="plan_loses_money"]').waitFor();
    expect(await checks('form.settings')).toEqual([
      '“Plus” costs $20.00 a month and lets a subscriber use $30.00 of usage, which costs you $21.00 at the 30% margin: each subscriber who uses it all loses you $1.00 a month.',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/checks-settings.png`, fullPage: true });
    await page.fill('input[name=margin]', '100');
    await submitOncePreviewed('form.settings', 'margin');
    await page.locator('form.settings .error', { hasText: 'Margin: 100% is too high: a margin must be below 100% (99.99% at most)' }).waitFor();
    await page.fill('input[name=margin]', '40');
    await page.waitForFunction(() => document.querySelectorAll('form.settings .checks li').length === 0);
    await billing.admin.updatePlan('plus', { includedMicros: null });
  });

  it('fills a new plan\'s slug from its name, and warns on the create form before it is created', async () => {
    await page.goto(`${panel.base}/admin/plans`);
    const form = page.locator('#plan-form');
    await form.locator('input[name=name]').pressSequentially('Pro Année 2');
    expect(await form.locator('input[name=slug]').inputValue()).toBe('pro-annee-2');
    await form.locator('input[name=price]').fill('5');
    await form.locator('input[name=included]').fill('500');
    await page.locator('#plan-form .checks li[data-check="plan_loses_money"]', { hasText: '“Pro Année 2” costs $5.00 a month' }).waitFor();
    // A slug of one's own stays.
    await form.locator('input[name=slug]').fill('pro2');
    await form.locator('input[name=name]').fill('Pro Two');
    expect(await form.locator('input[name=slug]').inputValue()).toBe('pro2');
    await page.locator('#plan-form .checks li', { hasText: '“Pro Two” costs $5.00 a month' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/checks-new-plan.png`, fullPage: true });
    expect(await billing.admin.listPlans().then((plans) => plans.some((p) => p.slug === 'pro2'))).toBe(false);
  });

  /**
   * Submits a form once the live previews its last field set off have answered, as a person who
   * reads them does: a submit mid-preview aborts it, which htmx reports as an error.
   */
  async function submitOncePreviewed(form: string, lastField: string) {
    await page.locator(`${form} input[name=${lastField}]`).blur();
    // Checked by a timer in the page: one due past the previews' 250 ms typing delay runs after it,
    // however busy the machine, and by then the delayed preview has started (or answered).
    await page.waitForFunction(
      () => performance.now() - (window as unknown as { lastInput: number }).lastInput > 300 && document.querySelector('.htmx-request') === null,
      null,
      { polling: 50 },
    );
    await page.click(`${form} button[type=submit]`);
  }

  it('names a bad field by its label, in dollars', async () => {
    await page.goto(`${panel.base}/admin/plans/plus`);
    await page.fill('input[name=surcharge]', '25');
    await submitOncePreviewed('#plan-form', 'surcharge');
    await page.locator('#plan-form .error', { hasText: 'Surcharge: $25.00 is more than the price, $20.00' }).waitFor();
    await page.fill('input[name=surcharge]', '0');
    await page.fill('input[name=price]', '1000000000');
    await submitOncePreviewed('#plan-form', 'price');
    await page.locator('#plan-form .error', { hasText: 'Price: $1,000,000,000.00 is more than $100,000,000.00, the most it can be' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/checks-plan-error.png`, fullPage: true });
    expect(problems, JSON.stringify(problems)).toEqual([]);
  });
});
