/**
 * Refunds and disputes of processor payments, on both engines: a refunded pack takes the unused
 * value of its own bucket and no other's, its used value owed or written off by the setting; a
 * refunded period takes that period's unused allowance; partial refunds add up to the whole; a
 * dispute is a refund that flags the account; a refund told before its payment ends where
 * in-order delivery ends; every refund applies once, however often and by whomever it is told,
 * a refund call retried after its webhook applied it included; and the ledger reconciles after each.
 */
import { describe, expect, it } from 'vitest';
import { BillingError, fakeProcessor, type Billing, type PaymentRefund, type Processor, type ProcessorEvent } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { addTestModel, completed, mustCall, mustRefuse } from './support/spend.ts';
import { AT, MONTH_LATER, disputed, packPaid, planPaid, refunded } from './support/payment-events.ts';

let keys = 0;
const key = () => ({ idempotencyKey: `refund-${++keys}` });

/** The account's buckets by source and the payment each names, with what is left in each. */
async function buckets(sql: Sql, accountId: string) {
  return sql.query<{ source: string; reference: string; amount: number; remaining: number }>(
    'SELECT source, reference, amount_micros AS amount, remaining_micros AS remaining FROM buckets WHERE account_id = $1 ORDER BY id',
    [accountId],
  );
}

/** The ledger entries a payment's refunds wrote: where each took value from, and how much. */
async function refundEntries(sql: Sql, accountId: string) {
  return sql.query<{ bucket: string | null; amount: number; payment: string }>(
    `SELECT b.reference AS bucket, l.amount_micros AS amount, p.processor_ref AS payment FROM ledger_entries l
     JOIN payments p ON p.id = l.payment_id LEFT JOIN buckets b ON b.id = l.bucket_id
     WHERE l.account_id = $1 AND l.kind = 'payment_refund' ORDER BY l.id`,
    [accountId],
  );
}

/**
 * The signed processor, its refunds made once per idempotency key as a real processor's are (the
 * key asked again for the same refund answers the one made; for another, it is refused), and the
 * answer to one lost on its way back when `loseNext` is set, as when the caller crashes.
 */
function keyedRefunds() {
  const made = new Map<string, { amountCents: number; refund: PaymentRefund }>();
  const control = { loseNext: false, made: 0, processor: signedProcessor() as Processor };
  control.processor.refund = async ({ amountCents, idempotencyKey }) => {
    let first = made.get(idempotencyKey);
    if (first && first.amountCents !== amountCents) throw new BillingError('processor_error', `the key ${idempotencyKey} asked for another refund`);
    if (!first) made.set(idempotencyKey, (first = { amountCents, refund: { status: 'succeeded', refundRef: `re_signed_${++control.made}` } }));
    if (control.loseNext) {
      control.loseNext = false;
      throw new Error('the connection was cut before the answer came');
    }
    return first.refund;
  };
  return control;
}

async function expectReconciled(billing: Billing, ...accountIds: string[]) {
  for (const id of accountIds) expect(await billing.reconcile(id), id).toMatchObject({ ok: true, problems: [] });
}

