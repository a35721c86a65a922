/**
 * Reconcile on both engines reads an account's history in a pass over each table, never once
 * per usage event or per payment: no statement it sends has a subquery run for each row (a
 * SubPlan), which on an account of a million events read the ledger a million times (and once
 * more in full for each refunded payment). It still finds an event whose value its entries did
 * not draw, and a refund the ledger does not show.
 */
import { describe, expect, it } from 'vitest';
import { fakeProcessor } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';
import { planOf, withRecordedBilling } from './support/recording-sql.ts';
import { addTestModel, completed, mustCall } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`reconcile's statements on ${engine.name}`, () => {
    it('run no subquery once per row, and still find what disagrees', async () => {
      await withRecordedBilling(engine, async ({ billing, sql, seen }) => {
        await billing.admin.applyPreset('credit-packs');
        await billing.admin.updatePlan('payg', { includedMicros: 0 });
        await addTestModel(billing);
        await billing.upsertAccount({ id: 'acme', kind: 'team' });
        const bought = completed(await billing.purchase('acme', 'credits-10', { idempotencyKey: 'buy' }));
        const charges = [];
        for (let i = 0; i < 3; i++) charges.push(await mustCall(billing, 'acme', 1_000));
        await billing.refund(charges[0]!.usageEventId, { amountMicros: 500 });
        const [payment] = await billing.payments('acme');
        await billing.refundPayment('acme', payment!.id, { amountCents: 100 }, { idempotencyKey: 'refund' });
        expect(await billing.reconcile('acme')).toMatchObject({ ok: true, problems: [] });
        expect(bought.paymentRef).toBe(payment!.reference);
        await billing.sql.query(`UPDATE usage_events SET value_micros = value_micros + 1 WHERE id = $1`, [charges[2]!.usageEventId]);
        await billing.sql.query(`UPDATE payment_refunds SET removed_micros = removed_micros + 1 WHERE account_id = 'acme'`);

        seen.length = 0;
        const { problems } = await billing.reconcile('acme');
        expect(problems).toEqual([
          `usage event ${charges[2]!.usageEventId}: value ${charges[2]!.valueMicros + 1} ≠ drawn ${charges[2]!.valueMicros}`,
          expect.stringMatching(new RegExp(`^payment ${payment!.id}: its refunds took \\d+ ≠ ledger \\d+$`)),
        ]);

        const statements = seen.filter((text) => text.includes('$1'));
        expect(statements.length).toBeGreaterThanOrEqual(5);
        for (const text of statements) expect(await planOf(sql, text, `'acme'`), text).not.toMatch(/"Parent Relationship":\s*"SubPlan"/);
      }, { processors: [fakeProcessor()] });
    });
  });
}
