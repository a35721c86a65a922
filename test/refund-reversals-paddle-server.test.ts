/**
 * A refund Paddle reversed after approving it, end to end: the server with two workers on
 * PostgreSQL, the real SDK against the local fake, webhooks signed as Paddle signs them. A pack
 * half spent is refunded from the admin route and approved; Paddle then reverses the refund
 * (adjustment.updated, delivered again at once to both workers): what the refund took comes back
 * once, the payment is refundable again, and the ledger reconciles.
 */
import { describe, expect, it } from 'vitest';
import { POSTGRES_URL } from './support/harness.ts';
import { inPaddleRefundWorld } from './support/processor-refund-world.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`a Paddle refund reversed, through the server${skipped}`, () => {
  it('gives back what the approved refund took, once, however often Paddle tells of it', async () => {
    await inPaddleRefundWorld(async (world, paddle) => {
      const { call } = world;
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      const pending = await call('POST', '/v1/accounts/acme/purchases', { pack: 'credits-10' }, 'acme-buy');
      const { id: transactionId } = paddle.transactionAt(pending.body.checkoutUrl);
      await paddle.completeTransaction(transactionId);
      await call('POST', '/v1/accounts/acme/usage-records', { model: 'test-model', provider: 'test', usage: { inputTokens: 2_500_000, outputTokens: 0 } }, 'acme-use');
      const balance = async () => (await call('GET', '/v1/accounts/acme/balance')).body;
      const paymentNow = async () => (await call('GET', '/v1/accounts/acme/payments')).body.data.find((p: { reference: string }) => p.reference === transactionId);

      const { id: paymentId } = await paymentNow();
      const refund = await call('POST', `/v1/accounts/acme/payments/${paymentId}/refund`, {}, 'acme-refund');
      expect(refund).toMatchObject({ status: 201, body: { status: 'pending', amountCents: 10_00 } });
      await paddle.flush();
      await paddle.approveRefund(refund.body.refundRef);
      expect(await balance()).toMatchObject({ availableMicros: 0, debtMicros: 5_000_000 });

      const [reversed] = await paddle.reverseRefund(refund.body.refundRef);
      expect([reversed!.event.event_type, reversed!.status, JSON.parse(reversed!.answer).events[0].outcome]).toEqual(['adjustment.updated', 200, 'applied']);
      const again = await Promise.all([paddle.deliver(reversed!.event.event_id), paddle.deliver(reversed!.event.event_id)]);
      expect(again.map((d) => [d.status, JSON.parse(d.answer).events[0].outcome])).toEqual([[200, 'duplicate'], [200, 'duplicate']]);

      expect(await balance()).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });
      expect(await paymentNow()).toMatchObject({ status: 'succeeded', refundedCents: 0, refunds: [{ reference: refund.body.refundRef, reversedAt: expect.any(String) }] });
      expect(await world.refundEntries('acme')).toEqual([
        { bucket: `payment:paddle:${transactionId}`, amount: -5_000_000, payment: transactionId },
        { bucket: null, amount: -5_000_000, payment: transactionId },
        { bucket: `payment:paddle:${transactionId}`, amount: 5_000_000, payment: transactionId },
        { bucket: null, amount: 5_000_000, payment: transactionId },
      ]);
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);

      // Refundable again, all of it: Paddle and Tollgate agree.
      expect(await call('POST', `/v1/accounts/acme/payments/${paymentId}/refund`, {}, 'acme-refund-again')).toMatchObject({ status: 201, body: { status: 'pending', amountCents: 10_00 } });
    });
  }, 120_000);
});
