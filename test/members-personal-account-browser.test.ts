/**
 * A team made a personal account while it capped members (before that was refused) keeps the
 * caps, and the gate still weighs them: the admin panel lists them on the account's page, and
 * each is lifted there (or by setMemberLimits with none), though no cap may be set on a personal
 * account. In a real browser (Debian's chromium driven by playwright-core); skipped, with a
 * note, without /usr/bin/chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Billing } from '../src/index.ts';
import { haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { addTestModel } from './support/spend.ts';

noteMissingChromium("the personal account's caps test is");

describe.skipIf(!haveChromium)("a former team's caps, in the admin panel", () => {
  const clock = new TestClock(new Date('2026-03-10T12:00:00Z'));
  let billing: Billing;
  let panel: AdminPanel;
  const problems: string[] = [];
  const call = (userId: string) => billing.authorize('solo', { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0, userId });

  beforeAll(async () => {
    billing = await billingInMemory({ clock: clock.read });
    await billing.admin.applyPreset('credit-packs');
    await addTestModel(billing);
    await billing.upsertAccount({ id: 'solo', kind: 'team', name: 'Sam' });
    await billing.credit('solo', { source: 'bonus', amountMicros: 10_000_000, reference: 'seed' });
    await billing.admin.setMemberLimits('solo', 'u_sam', [{ window: 'day', unit: 'usd', amount: 0 }], { name: 'Sam' });
    await billing.admin.setMemberLimits('solo', 'u_kim', [{ window: 'day', unit: 'usd', amount: 0 }], { name: 'Kim' });
    // Made personal before a team with caps was refused that (upsertAccount now asks to lift them first).
    await billing.sql.query(`UPDATE accounts SET kind = 'personal' WHERE id = 'solo'`);
    panel = await openAdminPanel(billing, problems);
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
  });

  it('lists the caps that still hold and lifts them, and sets none', async () => {
    expect(await call('u_sam')).toMatchObject({ ok: false, code: 'member_limit' });
    const { page, base } = panel;
    await page.goto(`${base}/admin/accounts/solo`);
    const members = page.locator('#members');
    expect(await members.locator('tr[data-member]').count()).toBe(2);
    expect(await members.innerText()).toContain('these caps still hold');
    expect(await page.locator('#member-caps').count()).toBe(0); // no cap is set on a personal account
    await members.locator('tr[data-member=u_sam] button:has-text("Lift caps")').click();
    await page.locator('.note', { hasText: 'Member u_sam is no longer capped.' }).waitFor();
    expect(await page.locator('#members tr[data-member]').count()).toBe(1);
    expect((await call('u_sam')).ok).toBe(true);

    // The library lifts them too, and still sets none.
    await expect(billing.admin.setMemberLimits('solo', 'u_kim', [{ window: 'day', unit: 'usd', amount: 1 }])).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await billing.admin.setMemberLimits('solo', 'u_kim', [])).toMatchObject({ limits: [] });
    expect((await billing.balance('solo')).members).toEqual([]);
    expect((await call('u_kim')).ok).toBe(true);
    await page.goto(`${base}/admin/accounts/solo`);
    expect(await page.locator('#members').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
