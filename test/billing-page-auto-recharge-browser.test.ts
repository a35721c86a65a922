/**
 * Auto-recharge on the billing page, in a real browser: once its pack can no longer be bought
 * (the pricing changed under it: a preset with no packs), the page names the pack as it was sold,
 * says that nothing will be charged and why, and still lets the owner turn it off; and a recharge
 * that would pay what is owed with the pack says so, as does its pause when that would pass the
 * monthly cap, and its payment, once made. Skipped, with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { TEST_MODEL } from './support/api-world.ts';
import { billingInMemory, TestClock } from './support/harness.ts';

noteMissingChromium("the billing page's auto-recharge browser test is");

describe.skipIf(!haveChromium)("the billing page's auto-recharge whose pack is no longer sold, in a browser", () => {
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme Robotics' });
    await billing.subscribe('acme', 'plus');
    await billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: 2_000_000, monthlyMaxCount: 3, monthlyMaxMicros: null });
    // The tiers sell no pack: extra-10 is archived, and Plus is kept as a legacy plan.
    await billing.admin.applyPreset('tiers');
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('names the pack, says nothing will be charged, and turns it off', async () => {
    const problems: string[] = [];
    const { url } = await createBillingSession(billing, 'acme', { returnUrl: 'https://app.example/', role: 'owner' }, { baseUrl: served.base });
    const page = await (await served.browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    expect((await billing.balance('acme')).autoRecharge?.state).toBe('on');
    const state = page.locator('[data-figure=auto-recharge-state]');
    expect(await state.innerText()).toBe(
      'On: buys 1,000 extra credits, plus anything owed, on the saved card when less than $2.00 is left, at most 3 times a month. ' +
        'But 1,000 extra credits can no longer be bought on your plan, so nothing will be charged: it turns itself off when the balance runs low. ' +
        'Turn it off, or subscribe to a plan that packs are sold to.',
    );
    // Plus, no longer on sale, at its price as the plans on sale say theirs.
    expect(await page.locator('[data-current] .price').innerText()).toBe('$20.00 a month');
    // Plus (kept, at $20) to Starter ($20) is neither a step up nor down.
    expect(await page.locator('[data-plan=starter] a.button').innerText()).toBe('Switch to Starter…');
    await page.locator('#auto-recharge').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-auto-recharge-unsold-phone.png`, fullPage: true });

    await page.click('#auto-recharge-off button');
    await page.waitForSelector('#note');
    expect(await page.locator('#note').innerText()).toBe('Auto-recharge is off.');
    expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'disabled', pack: 'extra-10', thresholdMicros: 2_000_000, monthlyMaxCount: 3 });
    expect(await state.innerText()).toBe('Off');
    expect(await page.locator('#auto-recharge-off').count()).toBe(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);
  }, 60_000);
});

describe.skipIf(!haveChromium)("the billing page's auto-recharge with something owed, in a browser", () => {
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    billing = await billingInMemory({ clock: new TestClock(new Date('2026-03-10T09:00:00Z')).read, processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.admin.setModelPrice({ ...TEST_MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: 'bolt', kind: 'personal', name: 'Bolt' });
    await billing.subscribe('bolt', 'plus');
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('says a recharge pays what is owed too, and why one that would pass the monthly cap waits', async () => {
    const problems: string[] = [];
    // More than Plus's $20 spent: the rest is owed.
    await billing.record('bolt', { ...TEST_MODEL, usage: { inputTokens: 11_000_000, outputTokens: 0 } }, { idempotencyKey: 'big' });
    expect((await billing.balance('bolt')).debtMicros).toBeGreaterThan(0);
    const { url } = await createBillingSession(billing, 'bolt', { returnUrl: 'https://app.example/', role: 'owner' }, { baseUrl: served.base });
    const page = await (await served.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    // A cap of the pack's price: with what is owed, the recharge would charge more than it.
    await page.fill('#auto-recharge-form input[name=threshold]', '200');
    await page.fill('#auto-recharge-form input[name=maxDollars]', '10');
    await page.click('#auto-recharge-form button');
    await page.waitForSelector('#note');
    expect(await page.locator('#note').innerText()).toBe(
      'Auto-recharge is on: it buys 1,000 extra credits for $10.00, plus anything owed, on the saved card when less than 200 credits is left, at most $10.00 a month.',
    );
    await billing.runRecharges();
    expect((await billing.balance('bolt')).autoRecharge?.state).toBe('paused');
    expect(await billing.payments('bolt')).toHaveLength(1);
    await page.reload();
    // Nothing was charged this month: no cap was reached, the next recharge would pass one.
    expect(await page.locator('[data-figure=auto-recharge-state]').innerText()).toBe(
      'Paused: buys 1,000 extra credits for $10.00, plus anything owed, on the saved card when less than 200 credits is left, at most $10.00 a month, ' +
        'paused until Apr 1, 2026, 00:00 UTC (the next recharge would go past a monthly cap)',
    );
    await page.locator('#auto-recharge').screenshot({ path: `${ARTIFACTS}/billing-page-auto-recharge-owed.png` });

    // With no cap, the recharge pays the pack and what is owed: its payment says both.
    await billing.setAutoRecharge('bolt', { enabled: true, pack: 'extra-10', thresholdMicros: 2_000_000 });
    expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
    const [paid] = await billing.payments('bolt');
    const owed = paid!.recharge!.debtCents;
    expect(owed).toBeGreaterThan(0);
    await page.reload();
    const row = page.locator(`[data-payment="${paid!.reference}"]`);
    expect(await row.locator('[data-recharge]').innerText()).toBe(`Auto-recharge, with $${(owed / 100).toFixed(2)} you owed`);
    expect(await row.locator('td.num').innerText()).toBe(`$${((1_000 + owed) / 100).toFixed(2)}`);
    await page.locator('#payments').screenshot({ path: `${ARTIFACTS}/billing-page-payments-recharge.png` });
    expect(problems).toEqual([]);
  }, 60_000);
});
