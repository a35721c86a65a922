/**
 * An account's auto-recharge on its admin page, in a real browser (Debian's chromium driven by
 * playwright-core) against the server app: the setting, its state, why it turned itself off and
 * what the customer can do, and the latest recharges. A screenshot goes to test-artifacts/.
 * Skipped, with a note, when /usr/bin/chromium is not installed.
 */
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing, type DeclineCode } from '../src/index.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { fundedAccounts, mustCall } from './support/spend.ts';

noteMissingChromium('the auto-recharge admin browser test is');

describe.skipIf(!haveChromium)('auto-recharge on the account admin page, in a browser', () => {
  const clock = new TestClock(new Date('2026-03-10T12:00:00Z'));
  const card: { declining?: DeclineCode } = {};
  let billing: Billing;
  let served: ServedBrowser;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor({ decline: () => card.declining })] });
    // One recharge that went through, then a card that declines the next.
    await fundedAccounts(billing, ['acme'], 3_000_000);
    await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000, monthlyMaxCount: 4 });
    while ((await billing.balance('acme')).availableMicros >= 2_000_000) await mustCall(billing, 'acme', 400_000);
    await billing.runRecharges();
    clock.advance(3_600_000);
    card.declining = 'card_declined';
    while ((await billing.balance('acme')).availableMicros >= 2_000_000) await mustCall(billing, 'acme', 1_000_000);
    await billing.runRecharges();
    await billing.purchase('acme', 'credits-10'); // and a pack bought by hand
    served = await serveToBrowser(billing);
    ({ base, browser } = served);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('shows the setting, that it turned off on a declined card and what to do, and the last recharges', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await page.goto(`${base}/admin/accounts/acme`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin/accounts/acme`);

    const section = page.locator('#auto-recharge');
    expect(await section.locator('h2').innerText()).toBe('Auto-recharge');
    expect(await section.locator('[data-figure=auto-recharge-state]').innerText()).toBe('off');
    const off = await section.locator('[data-figure=auto-recharge-off]').innerText();
    expect(off).toContain('the card on file was declined for the recharge of $10.00 (Your card was declined).');
    expect(off).toContain('The customer updates the card (or buys a pack); then turn it on again.');
    expect(await section.innerText()).toMatch(/the pack credits-10 when less than \$2\.00 is available/);
    expect(await section.innerText()).toMatch(/4 recharges/);
    const rows = section.locator('#recharges tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).innerText()).toMatch(/declined\s+\$10\.00.*card_declined: Your card was declined\./s);
    expect(await rows.nth(1).innerText()).toMatch(/succeeded\s+\$10\.00.*fake_pay_/s);
    // The payment it made says it was an auto-recharge, beside the pack bought by hand.
    const packs = (await billing.payments('acme')).filter((p) => p.kind === 'pack');
    const recharged = packs.find((p) => p.recharge !== null);
    const bought = packs.find((p) => p.recharge === null);
    expect(await page.locator(`table.payments tr[data-payment="${recharged!.reference}"] td`).nth(1).innerText()).toBe('Auto-recharge of pack credits-10');
    expect(await page.locator(`table.payments tr[data-payment="${bought!.reference}"] td`).nth(1).innerText()).toBe('Pack credits-10');
    await section.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}/account-auto-recharge.png`, fullPage: true });
    await section.screenshot({ path: `${ARTIFACTS}/account-auto-recharge-section.png` });
    expect(problems).toEqual([]);
  }, 60_000);
});
