/**
 * The pricing table as customers would see it, in the admin panel, in a real browser (Debian's
 * chromium driven by playwright-core): the plans and packs on sale with what each gives, as
 * /v1/pricing answers them, and not a pack no plan on sale can spend. A screenshot goes to
 * test-artifacts/. Skipped, with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory } from './support/harness.ts';

noteMissingChromium("the admin pricing table's browser test is");

describe.skipIf(!haveChromium)('the pricing table in the admin panel, in a browser', () => {
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ processors: [fakeProcessor()] });
    await billing.admin.applyPreset('subscription-plus-packs');
    await billing.admin.createPack({ slug: 'big', name: '6,000 extra credits', priceCents: 50_00, valueMicros: 60_000_000, expiresAfterDays: 365, requiresPlan: true });
    await billing.admin.createPlan({ slug: 'team', name: 'Team', priceCents: 99_00, public: false });
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  it('shows the plans and packs on sale as customers would see them, and what /v1/pricing says', async () => {
    const page = await (await served.browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${served.base}/admin/login`);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.goto(`${served.base}/admin/pricing`);
    await page.click('text=See the pricing table as customers do');
    await page.waitForURL('**/admin/pricing/table');
    const card = async (what: string) => (await page.locator(`[data-${what}]`).allInnerTexts()).map((t) => t.replace(/\n+/g, '\n').trim()); // a paragraph is set off by blank lines
    expect(await card('plan')).toEqual([
      expect.stringMatching(/^Free\nFree\n50 credits of usage each month\nAt most 10 credits a day\nAt most 50 credits a month\nUsage stops at what is included\nModels: gpt-4o-mini, [^\n]*\nWhere every new account starts\.$/),
      'Plus\n$20.00 a month\n2,000 credits of usage each month\nGo on past it with credit packs\nEvery model',
    ]);
    expect(await card('pack')).toEqual([
      '1,000 extra credits\n$10.00\n1,000 credits of usage\nNever expires\nFor subscribers to a paid plan',
      '6,000 extra credits\n$50.00\n6,000 credits of usage, 1,000 credits of it a bonus\nLasts 365 days\nFor subscribers to a paid plan',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/pricing-table.png`, fullPage: true });
    // The same read as the API's: the packs go when no paid plan on sale spends them.
    const api = (await (await fetch(`${served.base}/v1/pricing`)).json()) as { plans: { slug: string }[]; packs: { slug: string }[] };
    expect(api.plans.map((p) => p.slug)).toEqual(['free', 'plus']);
    expect(api.packs.map((p) => p.slug)).toEqual(['extra-10', 'big']);
    await billing.admin.updatePlan('plus', { overage: 'block' });
    await page.reload();
    expect(await card('pack')).toEqual([]);
    expect(await page.locator('main').innerText()).toContain('No pack is on sale.');
    expect(problems).toEqual([]);
  });
});
