/**
 * A refund that failed at Stripe after it succeeded, end to end: the server with two workers on
 * PostgreSQL, the real SDK against the local fake, webhooks signed as Stripe signs them. A pack
 * half spent is refunded from the admin route; Stripe then fails the refund and tells of it by
 * refund.updated and refund.failed, each delivered again, all at once to both workers: what the
 * refund took comes back once, the payment is refundable again, and the ledger reconciles.
 */
import { describe, expect, it } from 'vitest';
import { POSTGRES_URL } from './support/harness.ts';
import { inStripeRefundWorld } from './support/processor-refund-world.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

describe.skipIf(skipped !== '')(`a Stripe refund that failed, through the server${skipped}`, () => {
  it('gives back what the refund took, once, however often and however concurrently Stripe tells of it', async () => {
    await inStripeRefundWorld(async (world, stripe) => {
      const { call } = world;
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      expect((await call('POST', '/v1/accounts/acme/purchases', { pack: 'credits-10', successUrl: 'https://app.example/ok' }, 'acme-buy')).status).toBe(202);
      const sessionId = [...stripe.sessions.keys()].at(-1)!;
      await stripe.completeCheckout(sessionId);
      const intent = stripe.sessions.get(sessionId)!.payment_intent as string;
      await call('POST', '/v1/accounts/acme/usage-records', { model: 'test-model', provider: 'test', usage: { inputTokens: 2_500_000, outputTokens: 0 } }, 'acme-use');
      const balance = async () => (await call('GET', '/v1/accounts/acme/balance')).body;
      const paymentNow = async () => (await call('GET', '/v1/accounts/acme/payments')).body.data.find((p: { reference: string }) => p.reference === intent);
      expect(await balance()).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });

      const { id: paymentId } = await paymentNow();
      const refunded = await call('POST', `/v1/accounts/acme/payments/${paymentId}/refund`, {}, 'acme-refund');
      expect(refunded).toMatchObject({ status: 201, body: { status: 'refunded', amountCents: 10_00 } });
      await stripe.flush();
      expect(await balance()).toMatchObject({ availableMicros: 0, debtMicros: 5_000_000 });

      // Stripe fails it: refund.updated and refund.failed, sent, then each delivered twice more, all at once.
      stripe.webhookUrl = undefined;
      await stripe.failRefund(refunded.body.refundRef);
      stripe.webhookUrl = `${world.base}/webhooks/stripe`;
      const failures = stripe.events.slice(-2).map((e) => e.id as string);
      expect(stripe.events.slice(-2).map((e) => e.type)).toEqual(['refund.updated', 'refund.failed']);
      const answers = await Promise.all([...failures, ...failures, ...failures].map((eventId) => stripe.deliver(eventId)));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
      const outcomes = answers.map((a) => JSON.parse(a.answer).events[0].outcome as string);
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'ignored')).toHaveLength(1); // the other event about the same refund
      expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(4);

      expect(await balance()).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });
      expect(await paymentNow()).toMatchObject({
        status: 'succeeded', refundedCents: 0, refunds: [{ reference: refunded.body.refundRef, appliedCents: 10_00, reversedAt: expect.any(String) }],
      });
      expect(await world.refundEntries('acme')).toEqual([
        { bucket: `payment:stripe:${intent}`, amount: -5_000_000, payment: intent },
        { bucket: null, amount: -5_000_000, payment: intent },
        { bucket: `payment:stripe:${intent}`, amount: 5_000_000, payment: intent },
        { bucket: null, amount: 5_000_000, payment: intent },
      ]);
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);

      // Refundable again, all of it: Stripe and Tollgate agree.
      const again = await call('POST', `/v1/accounts/acme/payments/${paymentId}/refund`, {}, 'acme-refund-again');
      expect(again).toMatchObject({ status: 201, body: { status: 'refunded', amountCents: 10_00 } });
      expect(await balance()).toMatchObject({ availableMicros: 0, debtMicros: 5_000_000 });
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
    });
  }, 120_000);
});
