/**
 * A button the library refuses, in a real browser: the note at the top says it in the
 * customer's words, never the library's (an account's id, a slug, an API route). Here the fake
 * processor an account was made on before a real one took payments refuses to sell. Skipped,
 * with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the billing page's refusals browser test is");

describe.skipIf(!haveChromium)("the billing page's refusals, in a browser", () => {
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ processors: [fakeProcessor({ replacedBy: 'stripe' })] });
    await billing.admin.applyPreset('credit-packs');
    await billing.upsertAccount({ id: 'early', kind: 'personal', name: 'Early Bird' });
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('says a purchase the processor cannot take in plain words, and charges nothing', async () => {
    const problems: string[] = [];
    const { url } = await createBillingSession(billing, 'early', { returnUrl: 'https://app.example/', role: 'owner' }, { baseUrl: served.base });
    const page = await (await served.browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    await page.click('[data-pack=credits-10] button');
    await page.waitForSelector('#note');
    const note = await page.locator('#note').innerText();
    expect(note).toBe('Payments for this account cannot be taken here right now, so nothing was charged: please contact support.');
    expect(await page.locator('#note').getAttribute('role')).toBe('alert');
    expect(await billing.payments('early')).toEqual([]);
    await page.screenshot({ path: `${ARTIFACTS}/billing-page-refused-phone.png` });
    expect(problems).toEqual([]);
  }, 60_000);
});
