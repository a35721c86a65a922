/**
 * Refunds and disputes at Stripe and Paddle, each processor with its real SDK against its local
 * fake: what a refund asks of the processor (a period's invoice refunded through the payment
 * intent that paid it; a Paddle refund in part on the transaction's item), what the processor
 * refuses, and what its signed webhooks about refunds and disputes become in the engine's words
 * (the payment each names, an inquiry or a credit ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Processor, ProcessorEvent } from '../src/engine/processor.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { customerMaker, packAt, planAt, wireUp, type WebhookEndpoint } from './support/processor-fixtures.ts';
import { StripeFake, type Delivery as StripeDelivery } from './support/stripe-fake.ts';

describe('refunds and disputes at Stripe', () => {
  let fake: StripeFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let planPrice: string;
  let packPrice: string;
  const customerFor = customerMaker(() => processor);
  const parsed = (deliveries: StripeDelivery[]) => deliveries.map((d) => endpoint.parsed.get(d.event.id)![0]!);

  beforeAll(async () => {
    fake = await StripeFake.start();
    processor = stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, successUrl: 'https://app.example/done' });
    ({ endpoint, planPrice, packPrice } = await wireUp(fake, () => processor, (body) => body.id));
  });
  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });

  /** A checkout paid: the session. */
  async function paid(kind: 'plan' | 'pack') {
    const { account, customerId } = await customerFor(`acme_${kind}`);
    const answer = kind === 'plan' ? await processor.subscribe({ account, customerId, plan: planAt('stripe', 'plus', planPrice) }) : await processor.purchase({ account, customerId, pack: packAt('stripe', 'extra', packPrice) });
    const session = fake.sessions.get((answer as { checkoutUrl: string }).checkoutUrl.split('/').pop()!)!;
    await fake.completeCheckout(session.id);
    return { account, session };
  }

  it('refunds a period through the payment intent that paid its invoice, and names the invoice when Stripe tells of it', async () => {
    const { account, session } = await paid('plan');
    const invoice = session.invoice as string;
    const intent = [...fake.invoicePayments.values()].find((p) => p.invoice === invoice)!.payment.payment_intent;
    const request = { account, paymentRef: invoice, paymentKind: 'subscription' as const, amountCents: 5_00, idempotencyKey: 'refund-period' };
    const refund = await processor.refund!(request);
    expect(refund).toEqual({ status: 'succeeded', refundRef: expect.stringMatching(/^re_/) });
    expect(fake.requests.filter((r) => r.path === '/v1/refunds').map((r) => [r.params.payment_intent, r.params.amount, r.params.metadata, r.idempotencyKey])).toEqual([
      [intent, '500', { tollgate_account: account.id }, 'refund-period'],
    ]);
    expect(await processor.refund!(request)).toEqual(refund); // retried under its key: the same refund
    expect([...fake.refunds.values()].filter((r) => r.payment_intent === intent)).toHaveLength(1);
    const told = parsed(await fake.flush());
    expect(told).toEqual([
      { type: 'payment.refunded', eventId: expect.any(String), accountId: account.id, paymentRef: invoice, refundRef: refund.refundRef, amountCents: 5_00, at: expect.any(Date) },
      { type: 'ignored', eventId: expect.any(String), processorType: 'charge.refunded' }, // the refund is told by its own events
    ]);
    await expect(processor.refund!({ ...request, amountCents: 20_00, idempotencyKey: 'refund-too-much' })).rejects.toMatchObject({
      code: 'processor_error', message: expect.stringContaining('greater than unrefunded amount'),
    });
  });

  it('tells a dispute of a pack as its payment intent\'s, ignores an inquiry, records a win, and tells a loss as the dispute', async () => {
    const { session } = await paid('pack');
    const intent = session.payment_intent as string;
    const { disputeId, deliveries } = await fake.dispute(intent, 4_00);
    expect(parsed(deliveries)).toEqual([{ type: 'payment.disputed', eventId: expect.any(String), paymentRef: intent, disputeRef: disputeId, amountCents: 4_00, at: expect.any(Date) }]);
    expect(parsed(await fake.closeDispute(disputeId, 'won'))).toMatchObject([{ type: 'payment.dispute_won', paymentRef: intent, disputeRef: `${disputeId}:won`, amountCents: 4_00 }]);
    // Lost: the dispute again, by its own id (the engine applies it once).
    expect(parsed(await fake.closeDispute(disputeId, 'lost'))).toEqual([{ type: 'payment.disputed', eventId: expect.any(String), paymentRef: intent, disputeRef: disputeId, amountCents: 4_00, at: expect.any(Date) }]);
    const inquiry = await fake.dispute(intent, 1_00, 'warning_needs_response');
    expect(parsed(inquiry.deliveries)).toMatchObject([{ type: 'ignored', processorType: 'charge.dispute.created' }]);
    // Escalated, it is told by no created; lost, it is the dispute.
    expect(parsed(await fake.escalate(inquiry.disputeId)).map((e) => e.type)).toEqual(['ignored', 'ignored']);
    expect(parsed(await fake.closeDispute(inquiry.disputeId, 'lost'))).toMatchObject([{ type: 'payment.disputed', paymentRef: intent, disputeRef: inquiry.disputeId, amountCents: 1_00 }]);
  });

  it('tells a refund that failed after it succeeded, by refund.updated and refund.failed alike, as the refund that failed; its amount is refundable again', async () => {
    const { account, session } = await paid('pack');
    const intent = session.payment_intent as string;
    const request = { account, paymentRef: intent, paymentKind: 'pack' as const, amountCents: 6_00, idempotencyKey: 'refund-to-fail' };
    const refund = await processor.refund!(request);
    await fake.flush();
    const deliveries = await fake.failRefund(refund.refundRef);
    expect(deliveries.map((d) => [d.event.type, (d.event.data.object as { status: string }).status])).toEqual([['refund.updated', 'failed'], ['refund.failed', 'failed']]);
    const failed = { type: 'payment.refund_failed', accountId: account.id, paymentRef: intent, refundRef: refund.refundRef, at: expect.any(Date) };
    expect(parsed(deliveries)).toEqual([{ ...failed, eventId: deliveries[0]!.event.id }, { ...failed, eventId: deliveries[1]!.event.id }]);
    // Its money came back to the merchant: all of the payment is refundable again.
    expect(await processor.refund!({ ...request, amountCents: 10_00, idempotencyKey: 'refund-all-after-failed' })).toMatchObject({ status: 'succeeded' });
  });
});

