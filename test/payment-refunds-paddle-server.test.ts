/**
 * Refunds and disputes through Paddle, end to end: the server with two workers on PostgreSQL, the
 * real SDK against the local fake, webhooks signed as Paddle signs them. A pack bought and half
 * spent is refunded from the admin route through Paddle: the refund waits for Paddle's review and
 * moves nothing until Paddle approves it; then the ledger's entries name the payment. A
 * chargeback flags the account. And a story whose webhooks come twice each, concurrently and
 * shuffled (refunds and chargebacks before their payments), ends with the ledger of the same
 * story told in order.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { refundWorld, toldInAnyOrder, type RefundWorld } from './support/refund-world.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`Paddle refunds and disputes through the server${skipped}`, () => {
  it('refunds from the admin route through Paddle once approved, flags a chargeback, and ends the same whatever the webhooks\' order', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const paddle = await PaddleFake.start();
    let world: RefundWorld | undefined;
    try {
      world = await refundWorld(db, { TOLLGATE_PROCESSOR: 'paddle', PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url });
      const { call } = world;
      paddle.webhookUrl = `${world.base}/webhooks/paddle`;
      await call('PATCH', '/v1/admin/packs/credits-10', { processorPrices: { paddle: paddle.addPrice({ unitAmount: 10_00 }) } });
      /** Buys the pack on Paddle's checkout: the transaction's id (the payment's reference). */
      const buy = async (accountId: string, key: string) => {
        const pending = await call('POST', `/v1/accounts/${accountId}/purchases`, { pack: 'credits-10' }, key);
        expect(pending.status).toBe(202);
        const { id } = paddle.transactionAt(pending.body.checkoutUrl);
        await paddle.completeTransaction(id);
        return id;
      };
      const paymentOf = async (accountId: string, reference: string) =>
        (await call('GET', `/v1/accounts/${accountId}/payments`)).body.data.find((p: { reference: string }) => p.reference === reference);

      // A pack bought and half spent, beside a second one; the first refunded in full from the admin route.
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      const first = await buy('acme', 'acme-buy-1');
      const second = await buy('acme', 'acme-buy-2');
      const spent = await call('POST', '/v1/accounts/acme/usage-records', { model: 'test-model', provider: 'test', usage: { inputTokens: 2_500_000, outputTokens: 0 } }, 'acme-use');
      expect(spent.body).toMatchObject({ valueMicros: 5_000_000, debtMicros: 0 });
      const payment = await paymentOf('acme', first);
      const refund = await call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, {}, 'acme-refund');
      expect(refund).toMatchObject({ status: 201, body: { paymentId: payment.id, amountCents: 10_00, status: 'pending', refundRef: expect.stringMatching(/^adj_/) } });
      expect(paddle.adjustments.get(refund.body.refundRef)).toMatchObject({ action: 'refund', type: 'full', transaction_id: first, status: 'pending_approval' });
      expect(await call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, {}, 'acme-refund')).toEqual({ ...refund, body: { ...refund.body, replayed: true } });
      expect(paddle.adjustments.size).toBe(1);
      // Told while pending: nothing moves.
      expect((await paddle.flush()).map((d) => [d.event.event_type, d.status])).toEqual([['adjustment.created', 200]]);
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 15_000_000, debtMicros: 0 });
      expect(await paymentOf('acme', first)).toMatchObject({ status: 'succeeded', refundedCents: 0, refunds: [] });

      // Approved: its own bucket's unused half taken, the used half owed, each entry naming the payment.
      const approved = await paddle.approveRefund(refund.body.refundRef);
      expect(approved.map((d) => [d.event.event_type, d.status, JSON.parse(d.answer).events[0].outcome])).toEqual([['adjustment.updated', 200, 'applied']]);
      expect(await world.refundEntries('acme')).toEqual([
        { bucket: `payment:paddle:${first}`, amount: -5_000_000, payment: first },
        { bucket: null, amount: -5_000_000, payment: first },
      ]);
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ debtMicros: 5_000_000, availableMicros: 5_000_000 });
      expect(await paymentOf('acme', first)).toMatchObject({
        status: 'refunded', refundedCents: 10_00, refunds: [{ kind: 'refund', reference: refund.body.refundRef, appliedCents: 10_00, removedMicros: 5_000_000, usedMicros: 5_000_000, usedValue: 'debt' }],
      });

      // A part of the second refunded from the route (a partial adjustment), then the rest charged back: the account flagged.
      const secondPayment = await paymentOf('acme', second);
      const part = await call('POST', `/v1/accounts/acme/payments/${secondPayment.id}/refund`, { amountCents: 2_50 }, 'acme-refund-part');
      expect(paddle.adjustments.get(part.body.refundRef)).toMatchObject({ type: 'partial', items: [{ amount: '250' }] });
      await paddle.approveRefund(part.body.refundRef);
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ debtMicros: 5_000_000, availableMicros: 2_500_000 });
      expect((await call('GET', '/v1/accounts/acme')).body.disputedAt).toBeNull();
      const { adjustmentId: chargeback } = await paddle.chargeback(second, 7_50);
      expect((await call('GET', '/v1/accounts/acme')).body.disputedAt).toEqual(expect.any(String));
      await paddle.chargeback(second, 7_50, 'chargeback_reverse');
      expect(await paymentOf('acme', second)).toMatchObject({
        status: 'refunded', refundedCents: 10_00, disputedAt: expect.any(String),
        refunds: [{ kind: 'dispute_won', appliedCents: 0 }, { kind: 'dispute', reference: chargeback, appliedCents: 7_50 }, { kind: 'refund', appliedCents: 2_50 }],
      });
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ debtMicros: 5_000_000, availableMicros: 0 });
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);

      // One story, told in order to one account, and to another with every webhook twice, concurrently, shuffled.
      const story = async (accountId: string) => {
        await call('PUT', `/v1/accounts/${accountId}`, { kind: 'team' });
        const [one, two] = [await buy(accountId, `${accountId}-1`), await buy(accountId, `${accountId}-2`)];
        await paddle.refundFromDashboard(one, 4_00);
        await paddle.refundFromDashboard(one, 1_00);
        await paddle.chargeback(two, 6_00);
        await paddle.chargeback(two, 6_00, 'chargeback_reverse');
      };
      expect(await toldInAnyOrder(world, db.sql, paddle, () => paddle.events.map((e) => e.event_id), story)).toMatchObject({ availableMicros: 9_000_000, debtMicros: 0, disputed: true, reconciled: true });
    } finally {
      await world?.close();
      await paddle.close();
      await db.drop();
    }
  }, 120_000);
});
