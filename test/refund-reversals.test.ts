/**
 * Refunds that failed after they succeeded, on both engines: what the refund took comes back
 * (into its bucket while usable, else a bucket of its own; the debt it made forgiven, or what a
 * purchase paid of it given back as value), the payment's refunded amount goes down, once per
 * refund however often and however concurrently it is told; a reversal told before its refund,
 * or before its payment, ends where in-order delivery ends; and the ledger reconciles after each.
 */
import { describe, expect, it } from 'vitest';
import { type Billing, type ProcessorEvent } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { addTestModel, mustCall } from './support/spend.ts';
import { AT, packPaid, planPaid, refundFailed, refunded } from './support/payment-events.ts';

let keys = 0;
const key = () => ({ idempotencyKey: `reversal-${++keys}` });

/** The account's buckets, with what is left in each. */
async function buckets(sql: Sql, accountId: string) {
  return sql.query<{ source: string; reference: string; amount: number; remaining: number }>(
    'SELECT source, reference, amount_micros AS amount, remaining_micros AS remaining FROM buckets WHERE account_id = $1 ORDER BY id',
    [accountId],
  );
}

/** The ledger entries naming a payment: what they moved, of what kind, in or out of which bucket. */
async function paymentEntries(sql: Sql, accountId: string, paymentRef: string) {
  return sql.query<{ kind: string; bucket: string | null; amount: number }>(
    `SELECT l.kind, b.reference AS bucket, l.amount_micros AS amount FROM ledger_entries l
     JOIN payments p ON p.id = l.payment_id LEFT JOIN buckets b ON b.id = l.bucket_id
     WHERE l.account_id = $1 AND p.processor_ref = $2 ORDER BY l.id`,
    [accountId, paymentRef],
  );
}

async function expectReconciled(billing: Billing, ...accountIds: string[]) {
  for (const id of accountIds) expect(await billing.reconcile(id), id).toMatchObject({ ok: true, problems: [] });
}