for (const engine of ENGINES) {
  describe(`payment refunds on ${engine.name}`, () => {
    const refunds = keyedRefunds();
    const t = useBilling(engine, { processors: [fakeProcessor(), refunds.processor] });

    /** Pay-as-you-go with no allowance (packs spendable at once), test-model priced, the accounts made. */
    async function payg(...ids: string[]) {
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.admin.updatePlan('payg', { includedMicros: 0 });
      await addTestModel(t.billing);
      for (const id of ids) await t.billing.upsertAccount({ id, kind: 'team' });
    }
    const buy = async (accountId: string, pack = 'credits-10') => completed(await t.billing.purchase(accountId, pack, key()));
    const paymentOf = async (accountId: string, reference: string) => (await t.billing.payments(accountId)).find((p) => p.reference === reference)!;
    const receive = (events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return t.billing.receiveWebhook(SIGNED, body, headers);
    };
    async function onSigned(...ids: string[]) {
      for (const id of ids) await t.sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', [id, SIGNED]);
    }
    /** An account on the Plus plan through the signed processor, its first period paid by `paymentRef`. */
    async function subscriber(id: string, paymentRef: string) {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await addTestModel(t.billing);
      await t.billing.upsertAccount({ id, kind: 'team' });
      await onSigned(id);
      await receive([planPaid('evt_1', id, paymentRef)]);
    }

    it('a half-used pack refunded takes its own bucket\'s unused value, never another\'s; the used half is owed, and the next purchase pays it', async () => {
      await payg('acme');
      const first = await buy('acme');
      const second = await buy('acme');
      await mustCall(t.billing, 'acme', 2_500_000); // $5 of value, drawn from the first pack (the older of two alike)
      expect((await t.billing.balance('acme')).availableMicros).toBe(15_000_000);

      const payment = await paymentOf('acme', first.paymentRef);
      const result = await t.billing.refundPayment('acme', payment.id, undefined, key());
      expect(result).toMatchObject({ paymentId: payment.id, amountCents: 10_00, status: 'refunded', refundRef: expect.stringMatching(/^fake_re_/), replayed: false });

      expect(await buckets(t.sql, 'acme')).toEqual([
        { source: 'pack', reference: `payment:fake:${first.paymentRef}`, amount: 10_000_000, remaining: 0 },
        { source: 'pack', reference: `payment:fake:${second.paymentRef}`, amount: 10_000_000, remaining: 10_000_000 },
      ]);
      expect(await refundEntries(t.sql, 'acme')).toEqual([
        { bucket: `payment:fake:${first.paymentRef}`, amount: -5_000_000, payment: first.paymentRef },
        { bucket: null, amount: -5_000_000, payment: first.paymentRef },
      ]);
      // Available is what is left less what is owed.
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 5_000_000, debtMicros: 5_000_000 });
      expect(await mustRefuse(t.billing, 'acme', 1_000)).toMatchObject({ code: 'debt' });
      expect(await paymentOf('acme', first.paymentRef)).toMatchObject({
        status: 'refunded', refundedCents: 10_00, disputedAt: null,
        refunds: [{ kind: 'refund', amountCents: 10_00, appliedCents: 10_00, removedMicros: 5_000_000, usedMicros: 5_000_000, usedValue: 'debt' }],
      });
      await expectReconciled(t.billing, 'acme');

      // The next purchase pays what is owed, as every grant does.
      const third = await buy('acme');
      expect(third.debtPaidMicros).toBe(5_000_000);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 15_000_000, debtMicros: 0 });
      await expectReconciled(t.billing, 'acme');
    });

    it('written off instead, by the setting: the used half is forgiven and nothing is owed', async () => {
      await payg('acme');
      expect(await t.billing.admin.updateSettings({ refundUsedValue: 'write_off' })).toMatchObject({ refundUsedValue: 'write_off' });
      const bought = await buy('acme');
      await mustCall(t.billing, 'acme', 2_500_000);
      await t.billing.refundPayment('acme', (await paymentOf('acme', bought.paymentRef)).id, {}, key());
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      expect(await refundEntries(t.sql, 'acme')).toEqual([{ bucket: `payment:fake:${bought.paymentRef}`, amount: -5_000_000, payment: bought.paymentRef }]);
      expect((await paymentOf('acme', bought.paymentRef)).refunds).toMatchObject([{ removedMicros: 5_000_000, usedMicros: 5_000_000, usedValue: 'write_off' }]);
      await expectReconciled(t.billing, 'acme');
      // What a refund says it took is checked against the ledger.
      await t.sql.query(`UPDATE payment_refunds SET removed_micros = removed_micros - 1 WHERE account_id = 'acme'`);
      expect((await t.billing.reconcile('acme')).problems).toEqual([expect.stringMatching(/^payment \d+: its refunds took 4999999 ≠ ledger 5000000$/)]);
    });

    it('a full refund of an unused pack takes all of it; partial refunds add up to exactly the whole, the last one included', async () => {
      await payg('acme');
      const unused = await buy('acme');
      await t.billing.refundPayment('acme', (await paymentOf('acme', unused.paymentRef)).id, undefined, key());
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      expect(await paymentOf('acme', unused.paymentRef)).toMatchObject({ status: 'refunded', refundedCents: 10_00 });

      // $50 for $55 of value: shares of 333, 333 and 4,334 cents are not whole micro-dollars each, and still sum to the value.
      const big = await buy('acme', 'credits-50');
      const id = (await paymentOf('acme', big.paymentRef)).id;
      for (const amountCents of [333, 333]) await t.billing.refundPayment('acme', id, { amountCents }, key());
      expect(await paymentOf('acme', big.paymentRef)).toMatchObject({ status: 'succeeded', refundedCents: 666 });
      expect((await t.billing.balance('acme')).availableMicros).toBe(55_000_000 - 7_326_000);
      await expect(t.billing.refundPayment('acme', id, { amountCents: 4_335 }, key())).rejects.toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: 4_334 } });
      await t.billing.refundPayment('acme', id, {}, key());
      expect((await paymentOf('acme', big.paymentRef)).refunds.map((r) => r.removedMicros).reverse()).toEqual([3_663_000, 3_663_000, 47_674_000]);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      await expect(t.billing.refundPayment('acme', id, {}, key())).rejects.toMatchObject({ code: 'refund_exceeds_payment' });
      await expectReconciled(t.billing, 'acme');
    });

    it('refuses what it cannot do, with nothing moved: no key, a payment of another account, a retry of the same key gets the first refund', async () => {
      await payg('acme', 'other');
      const bought = await buy('acme');
      const id = (await paymentOf('acme', bought.paymentRef)).id;
      await expect(t.billing.refundPayment('acme', id, {}, {})).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(t.billing.refundPayment('other', id, {}, key())).rejects.toMatchObject({ code: 'payment_not_found' });
      await expect(t.billing.refundPayment('acme', id, { amountCents: 0 }, key())).rejects.toMatchObject({ code: 'invalid_input' });
      const options = key();
      const first = await t.billing.refundPayment('acme', id, { amountCents: 400 }, options);
      expect(await t.billing.refundPayment('acme', id, { amountCents: 400 }, options)).toEqual({ ...first, replayed: true });
      expect(await paymentOf('acme', bought.paymentRef)).toMatchObject({ refundedCents: 400, refunds: [{ appliedCents: 400 }] });
      expect((await t.billing.balance('acme')).availableMicros).toBe(6_000_000);
      await expectReconciled(t.billing, 'acme');
    });

    it('a subscription payment refunded takes that period\'s unused allowance, and owes nothing for what was used', async () => {
      await subscriber('acme', 'in_1');
      await mustCall(t.billing, 'acme', 2_500_000);
      expect((await t.billing.balance('acme')).availableMicros).toBe(15_000_000);

      await receive([refunded('evt_2', 'in_1', 're_1', 5_00)]); // a quarter: a quarter of the allowance's value
      expect((await t.billing.balance('acme')).availableMicros).toBe(10_000_000);
      await receive([refunded('evt_3', 'in_1', 're_2', 15_00)]);
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 0, debtMicros: 0 });
      expect(await paymentOf('acme', 'in_1')).toMatchObject({ kind: 'subscription', status: 'refunded', refundedCents: 20_00 });
      expect((await paymentOf('acme', 'in_1')).refunds.map((r) => [r.removedMicros, r.usedMicros])).toEqual([[10_000_000, 0], [5_000_000, 0]]);
      await expectReconciled(t.billing, 'acme');
    });

    it('a renewal refunded before its period\'s allowance opened: the refund takes it all, and the first call finds nothing handed out', async () => {
      await subscriber('acme', 'in_1');
      t.clock.set('2026-04-10T12:00:05Z');
      await receive([{ ...planPaid('evt_2', 'acme', 'in_2'), periodStart: MONTH_LATER, periodEnd: new Date('2026-05-10T12:00:00Z'), at: MONTH_LATER } as ProcessorEvent]);
      await receive([refunded('evt_3', 'in_2', 're_1', 20_00)]);
      expect((await buckets(t.sql, 'acme')).map((b) => [b.reference, b.remaining])).toEqual([
        [expect.stringMatching(/^allowance:\d+:2026-03-10T12:00:00/), 20_000_000], // the last period's, expired: not the one paid for
        [expect.stringMatching(/^allowance:\d+:2026-04-10T12:00:00/), 0],
      ]);
      expect(await mustRefuse(t.billing, 'acme', 1_000)).toMatchObject({ code: 'insufficient_balance' });
      await expectReconciled(t.billing, 'acme');
    });

    it('a renewal paid late and refunded once the next period opened takes its own period\'s allowance, not the next one\'s', async () => {
      await subscriber('acme', 'in_1');
      const period = (start: string, end: string, at: string) => ({ periodStart: new Date(start), periodEnd: new Date(end), at: new Date(at) });
      // April's renewal collected on April 30th, after the processor's retries; May's on time.
      t.clock.set('2026-04-30T12:00:00Z');
      await receive([{ ...planPaid('evt_2', 'acme', 'in_2'), ...period('2026-04-10T12:00:00Z', '2026-05-10T12:00:00Z', '2026-04-30T12:00:00Z') } as ProcessorEvent]);
      t.clock.set('2026-05-10T12:00:05Z');
      await receive([{ ...planPaid('evt_3', 'acme', 'in_3'), ...period('2026-05-10T12:00:00Z', '2026-06-10T12:00:00Z', '2026-05-10T12:00:00Z') } as ProcessorEvent]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(20_000_000);

      t.clock.set('2026-05-15T12:00:00Z');
      await receive([refunded('evt_4', 'in_2', 're_1', 20_00)]);
      expect((await buckets(t.sql, 'acme')).map((b) => [b.reference, b.remaining])).toEqual([
        [expect.stringMatching(/^allowance:\d+:2026-03-10T12:00:00/), 20_000_000],
        [expect.stringMatching(/^allowance:\d+:2026-04-10T12:00:00/), 0], // April's, which in_2 paid (expired by now)
        [expect.stringMatching(/^allowance:\d+:2026-05-10T12:00:00/), 20_000_000], // May's, paid by in_3, untouched
      ]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(20_000_000);
      await expectReconciled(t.billing, 'acme');
    });

    it('a dispute refunds the amount disputed and flags the account; a dispute won is recorded, and moves nothing', async () => {
      await payg('acme');
      await onSigned('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1'), packPaid('evt_2', 'acme', 'pi_2')]);
      await receive([refunded('evt_3', 'pi_1', 're_1', 4_00)]);
      expect((await t.billing.getAccount('acme')).disputedAt).toBeNull();

      // More disputed than is left: what is left is refunded.
      await receive([disputed('evt_4', 'pi_1', 'dp_1', 10_00)]);
      const account = await t.billing.getAccount('acme');
      expect(account.disputedAt).toEqual(t.clock.now);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({
        status: 'refunded', refundedCents: 10_00, disputedAt: t.clock.now,
        refunds: [{ kind: 'dispute', amountCents: 10_00, appliedCents: 6_00 }, { kind: 'refund', appliedCents: 4_00 }],
      });
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 10_000_000, debtMicros: 0 });

      await receive([{ type: 'payment.dispute_won', eventId: 'evt_5', paymentRef: 'pi_1', disputeRef: 'dp_1_won', amountCents: 10_00, at: AT }]);
      expect((await paymentOf('acme', 'pi_1')).refunds[0]).toMatchObject({ kind: 'dispute_won', appliedCents: 0, removedMicros: 0 });
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 10_000_000, debtMicros: 0 });
      expect((await t.billing.getAccount('acme')).disputedAt).toEqual(account.disputedAt);
      await expectReconciled(t.billing, 'acme');
    });

    it('a refund told before its payment is parked, and ends where in-order delivery ends, delivered twice, concurrently, in any order', async () => {
      await payg('in-order', 'shuffled');
      await onSigned('in-order', 'shuffled');
      const scenario = (id: string) => [
        packPaid(`${id}-1`, id, `pi_${id}_1`), packPaid(`${id}-2`, id, `pi_${id}_2`),
        refunded(`${id}-3`, `pi_${id}_1`, `re_${id}_1`, 3_00), refunded(`${id}-4`, `pi_${id}_1`, `re_${id}_2`, 7_00),
        disputed(`${id}-5`, `pi_${id}_2`, `dp_${id}`, 5_00),
        // The same refund told again by another event (a refund.updated after its refund.created).
        refunded(`${id}-6`, `pi_${id}_1`, `re_${id}_1`, 3_00),
      ];
      for (const event of scenario('in-order')) await receive([event]);
      const shuffled = scenario('shuffled');
      const order = [5, 2, 4, 3, 1, 0, 0, 1, 2, 3, 4, 5].map((i) => shuffled[i]!);
      for (const event of order.slice(0, 4)) await receive([event]); // every refund before either payment
      expect((await t.billing.balance('shuffled')).availableMicros).toBe(0);
      await Promise.all(order.slice(4).map((event) => receive([event])));

      const standing = async (id: string) => {
        const { availableMicros, debtMicros } = await t.billing.balance(id);
        const payments = (await t.billing.payments(id)).map((p) => ({ status: p.status, refundedCents: p.refundedCents, refunds: p.refunds.map((r) => [r.kind, r.appliedCents, r.removedMicros]).sort() }));
        return { availableMicros, debtMicros, payments: payments.sort((a, b) => a.refundedCents - b.refundedCents), disputed: (await t.billing.getAccount(id)).disputedAt !== null };
      };
      const inOrder = await standing('in-order');
      expect(inOrder).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0, disputed: true });
      expect(await standing('shuffled')).toEqual(inOrder);
      expect(await t.sql.query(`SELECT count(*)::int AS n FROM payment_refunds WHERE status = 'parked'`)).toEqual([{ n: 0 }]);
      await expectReconciled(t.billing, 'in-order', 'shuffled');
    });

    it('applies each refund once: the same event eight times at once, and the refund call\'s answer and its webhook', async () => {
      await payg('acme');
      await onSigned('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => receive([refunded(i % 2 ? 'evt_2' : 'evt_3', 'pi_1', 're_1', 2_00)])));
      expect(outcomes.flatMap((o) => o.events.map((e) => e.outcome)).filter((o) => o === 'applied')).toHaveLength(1);
      expect((await t.billing.balance('acme')).availableMicros).toBe(8_000_000);

      // Through the processor: its answer applies the refund, and its webhook telling of it again finds it applied.
      const result = await t.billing.refundPayment('acme', (await paymentOf('acme', 'pi_1')).id, { amountCents: 5_00 }, key());
      expect(result).toMatchObject({ status: 'refunded', refundRef: expect.stringMatching(/^re_signed_/) });
      expect((await t.billing.balance('acme')).availableMicros).toBe(3_000_000);
      expect(await receive([refunded('evt_4', 'pi_1', result.refundRef, 5_00)])).toMatchObject({ events: [{ outcome: 'ignored' }] });
      expect((await t.billing.balance('acme')).availableMicros).toBe(3_000_000);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ refundedCents: 7_00, refunds: [{ reference: result.refundRef }, { reference: 're_1' }] });
      await expectReconciled(t.billing, 'acme');
    });

    it('a refund retried after its answer was lost, its webhook having applied it first, answers the refund as applied and moves nothing more', async () => {
      await payg('acme');
      await onSigned('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1'), packPaid('evt_2', 'acme', 'pi_2')]);
      await receive([refunded('evt_3', 'pi_2', 're_1', 4_00)]);
      const [one, two] = [(await paymentOf('acme', 'pi_1')).id, (await paymentOf('acme', 'pi_2')).id];
      expect((await t.billing.balance('acme')).availableMicros).toBe(16_000_000);

      // A refund of an amount, and one of all that is left ($6 of pi_2): each made, its answer lost.
      for (const [id, paymentRef, input, options, cents] of [[one, 'pi_1', { amountCents: 10_00 }, key(), 10_00], [two, 'pi_2', {}, key(), 6_00]] as const) {
        refunds.loseNext = true;
        await expect(t.billing.refundPayment('acme', id, input, options)).rejects.toThrow(/connection was cut/);
        const refundRef = `re_signed_${refunds.made}`;
        expect((await paymentOf('acme', paymentRef)).refunds.map((r) => r.reference)).not.toContain(refundRef);
        // Its webhook comes first, and applies it.
        expect(await receive([refunded(`evt_${refundRef}`, paymentRef, refundRef, cents)])).toMatchObject({ events: [{ outcome: 'applied' }] });
        const applied = { balance: await t.billing.balance('acme'), payment: await paymentOf('acme', paymentRef) };
        expect(applied.payment).toMatchObject({ status: 'refunded', refundedCents: 10_00 });

        // The retry asks for the same refund under the same key, and answers it as applied.
        const retried = await t.billing.refundPayment('acme', id, input, options);
        expect(retried).toEqual({ paymentId: id, refundRef, amountCents: cents, status: 'refunded', replayed: false });
        expect(await t.billing.refundPayment('acme', id, input, options)).toEqual({ ...retried, replayed: true });
        await expect(t.billing.refundPayment('acme', id, { amountCents: 1 }, options)).rejects.toMatchObject({ code: 'idempotency_conflict', details: { idempotencyKey: options.idempotencyKey } });
        expect(refunds.made).toBe(Number(refundRef.slice('re_signed_'.length)));
        expect({ balance: await t.billing.balance('acme'), payment: await paymentOf('acme', paymentRef) }).toEqual(applied);
      }
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      // A new key finds nothing left to refund.
      await expect(t.billing.refundPayment('acme', one, { amountCents: 1 }, key())).rejects.toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: 0 } });
      await expectReconciled(t.billing, 'acme');
    });

    it('a refund whose answer was lost, retried under its key for another amount, is refused as a conflict naming its key', async () => {
      await payg('acme');
      await onSigned('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      const id = (await paymentOf('acme', 'pi_1')).id;
      const options = key();
      refunds.loseNext = true;
      await expect(t.billing.refundPayment('acme', id, { amountCents: 4_00 }, options)).rejects.toThrow(/connection was cut/);
      const made = refunds.made;

      await expect(t.billing.refundPayment('acme', id, { amountCents: 6_00 }, options)).rejects.toMatchObject({ code: 'idempotency_conflict', details: { idempotencyKey: options.idempotencyKey } });
      await expect(t.billing.refundPayment('acme', id, {}, options)).rejects.toMatchObject({ code: 'idempotency_conflict', details: { idempotencyKey: options.idempotencyKey } });
      expect(refunds.made).toBe(made);
      // The same request again is the retry it is.
      expect(await t.billing.refundPayment('acme', id, { amountCents: 4_00 }, options)).toMatchObject({ refundRef: `re_signed_${made}`, amountCents: 4_00, status: 'refunded', replayed: false });
      await expectReconciled(t.billing, 'acme');
    });

    // Two refunds at once: the first checks what is left, another refund takes it, then the first goes on (its key was held).
    it.runIf(engine.name === 'postgres')('a refund refused because another took what was left while it went on is refused again when retried: it never asked the processor', async () => {
      await payg('acme');
      await onSigned('acme');
      await receive([packPaid('evt_1', 'acme', 'pi_1')]);
      const id = (await paymentOf('acme', 'pi_1')).id;
      const options = key();
      let attempt!: Promise<unknown>;
      await t.sql
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO effect_keys (key, operation, request_hash) VALUES ($1, 'held', '')`, [options.idempotencyKey]);
          const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
          attempt = t.billing.refundPayment('acme', id, {}, options).catch((error: unknown) => error);
          while ((await t.sql.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [pid])).length === 0) await new Promise((r) => setTimeout(r, 10));
          expect(await t.billing.refundPayment('acme', id, {}, key())).toMatchObject({ amountCents: 10_00, status: 'refunded' });
          throw new Error('the key let go');
        })
        .catch((error: unknown) => expect(error).toMatchObject({ message: 'the key let go' }));
      expect(await attempt).toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: 0 } });
      const made = refunds.made;

      await expect(t.billing.refundPayment('acme', id, {}, options)).rejects.toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: 0 } });
      expect(refunds.made).toBe(made);
      expect(await paymentOf('acme', 'pi_1')).toMatchObject({ refundedCents: 10_00, refunds: [{ reference: `re_signed_${made}` }] });
      await expectReconciled(t.billing, 'acme');
    });
  });
}