describe('refunds and disputes at Paddle', () => {
  let fake: PaddleFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let packPrice: string;
  const customerFor = customerMaker(() => processor);
  const told = (eventId: string): ProcessorEvent => endpoint.parsed.get(eventId)![0]!;

  beforeAll(async () => {
    fake = await PaddleFake.start();
    processor = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url });
    ({ endpoint, packPrice } = await wireUp(fake, () => processor, (body) => body.event_id));
  });
  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });

  it('refunds in part on the transaction\'s item, pending Paddle\'s review; a retry finds the refund it made; approved, it is the payment\'s refund', async () => {
    const { account, customerId } = await customerFor('acme');
    const answer = await processor.purchase({ account, customerId, pack: packAt('paddle', 'extra', packPrice) });
    const transaction = fake.transactionAt((answer as { checkoutUrl: string }).checkoutUrl);
    await fake.completeTransaction(transaction.id);
    const request = { account, paymentRef: transaction.id, paymentKind: 'pack' as const, amountCents: 3_00, idempotencyKey: 'refund-part' };
    const refund = await processor.refund!(request);
    expect(refund).toEqual({ status: 'pending', refundRef: expect.stringMatching(/^adj_/) });
    expect(fake.adjustments.get(refund.refundRef)).toMatchObject({
      action: 'refund', type: 'partial', status: 'pending_approval', reason: 'Refund from Tollgate (refund-part)', items: [{ item_id: transaction.details!.line_items[0]!.id, amount: '300' }],
    });
    expect(await processor.refund!(request)).toEqual(refund);
    expect(fake.adjustments.size).toBe(1);
    const [created] = await fake.flush();
    expect(told(created!.event.event_id)).toMatchObject({ type: 'ignored', processorType: 'adjustment.created' }); // pending: nothing yet
    const [approved] = await fake.approveRefund(refund.refundRef);
    expect(told(approved!.event.event_id)).toEqual({ type: 'payment.refunded', eventId: approved!.event.event_id, paymentRef: transaction.id, refundRef: refund.refundRef, amountCents: 3_00, at: expect.any(Date) });

    // The rest in full; then nothing is left, and Paddle refuses.
    const rest = await processor.refund!({ ...request, amountCents: 7_00, idempotencyKey: 'refund-rest' });
    expect(fake.adjustments.get(rest.refundRef)).toMatchObject({ type: 'partial', totals: { total: '700' } });
    await expect(processor.refund!({ ...request, amountCents: 1_00, idempotencyKey: 'refund-more' })).rejects.toMatchObject({ code: 'processor_error', message: expect.stringContaining('Paddle refused the refund') });

    // A chargeback is the payment's dispute, its reverse the dispute won.
    const { deliveries } = await fake.chargeback(transaction.id, 2_00, 'chargeback_reverse');
    expect(told(deliveries.at(-1)!.event.event_id)).toMatchObject({ type: 'payment.dispute_won', paymentRef: transaction.id, amountCents: 2_00 });
  });

  it('tells a refund Paddle reversed after approving it as the refund that failed; its amount is refundable again', async () => {
    const { account, customerId } = await customerFor('acme');
    const answer = await processor.purchase({ account, customerId, pack: packAt('paddle', 'extra', packPrice) });
    const transaction = fake.transactionAt((answer as { checkoutUrl: string }).checkoutUrl);
    await fake.completeTransaction(transaction.id);
    const request = { account, paymentRef: transaction.id, paymentKind: 'pack' as const, amountCents: 10_00, idempotencyKey: 'refund-reversed' };
    const refund = await processor.refund!(request);
    await fake.approveRefund(refund.refundRef);
    const [reversed] = await fake.reverseRefund(refund.refundRef);
    expect(reversed!.event).toMatchObject({ event_type: 'adjustment.updated', data: { id: refund.refundRef, action: 'refund', status: 'reversed' } });
    expect(told(reversed!.event.event_id)).toEqual({ type: 'payment.refund_failed', eventId: reversed!.event.event_id, paymentRef: transaction.id, refundRef: refund.refundRef, at: expect.any(Date) });
    expect(await processor.refund!({ ...request, idempotencyKey: 'refund-again' })).toMatchObject({ status: 'pending', refundRef: expect.stringMatching(/^adj_/) });
  });
});
