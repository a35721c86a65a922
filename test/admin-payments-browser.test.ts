/**
 * The admin panel's payment pages in a real browser (Debian's chromium driven by playwright-core),
 * against the server app listening on a port, with the real Stripe and Paddle SDKs talking to the
 * local fakes of their APIs: the Payments page shows each processor (never a key), the webhook URL
 * to register, the catalog sync and its last result, and each webhook event with what became of it
 * (applied, duplicate, ignored, failed with its error); an account's page shows its processor,
 * subscription, period and payments, and moves it to another processor, refusing the fake one and
 * a move that would leave a subscription billing elsewhere. Screenshots go to test-artifacts/.
 * Skipped, with a note, when /usr/bin/chromium is not installed.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { ADMIN_PASSWORD, AdminClient, adminApp, text as textOf } from './support/admin-client.ts';
import { ARTIFACTS, haveChromium, launchChromium, noteMissingChromium, serveApp } from './support/browser.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { StripeFake } from './support/stripe-fake.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the admin payment pages' browser tests are");

describe.skipIf(!haveChromium)('the admin panel\'s payment pages in a browser', () => {
  let billing: Billing;
  let stripe: StripeFake;
  let paddle: PaddleFake;
  let server: Awaited<ReturnType<typeof serveApp>>;
  let base: string;
  let browser: Browser;
  /** What went wrong in a page: a script error, a CSP violation, a response of 400 or more not expected. */
  const problems: string[] = [];
  const expectedStatuses: number[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [stripe, paddle] = await Promise.all([StripeFake.start(), PaddleFake.start()]);
    billing = await billingInMemory({
      processors: [
        fakeProcessor(),
        stripeProcessor({ secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBase: stripe.url, successUrl: 'https://app.example/done' }),
        paddleProcessor({ apiKey: paddle.apiKey, webhookSecret: paddle.webhookSecret, apiBase: paddle.url }),
        signedProcessor(),
      ],
    });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.admin.createPack({ slug: 'big', name: 'Big pack', priceCents: 50_00 });
    server = await serveApp(await adminApp(billing));
    base = server.base;
    stripe.webhookUrl = `${base}/webhooks/stripe`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await billing?.close();
    await stripe?.close();
    await paddle?.close();
  });

  async function loggedIn(path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() < 400) return;
      const at = expectedStatuses.indexOf(r.status());
      if (at >= 0) expectedStatuses.splice(at, 1);
      else problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    await page.goto(`${base}${path}`);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}${path}`);
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
  const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

  it('shows the webhook URLs on PUBLIC_URL when it is set, where the processors reach the server, not on the address the panel was opened at', async () => {
    const admin = new AdminClient(await adminApp(billing, { publicUrl: 'https://billing.example.com/' }));
    await admin.login();
    const payments = textOf((await admin.page('/admin/payments')).html);
    expect(payments).toContain('https://billing.example.com/webhooks/stripe');
    expect(payments).toContain('https://billing.example.com/webhooks/paddle');
    expect(payments).not.toContain('http://localhost/webhooks/');
  });

  it('shows each processor and its webhook URL, syncs the catalog with a button, and lists each event with what became of it', async () => {
    const page = await loggedIn('/admin/payments');
    expect(await text(page, 'tr[data-processor="fake"]')).toMatch(/fake\s*new accounts[\s\S]*Charges nobody/);
    expect(await text(page, 'tr[data-processor="stripe"]')).toMatch(/test mode[\s\S]*\/webhooks\/stripe[\s\S]*Never synced/);
    expect(await text(page, 'tr[data-processor="paddle"]')).toContain(`${base}/webhooks/paddle`);
    const html = await page.content();
    for (const secret of [stripe.secretKey, stripe.webhookSecret, paddle.apiKey, paddle.webhookSecret]) expect(html).not.toContain(secret);

    // The catalog to Stripe: made, then found.
    await page.click('tr[data-processor="stripe"] button:has-text("Sync catalog")');
    await page.locator('.note', { hasText: 'Catalog synced to stripe: 3 created, 0 found and stored, 0 unchanged, 0 archived.' }).waitFor();
    const plus = (await billing.admin.getPlan('plus')).processorPrices.stripe!;
    expect(plus).toMatch(/^price_/);
    expect(await text(page, 'table[data-catalog="stripe"] tr[data-item="plan:plus"]')).toMatch(new RegExp(`Plus[\\s\\S]*\\$20\\.00 a month[\\s\\S]*${plus}[\\s\\S]*created`));
    await page.click('tr[data-processor="stripe"] button:has-text("Sync catalog")');
    await page.locator('.note', { hasText: 'Catalog synced to stripe: 0 created, 0 found and stored, 3 unchanged, 0 archived.' }).waitFor();
    expect([...stripe.prices.values()]).toHaveLength(3);

    // Paddle cut off mid-sync: the error beside its button, nothing stored; the next sync finds what was made.
    paddle.loseAnswers = (method, path) => method === 'POST' && path === '/prices';
    expectedStatuses.push(422);
    await page.click('tr[data-processor="paddle"] button:has-text("Sync catalog")');
    await page.locator('tr[data-processor="paddle"] .error', { hasText: 'paddle did not complete the catalog sync' }).waitFor();
    await shot(page, 'payments-sync-failed');
    await page.goto(`${base}/admin/payments`); // the failure is kept, for whoever looks next
    expect(await text(page, 'tr[data-processor="paddle"] [data-sync="failed"]')).toMatch(/^Failed \d{4}-\d\d-\d\d \d\d:\d\d: paddle did not complete/);
    paddle.loseAnswers = undefined;
    await page.click('tr[data-processor="paddle"] button:has-text("Sync catalog")');
    await page.locator('.note', { hasText: 'Catalog synced to paddle: 2 created, 1 found and stored, 0 unchanged, 0 archived.' }).waitFor();
    expect(await page.locator('tr[data-processor="paddle"] [data-sync="failed"]').count()).toBe(0);
    expect([...paddle.prices.values()]).toHaveLength(3);

    // A subscription paid at Stripe: its webhooks applied, one delivered again, one of no interest ignored, one failing.
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme', processor: 'stripe' });
    const pending = (await billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
    const deliveries = await stripe.completeCheckout(pending.checkoutUrl.split('/').pop()!);
    expect(deliveries.map((d) => d.status)).toEqual(deliveries.map(() => 200));
    const invoicePaid = deliveries.find((d) => d.event.type === 'invoice.paid')!.event.id as string;
    expect((await stripe.deliver(invoicePaid)).status).toBe(200);
    const { body, headers } = delivery([{ type: 'payment.succeeded', eventId: 'evt_broken', accountId: 'acme', paymentRef: 'pay_9', packSlug: 'no-such-pack', amountCents: 500, at: new Date() }]);
    await expect(billing.receiveWebhook(SIGNED, body, headers)).rejects.toMatchObject({ code: 'pack_not_found' });

    await page.goto(`${base}/admin/payments`);
    expect(await text(page, `tr[data-event="${invoicePaid}"]`)).toMatch(/subscription\.paid[\s\S]*acme[\s\S]*Applied\s*duplicate ×1/);
    expect(await text(page, 'tr[data-event]:has-text("customer.subscription.created")')).toMatch(/Ignored/);
    expect(await text(page, 'tr[data-event="evt_broken"]')).toMatch(/Failed[\s\S]*no-such-pack/);
    await shot(page, 'payments-processors');
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it("shows an account's processor, subscription, period and payments, and moves it to another processor but never to the fake one", async () => {
    const page = await loggedIn('/admin/accounts/acme');
    expect(await text(page, '[data-figure="processor"]')).toMatch(/^stripe customer cus_/);
    expect(await text(page, '[data-figure="subscription"]')).toMatch(/^active plus at stripe sub_\w+\s+since \d{4}-\d\d-\d\d/);
    expect(await text(page, '[data-figure="period"]')).toMatch(/^Plus: \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);
    // Its payments, from the section beside this one: the period Stripe's invoice paid.
    expect(await text(page, 'section.account-payments table.payments tbody tr')).toMatch(/plus[\s\S]*stripe[\s\S]*in_\w+[\s\S]*\$20\.00/);
    const options = await page.locator('#processor-change select[name=processor] option').allInnerTexts();
    expect(options).toEqual(['stripe (test mode)', `paddle (API at ${paddle.url})`, SIGNED]);

    // Its subscription at Stripe has not ended: moving it is refused, beside the form.
    expectedStatuses.push(422);
    await page.selectOption('#processor-change select[name=processor]', 'paddle');
    await page.click('#processor-change button[type=submit]');
    await page.locator('#processor-change .error', { hasText: /has a subscription at stripe \(sub_\w+\): cancel it first/ }).waitFor();
    expect(await page.locator('#processor-change select[name=processor]').inputValue()).toBe('paddle'); // as chosen
    await shot(page, 'account-processor-refused');
    expect((await billing.getAccount('acme')).processor).toBe('stripe');

    // A form that names the fake processor (which the page never offers) is refused.
    const csrf = await page.locator('#processor-change input[name=_csrf]').inputValue();
    const forged = await page.context().request.post(`${base}/admin/accounts/acme/processor`, { form: { _csrf: csrf, processor: 'fake' } });
    expect(forged.status()).toBe(422);
    expect(await forged.text()).toContain('chosen on the server only');
    expect((await billing.getAccount('acme')).processor).toBe('stripe');

    // An account with no subscription moves, and forgets its customer at the processor it left.
    await billing.upsertAccount({ id: 'globex', kind: 'team', name: 'Globex' });
    await page.goto(`${base}/admin/accounts/globex`);
    expect(await text(page, '[data-figure="processor"]')).toMatch(/^fake no customer there yet/);
    expect(await text(page, '[data-figure="subscription"]')).toBe('none');
    await page.selectOption('#processor-change select[name=processor]', 'paddle');
    await page.click('#processor-change button[type=submit]');
    await page.locator('.note', { hasText: 'The account now pays through paddle: its next checkout goes through it.' }).waitFor();
    expect(await text(page, '[data-figure="processor"]')).toMatch(/^paddle no customer there yet/);
    expect((await billing.getAccount('globex')).processor).toBe('paddle');
    await page.goto(`${base}/admin/accounts/acme`);
    await shot(page, 'account-processor');
    await page.context().close();
    expect(problems).toEqual([]);
    expect(expectedStatuses).toEqual([]);
  });
});
