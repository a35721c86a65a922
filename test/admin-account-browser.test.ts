/**
 * An account's page in the admin panel, in a real browser (Debian's chromium driven by
 * playwright-core) against the server app: an account past its daily limit says it is refused
 * until its next day starts, in its own time zone, as the gate says; its members' caps are set
 * and lifted from a form; a bonus granted by mistake is taken back after a page that says what
 * will happen; the ledger adds up to what is available, a write-off pending included; a canceled
 * subscription shows its end and is resumed, and is canceled again after a page that says what
 * will happen; its plan is archived after a page naming who is on it; and a price override is removed on the model prices
 * page. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { formatUsd } from '../src/core/money.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { addTestModel, completed, mustCall } from './support/spend.ts';

noteMissingChromium("the account page's browser tests are");

describe.skipIf(!haveChromium)("an account's page in the admin panel, in a browser", () => {
  const clock = new TestClock(new Date('2026-03-10T02:00:00Z'));
  let billing: Billing;
  let panel: AdminPanel;
  let page: Page;
  const problems: string[] = [];
  let mistake: number;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor()] });
    await billing.admin.applyPreset('credit-packs');
    await billing.admin.updatePlan('payg', { includedMicros: 0 });
    await billing.admin.createPlan({ slug: 'pro', name: 'Pro', priceCents: 20_00, overage: 'credits', sort: 1 });
    await addTestModel(billing);
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme Inc', timeZone: 'America/New_York' });
    await billing.credit('acme', { source: 'bonus', amountMicros: 20_000_000, reference: 'launch' });
    // A free trial that expires at 06:00 UTC: written off a week after; until then, a write-off pending.
    await billing.credit('acme', { source: 'bonus', amountMicros: 500_000, reference: 'trial', expiresAt: new Date('2026-03-10T06:00:00Z') });
    mistake = (await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'typo-500' })).bucketId;
    clock.set('2026-03-10T12:00:00Z'); // 08:00 in New York
    const member = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 100_000, outputTokens: 0 }, userId: 'u_7' }, { idempotencyKey: 'u7-call' });
    const { valueMicros } = await mustCall(billing, 'acme', 100_000);
    expect(member.valueMicros).toBe(valueMicros);
    // The day's use is exactly the limit: the smallest call passes it.
    await billing.admin.updatePlan('payg', { limits: [{ window: 'day', unit: 'usd', amount: 2 * valueMicros }] });
    await billing.upsertAccount({ id: 'solo', kind: 'personal', name: 'Solo' });
    completed(await billing.subscribe('solo', 'pro', { idempotencyKey: 'solo-pro' }));
    await billing.cancel('solo', {}, { idempotencyKey: 'solo-cancel' });

    panel = await openAdminPanel(billing, problems, { refusalsExpected: true });
    page = panel.page;
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
  });

  it('says the account is refused until its next day starts in its time zone, with the gate\'s reason', async () => {
    await page.goto(`${panel.base}/admin/accounts/acme`);
    const banner = page.locator('[data-figure="refused"]');
    expect(await banner.getAttribute('data-code')).toBe('daily_limit');
    // Midnight in New York is 04:00 UTC (daylight time since March 8).
    expect(await banner.innerText()).toMatch(/^Refused now until 2026-03-11 00:00 \(America\/New_York, 2026-03-11 04:00 UTC\): This account has reached its daily limit of [\d.,]+ credits\.$/);
    const gate = await billing.canStart('acme');
    // The gate's reason; its remedy's sentence is what the banner's "until" says in the account's time.
    const reason = (await banner.innerText()).replace(/^Refused now until .*? UTC\): /, '');
    expect(gate.ok ? {} : { reason: gate.reason, message: gate.message }).toEqual({ reason, message: `${reason} More becomes available at 04:00 UTC on Mar 11, 2026.` });
    // Value is left: the tile alone would not say it is refused.
    expect(await page.locator('[data-figure="available"]').innerText()).not.toBe('$0.00');
    // The limits show what the gate weighs: the day's value used is the limit itself.
    const [day] = (await billing.balance('acme')).limits;
    expect(day!.used).toBe(day!.amount);
    expect(await page.locator('#limits-note').innerText()).toContain('A refund gives back value, not usage');
    await page.screenshot({ path: `${ARTIFACTS}/account-refused.png`, fullPage: true });

    clock.set('2026-03-11T04:00:00Z');
    await page.reload();
    expect(await banner.count()).toBe(0);
    clock.set('2026-03-10T12:00:00Z');
  });

  it("sets a member's caps from the form, shows their use, refuses a bad one beside the form, and lifts them", async () => {
    await page.goto(`${panel.base}/admin/accounts/acme#members`);
    await page.fill('#member-caps input[name=userId]', 'u_7');
    await page.fill('#member-caps input[name=name]', '  Grace Hopper ');
    await page.fill('#member-caps input[name=dayUsd]', '1');
    await page.fill('#member-caps input[name=monthTokens]', '2,000,000');
    await page.click('#member-caps button[type=submit]');
    await page.locator('.note', { hasText: "Member u_7's caps are set." }).waitFor();
    expect((await billing.balance('acme')).members).toEqual([
      {
        userId: 'u_7', name: 'Grace Hopper',
        limits: [expect.objectContaining({ window: 'day', unit: 'usd', amount: 1_000_000 }), expect.objectContaining({ window: 'month', unit: 'tokens', amount: 2_000_000, used: 100_000 })],
      },
    ]);
    const rows = page.locator('tr[data-member="u_7"]');
    expect(await rows.count()).toBe(2);
    // The member by name, the user id small beside it.
    expect(await rows.first().locator('td').first().innerText()).toBe('Grace Hopper u_7');
    expect(await rows.first().locator('td small code').innerText()).toBe('u_7');
    expect(await rows.nth(1).innerText()).toMatch(/2,000,000 tokens a month\s+100,000 tokens\s+0 tokens\s+2026-04-/);

    await page.fill('#member-caps input[name=userId]', 'u_8');
    await page.fill('#member-caps input[name=name]', 'x'.repeat(101));
    await page.fill('#member-caps input[name=dayUsd]', '1');
    await page.click('#member-caps button[type=submit]');
    await page.locator('#member-caps .error', { hasText: 'name: must be at most 100 characters' }).waitFor();
    await page.fill('#member-caps input[name=name]', '');
    await page.fill('#member-caps input[name=dayUsd]', 'lots');
    await page.click('#member-caps button[type=submit]');
    await page.locator('#member-caps .error', { hasText: 'A day, $: "lots" is not an amount of dollars' }).waitFor();
    expect(await page.inputValue('#member-caps input[name=userId]')).toBe('u_8');
    expect((await billing.balance('acme')).members.map((m) => m.userId)).toEqual(['u_7']);
    await page.locator('#members').screenshot({ path: `${ARTIFACTS}/account-members.png` });

    await rows.first().locator('button', { hasText: 'Lift caps' }).click();
    await page.locator('.note', { hasText: 'Member u_7 is no longer capped.' }).waitFor();
    expect((await billing.balance('acme')).members).toEqual([]);
  });

  it('takes back a bonus granted by mistake after a page that says what will happen, never more than is left', async () => {
    await page.goto(`${panel.base}/admin/accounts/acme`);
    const before = (await billing.balance('acme')).availableMicros;
    await page.locator(`a[href$="/buckets/${mistake}/take-back"]`).click();
    expect(await page.locator('h1').innerText()).toBe(`Take back bonus #${mistake}`);
    const said = await page.locator('#take-back-confirm').innerText();
    expect(said).toContain('A bonus of $5.00 granted to acme');
    expect(said).toContain('It has $5.00 left unspent.');
    expect(said).toContain('what was already spent stays spent');
    expect(await page.inputValue('input[name=amount]')).toBe('5');
    await page.fill('input[name=amount]', '6');
    await page.click('#take-back button[type=submit]');
    await page.locator('.error', { hasText: 'has $5.00 left unspent: at most $5.00 can be taken back, not $6.00' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/account-take-back.png`, fullPage: true });
    await page.fill('input[name=amount]', '2');
    await page.click('#take-back button[type=submit]');
    await page.locator('.note', { hasText: `Took back $2.00 of bucket #${mistake}; it has $3.00 left.` }).waitFor();
    expect((await billing.balance('acme')).availableMicros).toBe(before - 2_000_000);
    expect(await page.locator('table.grid tr', { hasText: `bonus #${mistake}` }).filter({ hasText: 'adjustment' }).innerText()).toMatch(/adjustment\s+-\$2\.00/);
    expect((await billing.reconcile('acme')).problems).toEqual([]);
  });

  it('adds the ledger up to what is available, the expired trial a write-off pending', async () => {
    await page.goto(`${panel.base}/admin/accounts/acme`);
    const totals = await billing.admin.ledgerTotals('acme');
    const table = page.locator('#ledger-totals');
    expect(await table.locator('tr[data-line^="write-off-"]').innerText()).toMatch(/bonus #\d+ expired 2026-03-10 06:00 UTC: to be written off.*\s+−\$0\.50/);
    expect(await table.locator('tr[data-line="ledger"] td.num').innerText()).toBe(formatUsd(totals.ledgerMicros));
    const available = await table.locator('tr[data-line="available"] th.num').innerText();
    const tile = (await billing.balance('acme')).availableMicros;
    expect(totals.availableMicros).toBe(tile);
    expect(totals.ledgerMicros - 500_000).toBe(tile);
    expect(available).toBe(formatUsd(tile));
    await table.screenshot({ path: `${ARTIFACTS}/account-ledger-totals.png` });
  });

  it('shows when a canceled subscription ends, resumes it, and cancels it again after a page that says what will happen', async () => {
    await page.goto(`${panel.base}/admin/accounts/solo`);
    expect(await page.locator('[data-figure="plan-ends"]').innerText()).toBe('Canceled: ends 2026-04-10 12:00 UTC, then the default plan');
    await page.screenshot({ path: `${ARTIFACTS}/account-canceled.png` });
    const before = await billing.balance('solo');
    const subscribed = (await billing.admin.accountSubscription('solo')).subscription!;
    await page.click('#resume button[type=submit]');
    await page.locator('.note', { hasText: 'Pro resumed: it renews as before.' }).waitFor();
    expect(await page.locator('[data-figure="plan-ends"]').count()).toBe(0);
    expect((await billing.getAccount('solo')).planEndsAt).toBeNull();
    // The same subscription runs on, its period and allowance untouched: nothing is subscribed again.
    const after = await billing.balance('solo');
    expect(after.period).toEqual(before.period);
    expect(after.availableMicros).toBe(before.availableMicros);
    expect((await billing.admin.accountSubscription('solo')).subscription).toEqual({ ...subscribed, cancelAt: null });

    // Canceling again asks first: the account, its plan, when it ends and what it falls back to.
    await page.click('#cancel-link');
    await page.waitForURL(`${panel.base}/admin/accounts/solo/cancel`);
    const confirm = await page.locator('#cancel-confirm').innerText();
    expect(confirm).toContain('solo is on Pro ($20.00 a month');
    expect(confirm).toContain('until the period ends, 2026-04-10 12:00 UTC');
    expect(confirm).toMatch(/falls back to Pay as you go, the default plan \(free/);
    await page.screenshot({ path: `${ARTIFACTS}/account-cancel-confirm.png` });
    expect((await billing.getAccount('solo')).planEndsAt).toBeNull();
    await page.click('#cancel button[type=submit]');
    await page.locator('.note', { hasText: 'The subscription ends with its period.' }).waitFor();
    expect((await billing.getAccount('solo')).planEndsAt).toEqual(after.period.end);
  });

  it('archives the plan an account is on after a page naming it, and the account stays on it', async () => {
    await page.goto(`${panel.base}/admin/plans/pro`);
    await page.click('a.button.danger');
    await page.waitForURL(`${panel.base}/admin/plans/pro/archive`);
    const confirm = await page.locator('#archive-confirm').innerText();
    expect(confirm).toContain('1 account (solo) is on Pro now.');
    expect(confirm).toContain('The accounts on it stay on it');
    await page.screenshot({ path: `${ARTIFACTS}/plan-archive-confirm.png` });
    expect((await billing.admin.getPlan('pro')).status).toBe('active');
    await page.click('#archive button[type=submit]');
    await page.locator('.note', { hasText: 'Plan “Pro” is now archived.' }).waitFor();
    expect((await billing.admin.getPlan('pro')).status).toBe('archived');
    expect((await billing.balance('solo')).plan.slug).toBe('pro');
  });

  it('removes a price override after a page saying what that does: the next call is priced as before it', async () => {
    await billing.admin.setModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: '2026-03-05T00:00:00Z', rates: { input: '9', output: '9' } });
    await page.goto(`${panel.base}/admin/prices?q=test-model`);
    const row = page.locator('tr', { hasText: '2026-03-05' }).filter({ has: page.locator('a', { hasText: 'Remove…' }) });
    expect(await row.innerText()).toMatch(/test-model\s+test\s+2026-03-05\s+\$9\.00\s+\$9\.00/);
    await row.locator('a', { hasText: 'Remove…' }).click();
    // Nothing is removed until confirmed.
    const asked = await page.locator('#remove-confirm').innerText();
    expect(asked).toContain('test-model at test, from 2026-03-05: input $9.00, output $9.00 ($ per 1M tokens).');
    expect(asked).toContain('when neither knows the model, refused or charged the fallback price');
    expect((await billing.admin.priceOf({ model: 'test-model', provider: 'test' }))?.rates).toMatchObject({ input: '9', output: '9' });
    await page.locator('button', { hasText: 'Confirm: remove the override' }).click();
    await page.locator('.note', { hasText: 'Override removed: test-model at test from 2026-03-05. Calls from now on are priced as if it had never been set' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/prices-override-removed.png` });
    expect((await billing.admin.priceOf({ model: 'test-model', provider: 'test' }))?.rates).toMatchObject({ input: '1', output: '2' });
    expect(problems).toEqual([]);
  });
});
