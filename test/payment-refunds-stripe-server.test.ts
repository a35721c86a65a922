/**
 * Refunds and disputes through Stripe, end to end: the server with two workers on PostgreSQL, the
 * real SDK against the local fake, webhooks signed as Stripe signs them. A pack bought and half
 * spent is refunded from the admin route through Stripe: its answer applies it, its webhook finds
 * it applied, and the ledger's entries name the payment. A dispute flags the account. And a story
 * whose webhooks come twice each, concurrently and shuffled (refunds and disputes before their
 * payments), ends with the ledger of the same story told in order. An inquiry the bank escalated
 * and the customer won is taken back when it closes.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { refundWorld, toldInAnyOrder, type RefundWorld } from './support/refund-world.ts';
import { StripeFake } from './support/stripe-fake.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';

interface StripeWorld {
  db: { sql: Sql };
  stripe: StripeFake;
  world: RefundWorld;
  /** Buys the pack on Stripe's page: the session's payment intent (the payment's reference). */
  buy(accountId: string, key: string): Promise<string>;
}

/** The server on a database of its own, selling the $10 pack through the Stripe fake, for `story`. */
async function inStripeWorld(story: (w: StripeWorld) => Promise<void>): Promise<void> {
  const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
  const stripe = await StripeFake.start();
  let world: RefundWorld | undefined;
  try {
    world = await refundWorld(db, { TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url });
    const { call } = world;
    stripe.webhookUrl = `${world.base}/webhooks/stripe`;
    await call('PATCH', '/v1/admin/packs/credits-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
    const buy = async (accountId: string, key: string) => {
      const pending = await call('POST', `/v1/accounts/${accountId}/purchases`, { pack: 'credits-10', successUrl: 'https://app.example/ok' }, key);
      expect(pending.status).toBe(202);
      const sessionId = [...stripe.sessions.keys()].at(-1)!;
      await stripe.completeCheckout(sessionId);
      return stripe.sessions.get(sessionId)!.payment_intent as string;
    };
    await story({ db, stripe, world, buy });
  } finally {
    await world?.close();
    await stripe.close();
    await db.drop();
  }
}

describe.skipIf(skipped !== '')(`Stripe refunds and disputes through the server${skipped}`, () => {
  it('refunds from the admin route through Stripe, flags a dispute, and ends the same whatever the webhooks\' order', async () => {
    await inStripeWorld(async ({ db, stripe, world, buy }) => {
      const { call } = world;

      // A pack bought and half spent, beside a second one; the first refunded in full from the admin route.
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      const first = await buy('acme', 'acme-buy-1');
      const second = await buy('acme', 'acme-buy-2');
      const spent = await call('POST', '/v1/accounts/acme/usage-records', { model: 'test-model', provider: 'test', usage: { inputTokens: 2_500_000, outputTokens: 0 } }, 'acme-use');
      expect(spent.body).toMatchObject({ valueMicros: 5_000_000, debtMicros: 0 });
      const payments = (await call('GET', '/v1/accounts/acme/payments')).body.data;
      const payment = payments.find((p: { reference: string }) => p.reference === first);
      expect(payment).toMatchObject({ kind: 'pack', item: 'credits-10', amountCents: 10_00, status: 'succeeded', refundedCents: 0, refunds: [] });

      await expect(call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, {})).resolves.toMatchObject({ status: 400 }); // no Idempotency-Key
      const refunded = await call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, {}, 'acme-refund');
      expect(refunded).toMatchObject({ status: 201, body: { paymentId: payment.id, amountCents: 10_00, status: 'refunded', refundRef: expect.stringMatching(/^re_/), replayed: false } });
      const asked = stripe.requests.filter((r) => r.path === '/v1/refunds');
      expect(asked).toEqual([expect.objectContaining({ params: expect.objectContaining({ payment_intent: first, amount: '1000' }), idempotencyKey: 'acme-refund' })]);
      // Retried under its key: the first answer, and Stripe asked once.
      expect(await call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, {}, 'acme-refund')).toEqual({ ...refunded, body: { ...refunded.body, replayed: true } });
      expect(stripe.requests.filter((r) => r.path === '/v1/refunds')).toHaveLength(1);
      // Stripe's webhook tells of the refund again: found applied.
      const told = await stripe.flush();
      expect(told.map((d) => [d.event.type, d.status, JSON.parse(d.answer).events[0].outcome])).toEqual([['refund.created', 200, 'ignored'], ['charge.refunded', 200, 'ignored']]);

      expect(await world.refundEntries('acme')).toEqual([
        { bucket: `payment:stripe:${first}`, amount: -5_000_000, payment: first },
        { bucket: null, amount: -5_000_000, payment: first },
      ]);
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ debtMicros: 5_000_000, availableMicros: 5_000_000 });
      expect((await call('GET', '/v1/accounts/acme/payments')).body.data.find((p: { reference: string }) => p.reference === first)).toMatchObject({
        status: 'refunded', refundedCents: 10_00, refunds: [{ kind: 'refund', reference: refunded.body.refundRef, appliedCents: 10_00, removedMicros: 5_000_000, usedMicros: 5_000_000, usedValue: 'debt' }],
      });
      // Stripe refuses a refund of what is left of nothing: asked again under a new key, Tollgate refuses first.
      expect(await call('POST', `/v1/accounts/acme/payments/${payment.id}/refund`, { amountCents: 1 }, 'acme-refund-2')).toMatchObject({ status: 400, body: { error: { code: 'refund_exceeds_payment' } } });

      // The second pack disputed: taken back, the account flagged.
      expect((await call('GET', '/v1/accounts/acme')).body.disputedAt).toBeNull();
      const { disputeId, deliveries } = await stripe.dispute(second);
      expect(deliveries.map((d) => d.status)).toEqual([200]);
      expect((await call('GET', '/v1/accounts/acme')).body.disputedAt).toEqual(expect.any(String));
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ debtMicros: 5_000_000, availableMicros: 0 });
      await stripe.closeDispute(disputeId, 'won');
      expect((await call('GET', '/v1/accounts/acme/payments')).body.data.find((p: { reference: string }) => p.reference === second)).toMatchObject({
        status: 'refunded', disputedAt: expect.any(String), refunds: [{ kind: 'dispute_won', appliedCents: 0 }, { kind: 'dispute', reference: disputeId, appliedCents: 10_00 }],
      });
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);

      // One story, told in order to one account, and to another with every webhook twice, concurrently, shuffled.
      const story = async (accountId: string) => {
        await call('PUT', `/v1/accounts/${accountId}`, { kind: 'team' });
        const [one, two] = [await buy(accountId, `${accountId}-1`), await buy(accountId, `${accountId}-2`)];
        await stripe.refundFromDashboard(one, 4_00);
        await stripe.refundFromDashboard(one, 1_00);
        const { disputeId: dispute } = await stripe.dispute(two, 6_00);
        await stripe.closeDispute(dispute, 'won');
      };
      expect(await toldInAnyOrder(world, db.sql, stripe, () => stripe.events.map((e) => e.id as string), story)).toMatchObject({ availableMicros: 9_000_000, debtMicros: 0, disputed: true, reconciled: true });
    });
  }, 120_000);

  it('takes back a pack whose inquiry the bank escalated into a chargeback and the customer won, told by no dispute created', async () => {
    await inStripeWorld(async ({ stripe, world: { call }, buy }) => {
      await call('PUT', '/v1/accounts/acme', { kind: 'team' });
      const intent = await buy('acme', 'acme-buy');
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 10_000_000 });

      // An inquiry takes nothing; escalated, the bank has the money back; lost, it stays with the customer.
      const { disputeId } = await stripe.dispute(intent, 10_00, 'warning_needs_response');
      await stripe.escalate(disputeId);
      const closed = await stripe.closeDispute(disputeId, 'lost');
      expect(closed.map((d) => [d.status, JSON.parse(d.answer).events[0].outcome])).toEqual([[200, 'applied']]);
      expect((await call('GET', '/v1/accounts/acme/balance')).body).toMatchObject({ availableMicros: 0, debtMicros: 0 });
      expect((await call('GET', '/v1/accounts/acme')).body.disputedAt).toEqual(expect.any(String));
      expect((await call('GET', '/v1/accounts/acme/payments')).body.data[0]).toMatchObject({
        status: 'refunded', refundedCents: 10_00, refunds: [{ kind: 'dispute', reference: disputeId, appliedCents: 10_00, removedMicros: 10_000_000 }],
      });
      // Told again (its close delivered twice): applied once.
      expect((await stripe.deliver(closed[0]!.event.id as string)).status).toBe(200);
      expect((await call('GET', '/v1/accounts/acme/payments')).body.data[0].refunds).toHaveLength(1);
      expect((await call('GET', '/v1/accounts/acme/reconciliation')).body.ok).toBe(true);
    });
  }, 120_000);
});
