/**
 * A member's caps on the billing page, in a real browser: a cap of 0 (the member may use none of
 * the pool) is reached from the start, and its bar is drawn full, in the member's view and in
 * the owner's, as a cap lowered below what the member used is. Skipped, with a note, without
 * /usr/bin/chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { TEST_MODEL } from './support/api-world.ts';
import { haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';

noteMissingChromium("the billing page's members' caps test is");

describe.skipIf(!haveChromium)("members' caps on the billing page, in a browser", () => {
  const clock = new TestClock(new Date('2026-03-01T09:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    billing = await billingInMemory({ clock: clock.read });
    await billing.admin.applyPreset('credit-packs');
    await billing.admin.setModelPrice({ ...TEST_MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
    await billing.credit('acme', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
    // Zed used $0.02 of the pool; then capped at $0.005 a month, below it.
    await billing.record('acme', { ...TEST_MODEL, userId: 'u_zed', usage: { inputTokens: 10_000, outputTokens: 0 } }, { idempotencyKey: 'zed' });
    await billing.admin.setMemberLimits('acme', 'u_zed', [{ window: 'month', unit: 'usd', amount: 5_000 }], { name: 'Zed' });
    // Nia may use none of it, and has used none.
    await billing.admin.setMemberLimits('acme', 'u_nia', [{ window: 'day', unit: 'usd', amount: 0 }], { name: 'Nia' });
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  /** Each bar's label and how full it is drawn (0 to 1), for the viewer. */
  async function bars(userId: string, role: 'member' | 'owner') {
    const { url } = await createBillingSession(billing, 'acme', { returnUrl: 'https://app.example/', userId, role }, { baseUrl: served.base });
    const page = await (await served.browser.newContext()).newPage();
    await page.goto(url);
    return page.evaluate(() => [...document.querySelectorAll('#limits progress')].map((p) => [p.getAttribute('aria-label'), (p as HTMLProgressElement).position]));
  }

  it('draws a cap of 0 full, as it is reached, for the member and the owner', async () => {
    expect(await billing.authorize('acme', { ...TEST_MODEL, userId: 'u_nia', inputTokens: 1, maxOutputTokens: 1 })).toMatchObject({ ok: false, code: 'member_limit' });
    expect(await bars('u_nia', 'member')).toEqual([['Today (your cap): 0 credits of 0 credits', 1]]);
    expect(await bars('u_zed', 'member')).toEqual([['This month (your cap): 2 credits of 0.5 credits', 1]]);
    expect(await bars('u_boss', 'owner')).toEqual([
      ['This month, cap of Zed: 2 credits of 0.5 credits', 1],
      ['Today, cap of Nia: 0 credits of 0 credits', 1],
    ]);
  });
});
