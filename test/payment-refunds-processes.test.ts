/**
 * An admin's refunds of one payment asked at once from two processes on one PostgreSQL database.
 * A refund holds its payment's lock, not the account's gate mutex, while the processor answers:
 * that lock alone keeps what is left to refund, so refunds that together would pass the payment
 * are refused (the fake processor refunds whatever it is asked), and each key refunds once.
 * Skipped without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing } from '../src/index.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { BillingProcess, type Outcome } from './support/processes.ts';
import { completed } from './support/spend.ts';

describe.skipIf(!POSTGRES_URL)(`refunds of one payment from two processes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: Awaited<ReturnType<(typeof ENGINES)[number]['open']>>;
  let here: Billing;
  let procs: BillingProcess[];

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    here = await createBilling({ database: db.sql, processors: [fakeProcessor()] });
    await here.admin.applyPreset('credit-packs');
    await here.upsertAccount({ id: 'acme', kind: 'team' });
    procs = await Promise.all([0, 1].map(() => BillingProcess.start(db.url!)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all((procs ?? []).map((p) => p.stop()));
    await here?.close();
    await db?.drop();
  });

  const codeOf = (o: Outcome) => (o.ok ? 'ok' : o.error.code);

  it('refunds $6 of a $10 payment once, though six refunds of it, each under its own key, are asked at once from two processes; asked again, each key gives its first answer', async () => {
    const bought = completed(await here.purchase('acme', 'credits-10', { idempotencyKey: 'buy-1' }));
    const payment = (await here.payments('acme')).find((p) => p.reference === bought.paymentRef)!;
    const asks = (p: number) => [0, 1, 2].map((i) => ['acme', payment.id, { amountCents: 6_00 }, { idempotencyKey: `refund-${p}-${i}` }]);
    const burst = async () => (await Promise.all(procs.map((proc, p) => proc.burst('refundPayment', asks(p))))).flat();

    const outcomes = await burst();
    expect(outcomes.map(codeOf).sort()).toEqual(['ok', 'refund_exceeds_payment', 'refund_exceeds_payment', 'refund_exceeds_payment', 'refund_exceeds_payment', 'refund_exceeds_payment']);
    const again = await burst();
    expect(again.map(codeOf)).toEqual(outcomes.map(codeOf));
    expect(again.filter((o) => o.ok).map((o) => (o as { value: { replayed: boolean } }).value.replayed)).toEqual([true]);

    const [after] = (await here.payments('acme')).filter((p) => p.id === payment.id);
    expect(after).toMatchObject({ refundedCents: 6_00, refunds: [expect.objectContaining({ appliedCents: 6_00 })] });
    expect(await here.reconcile('acme')).toMatchObject({ ok: true, problems: [] });
  });
});
