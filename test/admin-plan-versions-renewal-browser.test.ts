/**
 * Plan versions at a renewal, in the admin panel, in a real browser: a pricing mode applied with
 * its default, "keep subscribers on their versions", after a confirmation naming the subscriber
 * and what it pays before and after, leaves it on the $20 version it bought; and a Stripe
 * subscriber moved "at its renewal" from the plan's page keeps $20 until Stripe's next paid
 * invoice (the Stripe SDK against the local fake), then is on the $100 version, once, the
 * account's page saying the move before it happens. Screenshots go to test-artifacts/. Skipped,
 * with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { StripeFake } from './support/stripe-fake.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the plan versions' renewal browser tests are");

describe.skipIf(!haveChromium)('plan versions at a renewal in the admin panel, in a browser', () => {
  let billing: Billing;
  let stripe: StripeFake;
  let panel: AdminPanel;
  let page: Page;
  const problems: string[] = [];
  /** The billing's clock: the real one, moved on past a renewal when the test says. */
  let aheadMs = 0;

  /** Every event Stripe made since `from`, delivered as Stripe signs them. */
  async function deliver(from: number) {
    for (const event of stripe.events.slice(from)) {
      const body = JSON.stringify(event);
      await billing.receiveWebhook('stripe', body, new Headers({ 'stripe-signature': stripe.sign(body) }));
    }
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stripe = await StripeFake.start();
    billing = await billingInMemory({
      clock: () => new Date(Date.now() + aheadMs),
      processors: [fakeProcessor(), stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/done' })],
    });
    await billing.admin.applyPreset('usage-subscription');
    await billing.admin.syncCatalog('stripe');
    await billing.upsertAccount({ id: 'ana', kind: 'personal' }); // the fake processor
    await billing.subscribe('ana', 'pro');
    await billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' });
    const { checkoutUrl } = (await billing.subscribe('acme', 'pro', { idempotencyKey: 'acme-pro' })) as { checkoutUrl: string };
    const from = stripe.events.length;
    await stripe.completeCheckout(checkoutUrl.split('/').pop()!);
    await deliver(from);
    panel = await openAdminPanel(billing, problems);
    page = panel.page;
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
    await stripe?.close();
  });

  it('applies a mode that keeps subscribers on the version they bought, after a confirmation that names them with what they pay', async () => {
    await page.goto(`${panel.base}/admin/pricing/tiers/apply`);
    const choice = page.locator('#subscribers');
    expect(await choice.locator('input[value=keep]').isChecked()).toBe(true);
    expect(await choice.locator('label').first().innerText()).toMatch(/Keep them on their versions \(recommended\): 2 accounts \(acme, ana\) go on paying \$20\.00 a month for Pro, as bought; new subscribers pay \$100\.00/);
    expect(await choice.locator('label').nth(1).innerText()).toMatch(/Move them at renewal: 2 accounts \(acme, ana\) pay \$20\.00 → \$100\.00 a month for Pro from their next period/);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-mode-confirm.png`, fullPage: true });

    await page.click('#apply button[type=submit]');
    await page.waitForURL(/\/admin\/pricing$/);
    expect(await page.locator('body').innerText()).toMatch(/Applied “\$20 \/ \$100 \/ \$200 tiers”\. 2 subscribers keep their version\./);
    expect((await billing.getAccount('ana')).planId).toBe((await billing.admin.getPlan('pro')).id);
    expect((await billing.balance('ana')).plan).toMatchObject({ slug: 'pro', priceCents: 20_00 });
    expect((await billing.admin.getPlan('pro')).priceCents).toBe(100_00);

    await page.goto(`${panel.base}/admin/plans/pro`);
    expect(await page.locator('#plan-versions').innerText()).toMatch(/2 subscribers on older versions keep what they bought until moved\./);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-kept.png`, fullPage: true });

    // A new price on the form asks first, naming who keeps the version they are on; Cancel saves nothing.
    await page.fill('input[name=price]', '120');
    await page.click('#plan-form button[type=submit]');
    expect(await page.locator('#save-confirm').innerText()).toMatch(
      /Saving makes version 3 of Pro, for new subscribers: price \$100\.00 → \$120\.00; included value \$100\.00 → \$120\.00\. 2 accounts \(acme, ana\) on it keep the versions they are on, as bought/,
    );
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-save-confirm.png`, fullPage: true });
    await page.click('#save-confirm a:text("Cancel")');
    await page.waitForURL(/\/admin\/plans\/pro$/);
    expect((await billing.admin.getPlan('pro')).priceCents).toBe(100_00);
  });

  it("moves a Stripe subscriber at its renewal: Stripe's price changes with nothing billed, and the $100 version opens with the next invoice.paid", async () => {
    await billing.admin.syncCatalog('stripe'); // Pro's $100 price at Stripe
    const subscriptionRef = (await billing.admin.accountSubscription('acme')).subscription!.reference;
    const invoicesBefore = stripe.invoices.size;
    await page.goto(`${panel.base}/admin/plans/pro/move`);
    const row = page.locator('#move-accounts tr[data-account=acme]');
    expect(await row.innerText()).toMatch(/acme\s*stripe\s*version 1\s*\$20\.00\s*\$20\.00\s*\$100\.00 a month, \$100\.00 included/);
    expect(await row.locator('button[value=now]').count()).toBe(0); // at Stripe, only at its renewal
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-move-choices.png`, fullPage: true });
    const from = stripe.events.length;
    await row.locator('button[value=renewal]').click();
    await page.waitForURL(/\/move$/);
    expect(await page.locator('body').innerText()).toMatch(/1 account moves to version 2 at its renewal\./);
    expect(stripe.subscriptions.get(subscriptionRef)!.items.data[0].price.id).toBe((await billing.admin.getPlan('pro')).processorPrices.stripe);
    expect(stripe.invoices.size).toBe(invoicesBefore); // nothing billed now
    await deliver(from);

    // The plan's page lists the move waiting, with its date and a way to call it off; at a phone's width too.
    await page.goto(`${panel.base}/admin/plans/pro`);
    expect(await page.locator('#moves-waiting tbody tr').allInnerTexts()).toEqual([expect.stringMatching(/^acme\t\d{4}-\d\d-\d\d\t\$20\.00\t\$100\.00\t\n?Call off$/)]);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-waiting.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-waiting-phone.png`, fullPage: true });
    await page.goto(`${panel.base}/admin/plans/pro/move`);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-move-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1360, height: 900 });

    await page.goto(`${panel.base}/admin/accounts/acme`);
    const { paidThrough } = await billing.getAccount('acme');
    expect(await page.locator('#version-move').innerText()).toMatch(
      new RegExp(`On version 1 of Pro \\(\\$20\\.00 a month, \\$20\\.00 included\\): moves to version 2 \\(\\$100\\.00 a month, \\$100\\.00 included\\) on ${paidThrough!.toISOString().slice(0, 10)}, when its next period opens; stripe bills the new price from that invoice\\.`),
    );
    expect(await page.locator('[data-figure=plan]').innerText()).toBe('Pro');
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-account-waiting.png`, fullPage: true });
    expect((await billing.balance('acme')).plan.priceCents).toBe(20_00);

    // Stripe renews: an invoice at $100, paid; the account is on version 2 from that period, once however often it is told.
    const renewal = stripe.events.length;
    await stripe.renew(subscriptionRef);
    aheadMs = paidThrough!.getTime() - Date.now() + 3_600_000;
    await deliver(renewal);
    await deliver(renewal);
    const payments = await billing.payments('acme');
    expect(payments.map((p) => p.amountCents)).toEqual([100_00, 20_00]);
    expect(await billing.balance('acme')).toMatchObject({ plan: { priceCents: 100_00, limits: [] }, availableMicros: 100_000_000 });
    await page.reload();
    expect(await page.locator('#version-move').count()).toBe(0);
    expect(await page.locator('[data-figure=plan]').locator('xpath=..').innerText()).toMatch(/\$100\.00 a month/);
    await page.screenshot({ path: `${ARTIFACTS}/plan-versions-account-renewed.png`, fullPage: true });
    expect((await billing.reconcile('acme')).problems).toEqual([]);
    expect(problems).toEqual([]);
  });
});
