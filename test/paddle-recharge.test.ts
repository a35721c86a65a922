/**
 * The Paddle processor's auto-recharge, with the real SDK against the local fake of Paddle's API:
 * a one-time charge on the account's subscription, for the pack plus the debt, its price naming
 * the recharge; a retry (Paddle takes no idempotency key) finds the charge made and makes no
 * other; no subscription, or a declined card, said as such; transaction.completed for the
 * charge, in the engine's words, as the recharge's payment; and a charge answered billed whose
 * payment then fails, transaction.payment_failed, as the recharge's failure; and what became of a
 * charge whose webhook is late (chargeStatus), said as its webhook would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Processor, SavedChargeRequest } from '../src/engine/processor.ts';
import { paddleProcessor } from '../src/processors/paddle/index.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { customerMaker, packAt, planAt, wireUp, type WebhookEndpoint } from './support/processor-fixtures.ts';

describe('the Paddle processor charges a subscription once for an auto-recharge', () => {
  let fake: PaddleFake;
  let processor: Processor;
  let endpoint: WebhookEndpoint;
  let planPrice: string;
  let packPrice: string;
  const customerFor = customerMaker(() => processor);

  async function subscribed(id: string) {
    const { account, customerId } = await customerFor(id);
    const answer = (await processor.subscribe({ account, customerId, plan: planAt('paddle', 'plus', planPrice) })) as { checkoutUrl: string };
    const transaction = fake.transactionAt(answer.checkoutUrl);
    await fake.completeTransaction(transaction.id);
    return { account, customerId, subscriptionRef: transaction.subscription_id! };
  }
  const request = (who: Omit<SavedChargeRequest, 'pack' | 'amountCents' | 'rechargeId' | 'idempotencyKey'>, rechargeId: string): SavedChargeRequest => ({
    ...who, pack: packAt('paddle', 'extra-10', packPrice), amountCents: 12_34, rechargeId, idempotencyKey: `recharge:${who.account.id}:${rechargeId}`,
  });
  const chargesOf = (subscriptionId: string) => [...fake.transactions.values()].filter((t) => t.subscription_id === subscriptionId && t.origin === 'subscription_charge');

  beforeAll(async () => {
    fake = await PaddleFake.start();
    processor = paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url });
    ({ endpoint, planPrice, packPrice } = await wireUp(fake, () => processor, (body) => body.event_id));
  });
  afterAll(async () => {
    await fake.close();
    await endpoint.close();
  });

  it('bills a one-time charge for the amount on the subscription, once however often it is asked, and its webhook names the recharge', async () => {
    const who = await subscribed('team_recharge');
    await fake.flush();
    const first = await processor.chargeSaved!(request(who, '21'));
    const retry = await processor.chargeSaved!(request(who, '21'));
    const [charge] = chargesOf(who.subscriptionRef);
    expect(first).toEqual({ status: 'succeeded', paymentRef: charge!.id, amountCents: 12_34 }); // what Paddle charged (no tax here)
    expect(retry).toEqual(first);
    expect(chargesOf(who.subscriptionRef)).toHaveLength(1);
    expect(charge!.items).toMatchObject([
      { quantity: 1, price: { unit_price: { amount: '1234', currency_code: 'USD' }, custom_data: { tollgate_account: who.account.id, tollgate_pack: 'extra-10', tollgate_recharge: '21' } } },
    ]);
    const completed = (await fake.flush()).find((d) => d.event.event_type === 'transaction.completed')!;
    expect(endpoint.parsed.get(completed.event.event_id)).toEqual([
      { type: 'payment.succeeded', eventId: completed.event.event_id, accountId: who.account.id, paymentRef: charge!.id, packSlug: 'extra-10', rechargeId: '21', amountCents: expect.any(Number), at: expect.any(Date) },
    ]);
    // Another recharge is another charge.
    expect(await processor.chargeSaved!(request(who, '22'))).toMatchObject({ status: 'succeeded' });
    expect(chargesOf(who.subscriptionRef)).toHaveLength(2);
  });

  it('without a subscription there is no card to charge; a declined card is said as such', async () => {
    const { account, customerId } = await customerFor('team_no_subscription');
    expect(await processor.chargeSaved!(request({ account, customerId, subscriptionRef: undefined }, '23'))).toMatchObject({
      status: 'declined', code: 'no_payment_method', message: expect.stringMatching(/only through a subscription: buy a pack at checkout/),
    });
    const who = await subscribed('team_declined');
    fake.declines.add(who.customerId);
    expect(await processor.chargeSaved!(request(who, '24'))).toEqual({ status: 'declined', code: 'card_declined', message: 'payment declined' });
    expect(chargesOf(who.subscriptionRef)).toEqual([]);
  });

  /** A recharge's charge Paddle answers billed, its payment still going through: pending. */
  async function billedCharge(id: string, rechargeId: string) {
    const who = await subscribed(id);
    fake.paysLater.add(who.customerId);
    const pending = await processor.chargeSaved!(request(who, rechargeId));
    const [charge] = chargesOf(who.subscriptionRef);
    expect(pending).toEqual({ status: 'pending', paymentRef: charge!.id });
    expect(charge!.status).toBe('billed');
    return { who, charge: charge! };
  }

  it('a charge billed whose payment then fails: transaction.payment_failed is the recharge failed, and a retry finds it declined', async () => {
    const { who, charge } = await billedCharge('team_fails_later', '25');
    const failed = (await fake.failPayment(charge.id)).find((d) => d.event.event_type === 'transaction.payment_failed')!;
    expect(failed.status).toBe(200);
    expect(endpoint.parsed.get(failed.event.event_id)).toEqual([
      {
        type: 'recharge.failed', eventId: failed.event.event_id, accountId: who.account.id, rechargeId: '25', paymentRef: charge.id,
        code: 'card_declined', message: `the payment of the one-time charge ${charge.id} failed: declined`, at: expect.any(Date),
      },
    ]);
    // Asked again (a crash before its answer was kept), the charge made is found, past due: declined, and no other made.
    expect(await processor.chargeSaved!(request(who, '25'))).toMatchObject({ status: 'declined', code: 'card_declined' });
    expect(chargesOf(who.subscriptionRef)).toHaveLength(1);
  });

  it('says what became of a charge whose webhook is late, as its webhook would: billed, paid, completed, past due, or canceled', async () => {
    const { who, charge } = await billedCharge('team_late_webhook', '27');
    expect(await processor.chargeStatus!(charge.id)).toEqual({ status: 'pending', paymentRef: charge.id });
    expect(fake.requests.filter((r) => r.method === 'GET' && r.path === `/transactions/${charge.id}`)).toHaveLength(1);
    await fake.payBilled(charge.id);
    expect(await processor.chargeStatus!(charge.id)).toEqual({ status: 'succeeded', paymentRef: charge.id, amountCents: 12_34 });
    charge.status = 'paid'; // as Paddle shows it between transaction.paid and transaction.completed
    expect(await processor.chargeStatus!(charge.id)).toEqual({ status: 'succeeded', paymentRef: charge.id, amountCents: 12_34 });

    // Its payment failed: the code and message transaction.payment_failed gives, whichever the engine hears first.
    const { charge: failing } = await billedCharge('team_late_failure', '28');
    const failed = (await fake.failPayment(failing.id, 'authentication_failed')).find((d) => d.event.event_type === 'transaction.payment_failed')!;
    const told = { code: 'authentication_required', message: `the payment of the one-time charge ${failing.id} failed: authentication failed` };
    expect(endpoint.parsed.get(failed.event.event_id)).toMatchObject([{ type: 'recharge.failed', ...told }]);
    expect(await processor.chargeStatus!(failing.id)).toEqual({ status: 'declined', ...told });
    // The subscription ends while it is past due: Paddle cancels it.
    await fake.cancelNow(failing.subscription_id!);
    expect(await processor.chargeStatus!(failing.id)).toEqual({ status: 'declined', code: 'card_declined', message: `the one-time charge ${failing.id} was canceled` });

    await expect(processor.chargeStatus!('txn_01unknown00000000000000000')).rejects.toThrow(/Transaction txn_01unknown00000000000000000 not found/);
    expect(chargesOf(who.subscriptionRef)).toHaveLength(1);
  });

  it('a bank asking for authentication is said as such; a renewal\'s failed payment is no recharge\'s', async () => {
    const { charge } = await billedCharge('team_authenticates', '26');
    const failed = (await fake.failPayment(charge.id, 'authentication_failed')).find((d) => d.event.event_type === 'transaction.payment_failed')!;
    expect(endpoint.parsed.get(failed.event.event_id)).toMatchObject([
      { type: 'recharge.failed', code: 'authentication_required', message: `the payment of the one-time charge ${charge.id} failed: authentication failed` },
    ]);

    const who = await subscribed('team_renewal_fails');
    fake.declines.add(who.customerId);
    const renewal = (await fake.renew(who.subscriptionRef)).find((d) => d.event.event_type === 'transaction.payment_failed')!;
    expect(endpoint.parsed.get(renewal.event.event_id)).toEqual([{ type: 'ignored', eventId: renewal.event.event_id, processorType: 'transaction.payment_failed', accountId: who.account.id }]);
  });
});
