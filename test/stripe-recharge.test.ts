/**
 * The Stripe processor's auto-recharge, with the real SDK against the local fake of Stripe's API:
 * an off-session PaymentIntent on the card a pack's checkout saved, once per idempotency key (a
 * retry after the customer replaced the card too); no saved card, a decline and a bank's demand
 * for authentication, each said as such; and what the recharge's webhooks become in the engine's
 * words, a pack checkout's own PaymentIntent staying of no interest.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Processor, SavedChargeRequest } from '../src/engine/processor.ts';
import { stripeProcessor } from '../src/processors/stripe/index.ts';
import { customerMaker, packAt, wireUp, type WebhookEndpoint } from './support/processor-fixtures.ts';
import { StripeFake } from './support/stripe-fake.ts';

describe('the Stripe processor charges a saved card for an auto-recharge', () => {
  let fake: StripeFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let packPrice: string;
  const customerFor = customerMaker(() => processor);

  /** An account whose customer bought a pack at checkout, which saved the card it paid with. */
  async function withCard(id: string) {
    const { account, customerId } = await customerFor(id);
    await buyPack(account, customerId);
    return { account, customerId };
  }
  async function buyPack(account: SavedChargeRequest['account'], customerId: string) {
    const answer = (await processor.purchase({ account, customerId, pack: packAt('stripe', 'extra-10', packPrice) })) as { checkoutUrl: string };
    await fake.completeCheckout(answer.checkoutUrl.split('/').pop()!);
  }
  const request = (who: { account: SavedChargeRequest['account']; customerId: string | undefined }, rechargeId: string, amountCents = 10_00): SavedChargeRequest => ({
    ...who, pack: packAt('stripe', 'extra-10', packPrice), amountCents, rechargeId, idempotencyKey: `recharge:${who.account.id}:${rechargeId}`, subscriptionRef: undefined,
  });
  const intentsOf = (customerId: string) => [...fake.paymentIntents.values()].filter((pi) => pi.customer === customerId && pi.metadata.tollgate_recharge);

  beforeAll(async () => {
    fake = await StripeFake.start();
    processor = stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, successUrl: 'https://app.example/ok' });
    ({ endpoint, packPrice } = await wireUp(fake, () => processor, (body) => body.id));
  });
  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.webhooksBeforeAnswer = false;
  });

  it('confirms an off-session PaymentIntent on the saved card, once per key, naming the account, pack and recharge', async () => {
    const who = await withCard('team_pays');
    const card = [...fake.paymentMethods.values()].find((pm) => pm.customer === who.customerId)!;
    const first = await processor.chargeSaved!(request(who, '7', 12_34));
    const again = await processor.chargeSaved!(request(who, '7', 12_34));
    expect(first).toEqual({ status: 'succeeded', paymentRef: expect.stringMatching(/^pi_/) });
    expect(again).toEqual(first);
    expect(intentsOf(who.customerId)).toHaveLength(1);
    const created = fake.requests.filter((r) => r.path === '/v1/payment_intents');
    expect(created).toHaveLength(2);
    expect(created[0]).toMatchObject({
      idempotencyKey: `recharge:${who.account.id}:7`,
      params: {
        amount: '1234', currency: 'usd', customer: who.customerId, payment_method: card.id, off_session: 'true', confirm: 'true',
        metadata: { tollgate_account: who.account.id, tollgate_pack: 'extra-10', tollgate_recharge: '7' },
      },
    });
    // Its webhook, in the engine's words; the pack checkout's own PaymentIntent is of no interest.
    const deliveries = await fake.flush();
    const parsed = deliveries.map((d) => endpoint.parsed.get(d.event.id)![0]);
    expect(parsed).toContainEqual({
      type: 'payment.succeeded', eventId: expect.any(String), accountId: who.account.id, packSlug: 'extra-10', rechargeId: '7', paymentRef: first.status === 'succeeded' ? first.paymentRef : '', amountCents: 12_34, at: expect.any(Date),
    });
    const checkoutIntent = fake.events.find((e) => e.type === 'payment_intent.succeeded' && !e.data.object.metadata.tollgate_recharge)!;
    expect(endpoint.parsed.get((await fake.deliver(checkoutIntent.id)).event.id)).toMatchObject([{ type: 'ignored', processorType: 'payment_intent.succeeded' }]);
  });

  it('says what became of a PaymentIntent whose webhook is late: succeeded, still processing, or failed', async () => {
    const who = await withCard('team_late_webhook');
    const charged = await processor.chargeSaved!(request(who, '12'));
    const paymentRef = charged.status === 'succeeded' ? charged.paymentRef : '';
    expect(await processor.chargeStatus!(paymentRef)).toEqual({ status: 'succeeded', paymentRef });
    const intent = fake.paymentIntents.get(paymentRef)!;
    intent.status = 'processing';
    expect(await processor.chargeStatus!(paymentRef)).toEqual({ status: 'pending', paymentRef });
    Object.assign(intent, { status: 'requires_payment_method', last_payment_error: { message: 'Your card was declined.' } });
    expect(await processor.chargeStatus!(paymentRef)).toEqual({ status: 'declined', code: 'card_declined', message: 'Your card was declined.' });
    await expect(processor.chargeStatus!('pi_unknown')).rejects.toThrow(/No such payment_intent/);
  });

  it('a retry after the customer replaced the card finds the PaymentIntent its first attempt made', async () => {
    const who = await withCard('team_new_card');
    const first = await processor.chargeSaved!(request(who, '8'));
    await buyPack(who.account, who.customerId); // a second card, saved last
    expect([...fake.paymentMethods.values()].filter((pm) => pm.customer === who.customerId)).toHaveLength(2);
    const retry = await processor.chargeSaved!(request(who, '8'));
    expect(retry).toEqual(first);
    expect(intentsOf(who.customerId)).toHaveLength(1);
    // The retry's own request was refused as the key's reuse with other parameters, and found the first.
    expect(fake.requests.filter((r) => r.path === '/v1/payment_intents').map((r) => r.method)).toEqual(['POST', 'POST', 'GET']);
  });

  it('no customer, or no saved card: no_payment_method, and nothing asked of Stripe beyond looking', async () => {
    const { account, customerId } = await customerFor('team_no_card');
    expect(await processor.chargeSaved!(request({ account, customerId: undefined }, '9'))).toMatchObject({ status: 'declined', code: 'no_payment_method' });
    expect(await processor.chargeSaved!(request({ account, customerId }, '9'))).toMatchObject({ status: 'declined', code: 'no_payment_method', message: expect.stringMatching(/checkout saves one/) });
    expect(fake.requests.filter((r) => r.path === '/v1/payment_intents')).toEqual([]);
  });

  it('a customer deleted at Stripe has no card to charge: no_payment_method, not an error retried for ever', async () => {
    const { account, customerId } = await withCard('team_deleted');
    // Deleted in Stripe's dashboard: Stripe answers its id as deleted, and refuses its cards and payments.
    fake.customers.set(customerId, { id: customerId, object: 'customer', deleted: true });
    expect(await processor.chargeSaved!(request({ account, customerId }, '11'))).toMatchObject({ status: 'declined', code: 'no_payment_method' });
    expect(intentsOf(customerId)).toEqual([]);
  });

  it('a decline and a demand for authentication are said as such, by the answer and by payment_intent.payment_failed', async () => {
    for (const code of ['card_declined', 'authentication_required'] as const) {
      const who = await withCard(`team_${code}`);
      fake.declines.set(who.customerId, code);
      const answer = await processor.chargeSaved!(request(who, `10${code.length}`));
      expect(answer).toMatchObject({ status: 'declined', code, message: expect.stringMatching(/^Your card was declined\./) });
      expect(intentsOf(who.customerId)).toMatchObject([{ status: 'requires_payment_method', last_payment_error: { code } }]);
      const [failed] = (await fake.flush()).filter((d) => d.event.type === 'payment_intent.payment_failed');
      expect(endpoint.parsed.get(failed!.event.id)).toEqual([
        { type: 'recharge.failed', eventId: failed!.event.id, accountId: who.account.id, rechargeId: `10${code.length}`, paymentRef: intentsOf(who.customerId)[0]!.id, code, message: expect.any(String), at: expect.any(Date) },
      ]);
    }
  });
});
