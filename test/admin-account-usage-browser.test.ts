/**
 * An account's usage by model on its admin page, in a real browser: this month's (UTC) calls, tokens,
 * value charged less usage refunds, the refunds and the provider cost of each model, and their
 * total, which is the accounts list's usage this month for it; last month's calls are not in it,
 * nor are the calls past the 50 the recent usage lists. Screenshots go to test-artifacts/.
 * Skipped, with a note, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { ARTIFACTS, haveChromium, noteMissingChromium, openAdminPanel, type AdminPanel } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { addTestModel } from './support/spend.ts';

noteMissingChromium("the account usage's browser tests are");

describe.skipIf(!haveChromium)("an account's usage by model in the admin panel, in a browser", () => {
  const clock = new TestClock(new Date('2026-02-27T12:00:00Z'));
  let billing: Billing;
  let panel: AdminPanel;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    billing = await billingInMemory({ clock: clock.read, processors: [fakeProcessor()] });
    await billing.admin.applyPreset('usage-subscription'); // amounts in dollars
    await addTestModel(billing);
    await billing.admin.setModelPrice({ provider: 'test', model: 'test-big', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '10', output: '20' } });
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
    await billing.credit('acme', { source: 'bonus', amountMicros: 50_000_000, reference: 'launch' });
    let n = 0;
    const record = (model: string, inputTokens: number) =>
      billing.record('acme', { model, provider: 'test', usage: { inputTokens, outputTokens: 0 } }, { idempotencyKey: `call-${++n}` });
    await record('test-big', 100_000); // last month: $1.00 of cost
    clock.set('2026-03-10T12:00:00Z');
    for (let i = 0; i < 55; i++) await record('test-model', 10_000); // $0.01 of cost each, $0.02 of value at 50%
    const big = await record('test-big', 50_000); // $0.50 of cost, $1.00 of value
    await billing.refund(big.usageEventId, { amountMicros: 250_000 }, { idempotencyKey: 'refund-big' });
    panel = await openAdminPanel(billing, problems);
  });

  afterAll(async () => {
    await panel?.close();
    await billing?.close();
  });

  it("adds this month's usage up by model, to the accounts list's usage this month", async () => {
    const { page, base } = panel;
    await page.goto(`${base}/admin/accounts/acme`);
    expect(await page.locator('h2', { hasText: 'Usage this month by model' }).innerText()).toContain('2026-03-01 to 2026-03-31 (UTC)');
    expect(await page.locator('#usage-by-model tr').allInnerTexts()).toEqual([
      'Model\tCalls\tTokens in / out\tUsage value charged\tRefunds taken off\tProvider cost',
      'test-big\t1\t50,000 / 0\t$0.75\t$0.25\t$0.50',
      'test-model\t55\t550,000 / 0\t$1.10\t—\t$0.55',
      'Total\t56\t600,000 / 0\t$1.85\t$0.25\t$1.05',
    ]);
    await page.locator('#usage-by-model').screenshot({ path: `${ARTIFACTS}/account-usage-by-model.png` });
    await page.goto(`${base}/admin/accounts`);
    expect((await page.locator('tr[data-account=acme]').innerText()).split('\t').slice(3)).toEqual(['$1.85', '$1.05', '56', '—']);
    expect(problems).toEqual([]);
  });
});
