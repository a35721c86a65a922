/**
 * Changing an account's plan from its admin page, in a real browser: the form offers the plans on
 * sale other than the account's own, none chosen (an account on a legacy plan had Free chosen,
 * one click from losing a plan it could never take again; one on a plan on sale had that plan
 * chosen, a click from a second period and payment through the fake processor); choosing one
 * opens a page saying what the change does, and only its button changes the plan. At Stripe, a
 * change that opens a checkout says nothing changed yet. Screenshots go to test-artifacts/.
 * Skipped, with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory } from './support/harness.ts';
import { StripeFake } from './support/stripe-fake.ts';

noteMissingChromium("the plan change's browser tests are");

describe.skipIf(!haveChromium)("an account's plan changed from the admin panel, in a browser", () => {
  let billing: Billing;
  let panel: AdminPanel;
  let stripe: StripeFake;
  let page: Page;
  const problems: string[] = [];
  const options = () => page.locator('#plan-change select[name=plan] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  const chosen = () => page.locator('#plan-change select[name=plan]').inputValue();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stripe = await StripeFake.start();
    const atStripe = stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/done' });
    billing = await billingInMemory({ processors: [fakeProcessor(), atStripe] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.upsertAccount({ id: 'ana', kind: 'personal', name: 'Ana' });
    await billing.subscribe('ana', 'plus');
    await billing.admin.applyPreset('tiers'); // Plus: legacy, kept for ana
    await billing.upsertAccount({ id: 'bo', kind: 'personal' });
    await billing.subscribe('bo', 'starter');
    await billing.admin.syncCatalog('stripe');
    await billing.upsertAccount({ id: 'cy', kind: 'personal', processor: 'stripe' });
    panel = await openAdminPanel(billing, problems);
    page = panel.page;
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
    await stripe?.close();
  });

  it('chooses no plan for the owner, and changes one only after a page saying what the change does', async () => {
    await page.goto(`${panel.base}/admin/accounts/ana`);
    expect(await chosen()).toBe('');
    expect(await options()).toEqual(['', 'free', 'starter', 'pro', 'max']);
    await page.click('#plan-change button[type=submit]'); // nothing chosen: the browser asks for a choice
    expect(new URL(page.url()).pathname).toBe('/admin/accounts/ana');
    await page.locator('#plan-change select[name=plan]').selectOption('free');
    await page.click('#plan-change button[type=submit]');
    await page.locator('#plan-confirm').waitFor();
    expect(await page.locator('#plan-confirm').innerText()).toMatch(
      /ana is on Plus \(\$20\.00 a month, \$20\.00 included\)\. It moves now to Free \(free, \$0\.50 included; \$0\.10 a day, \$0\.50 a month\)\.[\s\S]*What is left of Plus's allowance \(\$20\.00\) ends now, and Free's takes its place\.[\s\S]*Plus is off sale \(legacy\): once moved off it, the account cannot take it again\./,
    );
    await page.screenshot({ path: `${ARTIFACTS}/plan-change-confirm.png`, fullPage: true });
    expect((await billing.balance('ana')).plan.slug).toBe('plus'); // nothing changed by looking

    await page.click('#plan button[type=submit]');
    await page.waitForURL(/\/admin\/accounts\/ana$/);
    expect(await page.locator('body').innerText()).toContain('Plan changed to free.');
    expect((await billing.balance('ana')).plan.slug).toBe('free');
    expect(problems).toEqual([]);
  });

  it("offers no change to the plan an account is on", async () => {
    await page.goto(`${panel.base}/admin/accounts/bo`);
    expect(await chosen()).toBe('');
    expect(await options()).toEqual(['', 'free', 'pro', 'max']);
    expect(problems).toEqual([]);
  });

  it('says nothing changed yet when the change is a checkout at Stripe', async () => {
    await page.goto(`${panel.base}/admin/accounts/cy/plan?plan=starter`);
    await page.click('#plan button[type=submit]');
    await page.waitForURL(/\/admin\/accounts\/cy$/);
    expect(await page.locator('body').innerText()).toMatch(/Not changed yet: stripe opened a checkout for starter, and the plan changes once the customer pays there \(https?:\/\/\S+\)\./);
    expect((await billing.balance('cy')).plan.slug).toBe('free');
    expect(problems).toEqual([]);
  });

  it('says nothing of never coming back to the default plan off sale: a cancel falls back to it', async () => {
    await billing.upsertAccount({ id: 'dee', kind: 'personal' });
    await billing.admin.updatePlan('free', { status: 'archived' });
    await page.goto(`${panel.base}/admin/accounts/dee/plan?plan=starter`);
    expect(await page.locator('#plan-confirm').innerText()).toMatch(/dee is on Free \(free, [^)]*\)\. It moves now to Starter/);
    expect(await page.locator('h1').innerText()).toBe('Change the plan of dee'); // no name: its id
    expect(await page.locator('[data-figure=off-sale]').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
