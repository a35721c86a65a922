/**
 * A limit's "used" on the account's admin page is what the gate weighs (core/gate.ts limitUse,
 * read by both): after a usage refund it still counts the refunded call, as charged, and the gate
 * lets a call through exactly when the page's used + held + the call fit under the limit. On
 * PGlite, and on PostgreSQL when TEST_DATABASE_URL is set.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, mustCall } from './support/spend.ts';

const CALL = 100_000; // input tokens on test-model ($1 per 1M) at 50%: $0.20 of value
const LIMIT = 600_000; // $0.60 a day: three such calls

describe.each(ENGINES)('limits after a usage refund ($name)', (engine) => {
  const t = useBilling(engine);

  beforeEach(async () => {
    const { billing } = t;
    await billing.admin.applyPreset('credit-packs');
    await billing.admin.updateSettings({ marginBps: 5000, displayUnit: 'usd' });
    await billing.admin.updatePlan('payg', { includedMicros: 0, limits: [{ window: 'day', unit: 'usd', amount: LIMIT }] });
    await addTestModel(billing);
    await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
    await billing.credit('acme', { source: 'bonus', amountMicros: 10_000_000, reference: 'gift' });
  });

  it('the page shows what the gate weighs: a refunded call still counts, and a call passes exactly when used + held + it fit', async () => {
    const { billing } = t;
    const first = await mustCall(billing, 'acme', CALL);
    await mustCall(billing, 'acme', CALL);
    await billing.refund(first.usageEventId, {}, { idempotencyKey: 'refund-first' });
    expect((await billing.balance('acme')).availableMicros).toBe(10_000_000 - 200_000); // the value came back

    const [limit] = (await billing.balance('acme')).limits;
    expect(limit).toMatchObject({ window: 'day', unit: 'usd', amount: LIMIT, used: 400_000, held: 0 });

    // The admin page says the same.
    const admin = new AdminClient(await adminApp(billing));
    await admin.login();
    const page = text((await admin.page('/admin/accounts/acme')).html).replace(/\s+/g, ' ');
    expect(page).toMatch(/Limits .*a day \$0\.60 \$0\.40 \$0\.00/);

    // The gate agrees: with a hold open, the page's used + held + the next call decide.
    const hold = await billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: 50_000, maxOutputTokens: 0 });
    if (!hold.ok) throw new Error(`refused: ${hold.code}`);
    const [withHold] = (await billing.balance('acme')).limits;
    expect(withHold).toMatchObject({ used: 400_000, held: 100_000 });
    const room = LIMIT - withHold!.used - withHold!.held; // $0.10: 50,000 tokens
    const fits = await billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: room / 2, maxOutputTokens: 0 });
    expect(fits.ok).toBe(true);
    if (fits.ok) await billing.release(fits.hold.id);
    const over = await billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: room / 2 + 1, maxOutputTokens: 0 });
    // Refused, though it would fit had the refund given its $0.20 of room back: the gate counts as charged, as the page does.
    expect(over).toMatchObject({ ok: false, code: 'daily_limit' });
  });
});
