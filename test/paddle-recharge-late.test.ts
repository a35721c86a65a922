/**
 * A Paddle recharge answered pending whose webhooks never came: Paddle billed the one-time charge
 * while its payment was still going through, and nothing told the engine what became of it. Ten
 * minutes on, one of two processes asks Paddle for the transaction (chargeStatus: the real SDK's
 * GET /transactions/{id}, against the local fake) and settles the recharge as its webhook would:
 * paid, credited once, the late webhooks (signed as Paddle signs them) adding nothing; past due
 * or canceled, declined, with what the webhook would have said; still billed, asked less and less
 * often until the week a payment may take is over, then ended unanswered with auto-recharge off,
 * and its payment still credited once if Paddle collects it after all; a pack repriced meanwhile,
 * credited at the value its charge was for. On both engines.
 */
import { describe, expect, it } from 'vitest';
import { DAY, ENGINES, MINUTE } from './support/harness.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a Paddle recharge whose webhooks never came, settled by asking Paddle, on ${engine.name}`, () => {
    const world = usePaddleBilling(engine);
    const { t, deliver, fake } = world;
    const recharges = () => t.sql.query<{ status: string; payment_ref: string | null; reason: string | null }>(`SELECT status, payment_ref, reason FROM recharges WHERE account_id = 'acme' ORDER BY id`);
    const credits = () => t.sql.query<{ amount: number; reference: string }>(`SELECT amount_micros::int AS amount, reference FROM buckets WHERE account_id = 'acme' AND source = 'recharge' ORDER BY id`);
    const available = async () => (await t.billing.balance('acme')).availableMicros;
    /** The SDK's requests for the transaction: each one a chargeStatus. */
    const asked = (transactionId: string) => fake().requests.filter((r) => r.method === 'GET' && r.path === `/transactions/${transactionId}`).length;

    /**
     * acme on Plus through Paddle, auto-recharge on just above what it has, and a card whose
     * payments go through after Paddle answers: the recharge's one-time charge is billed, the
     * recharge awaits its payment. What acme had, the charge, and the subscription.
     */
    async function awaitingPayment() {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const subscribing = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      const from = fake().events.length;
      await fake().completeTransaction(fake().transactionAt(subscribing.checkoutUrl).id);
      await deliver(from);
      const subscription = [...fake().subscriptions.values()][0]!;
      const before = await available();
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: before + 1 });
      fake().paysLater.add(subscription.customer_id);
      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'pending' }]);
      const [charge] = [...fake().transactions.values()].filter((each) => each.origin === 'subscription_charge');
      expect(charge).toMatchObject({ status: 'billed', subscription_id: subscription.id });
      expect(await recharges()).toEqual([{ status: 'awaiting_payment', payment_ref: charge!.id, reason: null }]);
      return { before, charge: charge!, subscription, webhooksFrom: fake().events.length };
    }

    /** Both processes run recharges at once: what they did between them. */
    async function runBoth() {
      const twin = await world.twin();
      try {
        return (await Promise.all([t.billing, twin].map((b) => b.runRecharges()))).flat();
      } finally {
        await twin.close();
      }
    }

    it('paid at Paddle: one process asks, the recharge is credited once, and its late webhooks, twice at once, add nothing', async () => {
      const { before, charge, webhooksFrom } = await awaitingPayment();
      await fake().payBilled(charge.id); // paid and completed; its webhooks are lost
      t.clock.advance(9 * MINUTE);
      expect(await runBoth()).toEqual([]); // its webhook still has the time to come
      expect(asked(charge.id)).toBe(0);

      t.clock.advance(2 * MINUTE);
      expect(await runBoth()).toEqual([{ rechargeId: expect.any(Number), accountId: 'acme', outcome: 'succeeded', paymentRef: charge.id }]);
      expect(asked(charge.id)).toBe(1);
      expect(await recharges()).toEqual([{ status: 'succeeded', payment_ref: charge.id, reason: null }]);
      expect(await credits()).toEqual([{ amount: 10_000_000, reference: `payment:paddle:${charge.id}` }]);
      expect(await available()).toBe(before + 10_000_000);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', recharging: false });

      // Paddle's webhooks come after all, through both processes at once, and again: nothing more.
      const twin = await world.twin();
      try {
        await Promise.all([deliver(webhooksFrom), deliver(webhooksFrom, twin)]);
      } finally {
        await twin.close();
      }
      await deliver(webhooksFrom);
      expect(await t.sql.query(`SELECT type, status FROM webhook_events WHERE object_ref = $1`, [charge.id])).toEqual([{ type: 'payment.succeeded', status: 'applied' }]);
      expect(await credits()).toEqual([{ amount: 10_000_000, reference: `payment:paddle:${charge.id}` }]);
      expect(await available()).toBe(before + 10_000_000);
      expect(await recharges()).toEqual([{ status: 'succeeded', payment_ref: charge.id, reason: null }]);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });

    it('the pack repriced while its charge awaited payment: the recharge credits what it charged for, not the pack as it is then', async () => {
      const { before, charge, webhooksFrom } = await awaitingPayment();
      await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 }); // now $20 for 2,000 credits
      await fake().payBilled(charge.id);
      await deliver(webhooksFrom);
      expect(await recharges()).toEqual([{ status: 'succeeded', payment_ref: charge.id, reason: null }]);
      expect(await credits()).toEqual([{ amount: 10_000_000, reference: `payment:paddle:${charge.id}` }]);
      expect(await available()).toBe(before + 10_000_000);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });

    it('its payment failed at Paddle (past due): declined as transaction.payment_failed says, auto-recharge off, and that webhook, late, changes nothing', async () => {
      const { before, charge, webhooksFrom } = await awaitingPayment();
      await fake().failPayment(charge.id, 'authentication_failed'); // past due; its webhooks are lost
      t.clock.advance(11 * MINUTE);
      const failure = `the payment of the one-time charge ${charge.id} failed: authentication failed`;
      expect(await runBoth()).toEqual([{ rechargeId: expect.any(Number), accountId: 'acme', outcome: 'declined', paymentRef: charge.id, reason: failure }]);
      expect(asked(charge.id)).toBe(1);
      const declined = [{ status: 'declined', payment_ref: charge.id, reason: `authentication_required: ${failure}` }];
      expect(await recharges()).toEqual(declined);
      const off = { state: 'off', recharging: false, off: { code: 'authentication_required', message: expect.stringContaining(`(${failure})`) } };
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject(off);
      expect(await credits()).toEqual([]);
      expect(await available()).toBe(before);

      await deliver(webhooksFrom);
      await deliver(webhooksFrom);
      expect(await t.sql.query(`SELECT type, status FROM webhook_events WHERE object_ref = $1`, [charge.id])).toEqual([{ type: 'recharge.failed', status: 'applied' }]);
      expect(await recharges()).toEqual(declined);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject(off);
      expect(await credits()).toEqual([]);
      expect(await available()).toBe(before);
      expect(await runBoth()).toEqual([]); // off: nothing more asked or charged
      expect(asked(charge.id)).toBe(1);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });

    it('canceled at Paddle (its subscription ended while it was past due): declined, auto-recharge off, nothing credited', async () => {
      const { before, charge, subscription } = await awaitingPayment();
      await fake().failPayment(charge.id);
      await fake().cancelNow(subscription.id); // Paddle cancels the subscription's past-due transactions with it
      expect(fake().transactions.get(charge.id)!.status).toBe('canceled');
      t.clock.advance(11 * MINUTE);
      expect(await runBoth()).toMatchObject([{ outcome: 'declined', paymentRef: charge.id }]);
      expect(asked(charge.id)).toBe(1);
      expect(await recharges()).toEqual([{ status: 'declined', payment_ref: charge.id, reason: `card_declined: the one-time charge ${charge.id} was canceled` }]);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', recharging: false, off: { code: 'card_declined' } });
      expect(await credits()).toEqual([]);
      expect(await available()).toBe(before);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });

    it('still billed, its payment going through: asked less and less often, awaiting for a week, then unanswered and auto-recharge off; collected after all, credited once', async () => {
      const { before, charge, webhooksFrom } = await awaitingPayment();
      const sentAt = t.clock.read().getTime();
      const checks: number[] = [];
      for (;;) {
        const [due] = await t.sql.query<{ run_after: Date }>(`SELECT run_after FROM recharges WHERE account_id = 'acme'`);
        t.clock.set(new Date(due!.run_after).toISOString());
        const runs = await runBoth();
        if (runs[0]?.outcome !== 'pending') break;
        expect(runs).toEqual([{ rechargeId: expect.any(Number), accountId: 'acme', outcome: 'pending', paymentRef: charge.id, reason: 'the processor says the payment is processing' }]);
        checks.push(t.clock.read().getTime() - sentAt);
        // Past the day a processor that cannot say is given, it still awaits: Paddle says it is billed.
        expect(await recharges()).toEqual([{ status: 'awaiting_payment', payment_ref: charge.id, reason: 'the processor says the payment is processing' }]);
        expect(await credits()).toEqual([]);
      }
      // First ten minutes on, then as long again as it has waited, up to every six hours: 33 asks in the week.
      expect(checks.slice(0, 7)).toEqual([10, 20, 40, 80, 160, 320, 640].map((m) => m * MINUTE));
      expect(checks.slice(7).every((at, i) => at - checks[i + 6]! === 6 * 60 * MINUTE)).toBe(true);
      expect(checks).toHaveLength(33);
      expect(checks.at(-1)).toBeLessThanOrEqual(7 * DAY);
      expect(asked(charge.id)).toBe(checks.length + 1);
      expect(t.clock.read().getTime() - sentAt).toBeGreaterThan(7 * DAY);
      const reason = `the processor still says the recharge of $10.00 (${charge.id}) is processing after a week`;
      expect(await recharges()).toEqual([{ status: 'unanswered', payment_ref: charge.id, reason }]);
      expect((await t.billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', recharging: false, off: { code: 'processor_unanswered' } });
      expect(await credits()).toEqual([]);
      expect(await available()).toBe(before);
      expect(await runBoth()).toEqual([]); // off: no more asking, no new recharge

      // Paddle collects it after all: its webhook credits it, once.
      await fake().payBilled(charge.id);
      await deliver(webhooksFrom);
      await deliver(webhooksFrom);
      expect(await credits()).toEqual([{ amount: 10_000_000, reference: `payment:paddle:${charge.id}` }]);
      expect(await available()).toBe(before + 10_000_000);
      expect((await t.billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