for (const engine of ENGINES) {
  describe(`refund reversals on ${engine.name}`, () => {
    const t = useBilling(engine, { processors: [signedProcessor()] });

    const receive = (events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return t.billing.receiveWebhook(SIGNED, body, headers);
    };
    const outcome = async (event: ProcessorEvent) => (await receive([event])).events[0]!.outcome;
    const paymentOf = async (accountId: string, reference: string) => (await t.billing.payments(accountId)).find((p) => p.reference === reference)!;
    /** Pay-as-you-go with no allowance, test-model priced, the accounts made and paying through the signed processor. */
    async function payg(...ids: string[]) {
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.admin.updatePlan('payg', { includedMicros: 0 });
      await addTestModel(t.billing);
      for (const id of ids) {
        await t.billing.upsertAccount({ id, kind: 'team' });
        await t.sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', [id, SIGNED]);
      }
    }
    const standing = async (id: string) => {
      const { availableMicros, debtMicros } = await t.billing.balance(id);
      const payments = (await t.billing.payments(id)).map((p) => ({ reference: p.reference, status: p.status, refundedCents: p.refundedCents }));
      return { availableMicros, debtMicros, payments: payments.sort((a, b) => a.reference.localeCompare(b.reference)) };
    };

    it('a half-used pack refunded, then the refund failed: its bucket and its debt are as before, the payment unrefunded, told twice, applied once', async () => {
      await payg('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      await mustCall(t.billing, 'acme', 2_500_000); // $5 of value drawn
      const before = { buckets: await buckets(t.sql, 'acme'), balance: await t.billing.balance('acme') };
      expect(before.balance).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });

      expect(await outcome(refunded('evt_2', 'pi_1', 're_1', 10_00))).toBe('applied');
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 5_000_000 });
      await expectReconciled(t.billing, 'acme');

      // Stripe tells of it twice (refund.updated, refund.failed): once applied, once ignored.
      expect(await outcome(refundFailed('evt_3', 'pi_1', 're_1'))).toBe('applied');
      expect(await outcome(refundFailed('evt_4', 'pi_1', 're_1'))).toBe('ignored');
      expect(await buckets(t.sql, 'acme')).toEqual(before.buckets);
      expect(await t.billing.balance('acme')).toEqual(before.balance);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ status: 'succeeded', refundedCents: 0 });
      expect(await paymentEntries(t.sql, 'acme', 'pi_1')).toEqual([
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: -5_000_000 },
        { kind: 'payment_refund', bucket: null, amount: -5_000_000 },
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: 5_000_000 },
        { kind: 'payment_refund', bucket: null, amount: 5_000_000 },
      ]);
      // The refund told again afterwards (a late refund.updated that still said succeeded) does nothing.
      expect(await outcome(refunded('evt_5', 'pi_1', 're_1', 10_00))).toBe('ignored');
      expect(await t.billing.balance('acme')).toEqual(before.balance);
      await expectReconciled(t.billing, 'acme');
    });

    it('the debt a refund made was paid by a purchase since: that part comes back as value, in a bucket of its own', async () => {
      await payg('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      await mustCall(t.billing, 'acme', 2_500_000);
      await receive([refunded('evt_2', 'pi_1', 're_1', 10_00)]);
      const second = await receive([packPaid('evt_3', 'acme', 'pi_2')]); // pays the $5 owed
      expect(second.events[0]!.outcome).toBe('applied');
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });

      await receive([refundFailed('evt_4', 'pi_1', 're_1')]);
      // As if never refunded: $5 left of the first pack, all $10 of the second.
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 15_000_000, debtMicros: 0 });
      const reversalBucket = (await buckets(t.sql, 'acme')).find((b) => b.reference.startsWith('refund-reversal:'));
      expect(reversalBucket).toMatchObject({ source: 'refund', amount: 5_000_000, remaining: 5_000_000 });
      expect(await paymentEntries(t.sql, 'acme', 'pi_1')).toEqual([
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: -5_000_000 },
        { kind: 'payment_refund', bucket: null, amount: -5_000_000 },
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: 5_000_000 },
        { kind: 'grant', bucket: reversalBucket!.reference, amount: 5_000_000 },
      ]);
      await expectReconciled(t.billing, 'acme');
    });

    it('written off instead: the write-off moved nothing and nothing moves back for it; the unused value returns to its bucket', async () => {
      await payg('acme');
      await t.billing.admin.updateSettings({ refundUsedValue: 'write_off' });
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      await mustCall(t.billing, 'acme', 2_500_000);
      const before = await buckets(t.sql, 'acme');
      await receive([refunded('evt_2', 'pi_1', 're_1', 10_00)]);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      await receive([refundFailed('evt_3', 'pi_1', 're_1')]);
      expect(await buckets(t.sql, 'acme')).toEqual(before);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });
      expect(await paymentEntries(t.sql, 'acme', 'pi_1')).toEqual([
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: -5_000_000 },
        { kind: 'payment_refund', bucket: 'payment:signed:pi_1', amount: 5_000_000 },
      ]);
      await expectReconciled(t.billing, 'acme');
    });

    it('a period\'s allowance that ended since: what the refund took comes back in a bucket of its own', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(t.billing);
      await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
      await t.sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', ['acme', SIGNED]);
      await receive([planPaid('evt_1', 'acme', 'in_1')]);
      await receive([refunded('evt_2', 'in_1', 're_1', 5_00)]); // a quarter of the period's $20
      const allowance = (await buckets(t.sql, 'acme')).find((b) => b.source === 'allowance')!;
      expect(allowance.remaining).toBe(15_000_000);

      t.clock.set('2026-04-10T12:00:01Z'); // the period paid for has ended
      await receive([refundFailed('evt_3', 'in_1', 're_1')]);
      const after = await buckets(t.sql, 'acme');
      expect(after.find((b) => b.reference === allowance.reference)!.remaining).toBe(15_000_000);
      expect(after.filter((b) => b.reference.startsWith('refund-reversal:'))).toEqual([{ source: 'refund', reference: expect.any(String), amount: 5_000_000, remaining: 5_000_000 }]);
      expect(await paymentOf('acme', 'in_1')).toMatchObject({ status: 'succeeded', refundedCents: 0 });
      await expectReconciled(t.billing, 'acme');
    });

    it('partial refunds, one of them failed: the others stand, and what is left to refund is all the failed one gave back', async () => {
      await payg('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1', 'credits-50', 50_00)]); // $55 of value
      await receive([refunded('evt_2', 'pi_1', 're_1', 3_33)]);
      await receive([refunded('evt_3', 'pi_1', 're_2', 3_33)]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(55_000_000 - 7_326_000);

      await receive([refundFailed('evt_4', 'pi_1', 're_1')]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(55_000_000 - 3_663_000);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ status: 'succeeded', refundedCents: 3_33 });
      await expectReconciled(t.billing, 'acme');

      // What is left is refundable again, and a refund of it all takes exactly what is left.
      const id = (await paymentOf('acme', 'pi_1')).id;
      await expect(t.billing.refundPayment('acme', id, { amountCents: 46_68 }, key())).rejects.toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: 46_67 } });
      const rest = await t.billing.refundPayment('acme', id, {}, key());
      expect(rest).toMatchObject({ amountCents: 46_67, status: 'refunded' });
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ status: 'refunded', refundedCents: 50_00 });
      await expectReconciled(t.billing, 'acme');

      // The admin's refund, failed afterwards: told by its webhook, it gives back all it took.
      await receive([refundFailed('evt_5', 'pi_1', rest.refundRef)]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(55_000_000 - 3_663_000);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ status: 'succeeded', refundedCents: 3_33 });
      await expectReconciled(t.billing, 'acme');
    });

    it('a reversal told eight times at once, under four event ids, gives back once', async () => {
      await payg('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      await receive([refunded('evt_2', 'pi_1', 're_1', 4_00)]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(6_000_000);
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => outcome(refundFailed(`evt_r${i % 4}`, 'pi_1', 're_1'))));
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'ignored')).toHaveLength(3);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 10_000_000, debtMicros: 0 });
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ refundedCents: 0 });
      await expectReconciled(t.billing, 'acme');
    });

    it('a reversal told before its refund, or before its payment, ends where in-order delivery ends, in any order, concurrently', async () => {
      const accounts = ['in-order', 'failed-first', 'before-payment', 'at-once'];
      await payg(...accounts);
      const scenario = (id: string) => [
        packPaid(`${id}-1`, id, `pi_${id}`),
        refunded(`${id}-2`, `pi_${id}`, `re_${id}_1`, 4_00),
        refunded(`${id}-3`, `pi_${id}`, `re_${id}_2`, 2_00),
        refundFailed(`${id}-4`, `pi_${id}`, `re_${id}_1`),
        refunded(`${id}-5`, `pi_${id}`, `re_${id}_1`, 4_00), // a late refund.updated, still saying succeeded
      ];
      const orders: Record<string, number[]> = { 'in-order': [0, 1, 2, 3, 4], 'failed-first': [0, 3, 4, 1, 2], 'before-payment': [3, 1, 2, 4, 0] };
      for (const [id, order] of Object.entries(orders)) {
        const events = scenario(id);
        for (const i of order) await receive([events[i]!]);
        await expectReconciled(t.billing, id);
      }
      await Promise.all(scenario('at-once').map((event) => receive([event])));
      await Promise.all(scenario('at-once').map((event) => receive([event]))); // and every one told again

      const inOrder = await standing('in-order');
      expect(inOrder).toEqual({ availableMicros: 8_000_000, debtMicros: 0, payments: [{ reference: 'pi_in-order', status: 'succeeded', refundedCents: 2_00 }] });
      for (const id of accounts.slice(1)) {
        const { payments, ...balance } = await standing(id);
        expect({ ...balance, payments: payments.map((p) => ({ ...p, reference: 'pi_in-order' })) }, id).toEqual(inOrder);
      }
      expect(await t.sql.query(`SELECT count(*)::int AS n FROM payment_refunds WHERE status = 'parked'`)).toEqual([{ n: 0 }]);
      await expectReconciled(t.billing, ...accounts);
    });

    it('a dispute is no refund: a failure told of it moves nothing', async () => {
      await payg('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      await receive([{ type: 'payment.disputed', eventId: 'evt_2', paymentRef: 'pi_1', disputeRef: 'dp_1', amountCents: 10_00, at: AT }]);
      expect(await outcome(refundFailed('evt_3', 'pi_1', 'dp_1'))).toBe('ignored');
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ status: 'refunded', refundedCents: 10_00 });
      await expectReconciled(t.billing, 'acme');
    });
  });
}
