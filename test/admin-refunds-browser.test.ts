/**
 * Refunding a payment from the admin panel, in a real browser (Debian's chromium driven by
 * playwright-core) against the server app: the account's payments show a Refund button, which
 * opens a page saying what the refund will do; confirmed, the fake processor refunds at once and
 * the payment shows what came back; a dispute told by a processor's webhook flags the account; a
 * refund that failed at the processor afterwards shows as given back, the payment refundable again.
 * Screenshots go to test-artifacts/. Skipped, with a note, when /usr/bin/chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing, type ProcessorEvent } from '../src/index.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { adminPage, ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { packPaid, refundFailed, refunded } from './support/payment-events.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { addTestModel, completed, mustCall } from './support/spend.ts';

noteMissingChromium('the refunds browser test is');

describe.skipIf(!haveChromium)('refunds in the admin panel, in a browser', () => {
  const clock = new TestClock(new Date('2026-03-10T12:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor(), signedProcessor()] });
    await billing.admin.applyPreset('credit-packs');
    await billing.admin.updatePlan('payg', { includedMicros: 0 });
    await addTestModel(billing);
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme Inc' });
    completed(await billing.purchase('acme', 'credits-10', { idempotencyKey: 'buy-1' }));
    completed(await billing.purchase('acme', 'credits-50', { idempotencyKey: 'buy-2' }));
    await mustCall(billing, 'acme', 2_500_000); // $5 of the first pack spent
    served = await serveToBrowser(billing);
    ({ base, browser } = served);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('refunds a half-spent pack after a confirm, shows what came back, and flags a dispute', async () => {
    const problems: string[] = [];
    const page = await adminPage(browser, base, ADMIN_PASSWORD, problems, { refusalsExpected: true });
    await page.goto(`${base}/admin/accounts/acme`);

    const [bought] = (await billing.payments('acme')).filter((p) => p.item === 'credits-10');
    const row = page.locator(`tr[data-payment="${bought!.reference}"]`);
    await row.locator('a', { hasText: 'Refund…' }).click();
    expect(await page.locator('h1').innerText()).toBe('Refund pack credits-10');
    expect(await page.locator('main').innerText()).toContain('owes the rest (its next purchase pays it)');
    expect(await page.inputValue('input[name=amount]')).toBe('10.00');
    await page.fill('input[name=amount]', '12');
    await page.click('#payment-refund button[type=submit]');
    await page.locator('.error', { hasText: 'has $10.00 left to refund; asked for $12.00' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/refund-confirm.png`, fullPage: true });
    await page.fill('input[name=amount]', '10');
    await page.click('#payment-refund button[type=submit]');
    await page.locator('.note', { hasText: 'Refunded $10.00' }).waitFor();
    expect(await row.locator('[data-refund]').innerText()).toMatch(/Refund \$10\.00.*\$5\.00 unused taken back.*\$5\.00 used, owed/s);
    expect(await row.innerText()).not.toContain('Refund…');
    expect(await page.locator('[data-flag="disputed"]').count()).toBe(0);
    // The ledger's entries name the payment: its unused value out of its bucket, its used value owed.
    const named = page.locator('table.grid tr', { hasText: bought!.reference }).filter({ hasText: 'payment refund' });
    expect(await named.allInnerTexts()).toEqual([expect.stringMatching(/payment refund\s+-\$5\.00\s+debt/), expect.stringMatching(/payment refund\s+-\$5\.00\s+pack #\d+/)]);

    // A dispute told by a processor flags the account.
    await billing.upsertAccount({ id: 'acme', kind: 'team', processor: SIGNED });
    const [other] = (await billing.payments('acme')).filter((p) => p.item === 'credits-50');
    await billing.sql.query(`UPDATE payments SET processor = $1 WHERE id = $2`, [SIGNED, other!.id]); // as if paid through it
    await billing.sql.query(`UPDATE buckets SET reference = $1 WHERE reference = $2`, [`payment:${SIGNED}:${other!.reference}`, `payment:fake:${other!.reference}`]);
    const { body, headers } = delivery([{ type: 'payment.disputed', eventId: 'evt_dispute', paymentRef: other!.reference, disputeRef: 'dp_1', amountCents: 20_00, at: clock.now }]);
    await billing.receiveWebhook(SIGNED, body, headers);
    await page.reload();
    expect(await page.locator('[data-flag="disputed"]').innerText()).toBe('Disputed a payment on 2026-03-10 12:00 UTC (a chargeback).');
    expect(await page.locator(`tr[data-payment="${other!.reference}"] [data-refund]`).innerText()).toMatch(/Dispute \$20\.00.*\$22\.00 unused taken back/s);
    await page.locator('#account-payments').screenshot({ path: `${ARTIFACTS}/refund-payments.png` });

    // Settings: the used value of a refunded pack written off instead; the next refund's page says so.
    await page.goto(`${base}/admin/settings`);
    await page.selectOption('select[name=refundUsedValue]', 'write_off');
    await page.click('form.settings button[type=submit]');
    await page.locator('.note', { hasText: 'Settings saved.' }).waitFor();
    expect((await billing.admin.getSettings()).refundUsedValue).toBe('write_off');
    await page.goto(`${base}/admin/accounts/acme/payments/${other!.id}/refund`);
    expect(await page.locator('main').innerText()).toContain('owes nothing (it is written off)');
    expect(await page.inputValue('input[name=amount]')).toBe('30.00');
    expect(problems).toEqual([]);
  }, 60_000);

  it('shows a refund that failed at the processor as given back, and offers the payment for refund again', async () => {
    const receive = async (event: ProcessorEvent) => {
      const { body, headers } = delivery([event]);
      await billing.receiveWebhook(SIGNED, body, headers);
    };
    await billing.admin.updateSettings({ refundUsedValue: 'debt' }); // the test above wrote used value off
    await billing.upsertAccount({ id: 'beta', kind: 'team', name: 'Beta Ltd', processor: SIGNED });
    await receive(packPaid('evt_beta_1', 'beta', 'pi_beta'));
    await mustCall(billing, 'beta', 2_500_000); // $5 of the pack spent
    await receive(refunded('evt_beta_2', 'pi_beta', 're_beta', 10_00));
    await receive(refundFailed('evt_beta_3', 'pi_beta', 're_beta'));

    const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    await page.goto(`${base}/admin/login`);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.goto(`${base}/admin/accounts/beta`);
    const row = page.locator('tr[data-payment="pi_beta"]');
    expect(await row.locator('[data-refund="re_beta"]').innerText()).toMatch(/Refund \$10\.00.*\$5\.00 unused taken back.*\$5\.00 used, owed.*failed at the processor: given back/s);
    expect(await row.locator('td.num').allInnerTexts()).toEqual(['$10.00', '—']); // paid, nothing given back
    expect(await row.locator('a', { hasText: 'Refund…' }).count()).toBe(1);
    // The ledger shows the value taken and given back, each entry naming the payment.
    const named = page.locator('table.grid tr', { hasText: 'pi_beta' }).filter({ hasText: 'payment refund' });
    expect((await named.allInnerTexts()).map((text) => text.match(/payment refund\s+(\S+)/)![1]).sort()).toEqual(['$5.00', '$5.00', '-$5.00', '-$5.00']);
    await page.locator('#account-payments').screenshot({ path: `${ARTIFACTS}/refund-reversed-payments.png` });
  }, 60_000);

  it("says a period's refund leaves the subscription renewing, and it does", async () => {
    await billing.admin.createPlan({ slug: 'team', name: 'Team', priceCents: 30_00 });
    await billing.upsertAccount({ id: 'gamma', kind: 'team' });
    completed(await billing.subscribe('gamma', 'team', { idempotencyKey: 'gamma-team' }));
    const problems: string[] = [];
    const page = await adminPage(browser, base, ADMIN_PASSWORD, problems);
    const [period] = await billing.payments('gamma');
    await page.goto(`${base}/admin/accounts/gamma/payments/${period!.id}/refund`);
    expect(await page.locator('main').innerText()).toContain('The subscription goes on and renews as before: to end it, cancel it from the account\'s page.');
    await page.click('#payment-refund button[type=submit]');
    await page.locator('.note', { hasText: 'Refunded $30.00' }).waitFor();
    const account = await billing.getAccount('gamma');
    expect([(await billing.balance('gamma')).plan.slug, account.planEndsAt]).toEqual(['team', null]);
    expect(problems).toEqual([]);
  });
});
