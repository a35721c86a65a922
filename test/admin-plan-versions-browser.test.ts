/**
 * Plan versions in the admin panel, in a real browser: after the tiers mode made Pro $100, the
 * plan's page counts the two subscribers still on the $20 version they bought; moving them goes
 * through a page that names each, with what it pays now and from its next period, and only the
 * confirmation moves them. Screenshots go to test-artifacts/. Skipped, with a note, without
 * /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the plan versions' browser tests are");

describe.skipIf(!haveChromium)('plan versions in the admin panel, in a browser', () => {
  let billing: Billing;
  let panel: AdminPanel;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ processors: [fakeProcessor()] });
    await billing.admin.applyPreset('usage-subscription');
    for (const id of ['ana', 'bo']) {
      await billing.upsertAccount({ id, kind: 'personal' });
      await billing.subscribe(id, 'pro');
    }
    await billing.admin.applyPreset('tiers');
    panel = await openAdminPanel(billing, problems);
    page = panel.page;
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
  });

  it('counts the subscribers on older versions, names them before moving them, and moves them only when confirmed', async () => {
    await page.goto(`${panel.base}/admin/plans/pro`);
    expect(await page.locator('#plan-versions').innerText()).toMatch(/2 subscribers on older versions keep what they bought until moved/);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-plan.png`, fullPage: true });

    await page.click('#plan-versions a.button');
    expect(await page.locator('#move-confirm p').first().innerText()).toMatch(/Version 2 of Pro: \$100\.00 a month, \$100\.00 of usage included, limits: none\. 2 accounts are on an older version\./);
    expect(await page.locator('#move-accounts tbody tr').allInnerTexts()).toEqual([
      'ana\tversion 1\t$20.00\t$20.00\t$100.00 a month, $100.00 included\t\nAt its renewal\nNow',
      'bo\tversion 1\t$20.00\t$20.00\t$100.00 a month, $100.00 included\t\nAt its renewal\nNow',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-confirm.png`, fullPage: true });
    expect((await billing.balance('ana')).plan.priceCents).toBe(20_00); // nothing moved by looking

    await page.click('#move button[value=now]');
    await page.waitForURL(/\/admin\/plans\/pro$/);
    expect(await page.locator('body').innerText()).toMatch(/Moved 2 accounts to version 2\./);
    expect(await page.locator('#plan-versions').innerText()).toMatch(/Every subscriber is on this version/);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-moved.png`, fullPage: true });
    for (const id of ['ana', 'bo']) expect((await billing.balance(id)).plan).toMatchObject({ priceCents: 100_00, limits: [] });
    expect(problems).toEqual([]);
  });
});
