/**
 * A subscription's life at a real processor, on the engine's side: a period and its allowance
 * open when the processor says it is paid, not when the clock says it began; a renewal whose
 * payment failed is past due (the default plan's terms for the grace, then payment_past_due with
 * the billing portal as the remedy) until it is paid; a plan change goes through the processor
 * and applies at once, its allowance in proportion; a cancel at the period's end runs to it and
 * can be called off. Whatever order the processor's events come in, and however often, the
 * account ends where in-order delivery leaves it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessorEvent } from '../src/index.ts';
import { ENGINES, HOUR, useBilling } from './support/harness.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { delivery, planChanges, SIGNED, signedProcessor } from './support/signed-processor.ts';

const MAR_10 = new Date('2026-03-10T12:00:00Z');
const APR_10 = new Date('2026-04-10T12:00:00Z');
const MAY_10 = new Date('2026-05-10T12:00:00Z');
const JUN_10 = new Date('2026-06-10T12:00:00Z');
const SMALL_CALL = { model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 500 };

const paid = (eventId: string, accountId: string, plan: string, start: Date, end: Date, subscriptionRef = `sub_${accountId}`): ProcessorEvent => ({
  type: 'subscription.paid', eventId, accountId, subscriptionRef, planSlug: plan, paymentRef: `in_${eventId}`, amountCents: 20_00, periodStart: start, periodEnd: end, at: start,
});
const pastDue = (eventId: string, accountId: string, periodEnd: Date, at: Date): ProcessorEvent =>
  ({ type: 'subscription.past_due', eventId, accountId, subscriptionRef: `sub_${accountId}`, periodEnd, at });
const ended = (eventId: string, accountId: string): ProcessorEvent => ({ type: 'subscription.canceled', eventId, accountId, subscriptionRef: `sub_${accountId}`, at: JUN_10 });

for (const engine of ENGINES) {
  describe(`subscription lifecycle on ${engine.name}`, () => {
    const t = useBilling(engine, { processors: [signedProcessor()] });
    afterEach(() => {
      planChanges.decline = false;
      planChanges.made.length = 0;
    });

    async function customers(preset: 'subscription-plus-packs' | 'tiers', ...ids: string[]) {
      await t.billing.admin.applyPreset(preset);
      for (const id of ids) await t.billing.upsertAccount({ id, kind: 'team', processor: SIGNED });
    }
    const receive = async (...events: ProcessorEvent[]) => {
      const { body, headers } = delivery(events);
      return (await t.billing.receiveWebhook(SIGNED, body, headers)).events.map((e) => e.outcome);
    };
    const plusAllowances = async (accountId: string) =>
      (await t.sql.query<{ starts_at: Date }>(`SELECT starts_at FROM buckets b JOIN plans p ON p.id = b.plan_id WHERE b.account_id = $1 AND p.slug = 'plus' ORDER BY starts_at`, [accountId]))
        .map((b) => b.starts_at.toISOString());

    it('opens each period and its allowance when the processor says it is paid, not when the clock says it began', async () => {
      await customers('subscription-plus-packs', 'acme');
      expect(await receive(paid('evt_1', 'acme', 'plus', MAR_10, APR_10))).toEqual(['applied']);
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000, period: { start: MAR_10, end: APR_10 } });
      // A call just before the period's end: this process now remembers the account, on Plus.
      t.clock.set('2026-04-10T11:59:59Z');
      const before = await t.billing.authorize('acme', SMALL_CALL);
      expect(before.ok).toBe(true);
      if (before.ok) await t.billing.release(before.hold.id);

      // The period ran out and the renewal is not paid yet: the default plan's terms, no new allowance.
      t.clock.set('2026-04-10T13:00:00Z');
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'free' }, availableMicros: 500_000 });
      const admin = new AdminClient(await adminApp(t.billing));
      await admin.login();
      expect(text((await admin.page('/admin/accounts/acme')).html)).toContain("Renewal due since 2026-04-10: the default plan's terms until it is paid");
      const auth = await t.billing.authorize('acme', SMALL_CALL);
      expect(auth.ok).toBe(true);
      if (auth.ok) await t.billing.release(auth.hold.id);
      // What it drew on is the default plan's allowance: Plus opened nothing by the clock.
      expect(await plusAllowances('acme')).toEqual([MAR_10.toISOString()]);
      expect(await t.sql.query(`SELECT p.slug FROM buckets b JOIN plans p ON p.id = b.plan_id WHERE b.account_id = 'acme' AND b.expires_at > $1`, [t.clock.now])).toEqual([{ slug: 'free' }]);

      // Paid: the period the processor names, and its allowance; what the default plan gave meanwhile lapses.
      expect(await receive(paid('evt_2', 'acme', 'plus', APR_10, MAY_10))).toEqual(['applied']);
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000, period: { start: APR_10, end: MAY_10 } });
      expect(await plusAllowances('acme')).toEqual([MAR_10.toISOString(), APR_10.toISOString()]);

      // The same period told again, or an older one told late, opens nothing; the payments are recorded.
      expect(await receive(paid('evt_2', 'acme', 'plus', APR_10, MAY_10))).toEqual(['duplicate']);
      expect(await receive(paid('evt_2b', 'acme', 'plus', APR_10, MAY_10), paid('evt_1b', 'acme', 'plus', MAR_10, APR_10))).toEqual(['ignored', 'ignored']);
      expect(await plusAllowances('acme')).toHaveLength(2);
      expect(await t.sql.query(`SELECT count(*)::int AS n FROM payments WHERE account_id = 'acme'`)).toEqual([{ n: 4 }]);
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('a process that remembers the account sees the period run out: the default plan decides, not the plan it remembered', async () => {
      await customers('subscription-plus-packs', 'acme');
      await receive(paid('evt_1', 'acme', 'plus', MAR_10, APR_10));
      await receive({ type: 'payment.succeeded', eventId: 'evt_pack', accountId: 'acme', paymentRef: 'pi_1', packSlug: 'extra-10', amountCents: 10_00, at: MAR_10 });
      const big = { model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 800_000 }; // about $1 at most: more than the free plan's $0.50
      t.clock.set('2026-04-10T11:59:59Z');
      const remembered = await t.billing.authorize('acme', big);
      expect(remembered.ok).toBe(true);
      if (remembered.ok) await t.billing.release(remembered.hold.id);
      // A second on, Plus (whose overage spends the pack) is no longer the plan in force: the free plan's daily limit refuses it.
      t.clock.set('2026-04-10T12:00:01Z');
      expect(await t.billing.authorize('acme', big)).toMatchObject({ ok: false, code: 'daily_limit' });
      expect(await t.billing.authorize('acme', SMALL_CALL)).toMatchObject({ ok: true });
      // Charged the same way: on the free plan a pack is not spent, so what the free allowance does not cover is owed.
      const usage = { model: 'gpt-4o-mini', usage: { inputTokens: 1000, outputTokens: 100_000 } };
      t.clock.set('2026-04-10T11:59:00Z');
      await t.billing.record('acme', usage, { idempotencyKey: 'r1' });
      t.clock.set('2026-04-10T12:00:01Z');
      await t.billing.record('acme', { ...usage, usage: { inputTokens: 1000, outputTokens: 600_000 } }, { idempotencyKey: 'r2' });
      expect((await t.billing.balance('acme')).debtMicros).toBeGreaterThan(0);
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('a renewal whose payment failed is past due: refused at once, or the default plan for the grace; paid, the period opens', async () => {
      await customers('subscription-plus-packs', 'acme');
      await receive(paid('evt_1', 'acme', 'plus', MAR_10, APR_10));
      t.clock.set('2026-04-10T13:00:00Z');
      expect(await receive(pastDue('evt_f1', 'acme', MAY_10, new Date('2026-04-10T12:30:00Z')))).toEqual(['applied']);

      // No grace (the default): refused, with the billing portal as the remedy.
      const refused = await t.billing.authorize('acme', SMALL_CALL);
      expect(refused).toMatchObject({ ok: false, code: 'payment_past_due', remedy: { kind: 'billing_portal' } });
      expect(await t.billing.canStart('acme')).toMatchObject({ ok: false, code: 'payment_past_due', remedy: { kind: 'billing_portal' } });
      expect(await t.billing.portal('acme', { returnUrl: 'https://app.example/billing' })).toEqual({ url: 'https://pay.example/portal/acme?return=https%3A%2F%2Fapp.example%2Fbilling' });
      await expect(t.billing.subscribe('acme', 'plus')).rejects.toMatchObject({ code: 'payment_past_due' });
      // The admin sees it on the account's page.
      const admin = new AdminClient(await adminApp(t.billing));
      await admin.login();
      expect(text((await admin.page('/admin/accounts/acme')).html)).toContain("A renewal's payment failed on 2026-04-10: past due until it is paid");

      // Three days of grace, counted from the first failure: the default plan's terms, then refused.
      await t.billing.admin.updateSettings({ pastDueGraceDays: 3 });
      expect(await t.billing.canStart('acme')).toEqual({ ok: true });
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'free' }, availableMicros: 500_000 });
      // A retry that failed later does not move the grace's start.
      expect(await receive(pastDue('evt_f2', 'acme', MAY_10, new Date('2026-04-12T12:30:00Z')))).toEqual(['applied']);
      t.clock.set('2026-04-13T12:29:00Z');
      expect(await t.billing.canStart('acme')).toEqual({ ok: true });
      t.clock.set('2026-04-13T12:31:00Z');
      expect(await t.billing.authorize('acme', SMALL_CALL)).toMatchObject({ ok: false, code: 'payment_past_due' });

      // Paid at last: the period opens and the account is no longer past due; a failure told late changes nothing.
      expect(await receive(paid('evt_2', 'acme', 'plus', APR_10, MAY_10))).toEqual(['applied']);
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
      expect(await receive(pastDue('evt_f3', 'acme', MAY_10, new Date('2026-04-11T12:30:00Z')))).toEqual(['ignored']);
      const auth = await t.billing.authorize('acme', SMALL_CALL);
      expect(auth.ok).toBe(true);
      expect(await t.sql.query(`SELECT past_due_through, past_due_at FROM accounts WHERE id = 'acme'`)).toEqual([{ past_due_through: null, past_due_at: null }]);
    });

    it('changes the plan through the processor at once, its allowance in proportion; a declined change changes nothing; a cancel runs to the end and can be called off', async () => {
      await customers('tiers', 'acme');
      await receive(paid('evt_1', 'acme', 'starter', MAR_10, APR_10));
      expect((await t.billing.balance('acme')).availableMicros).toBe(20_000_000);

      // Upgraded 15 days in: 16 of the month's 31 days are left of Pro's $100.
      t.clock.set('2026-03-25T12:00:00Z');
      expect(await t.billing.subscribe('acme', 'pro')).toMatchObject({ plan: { slug: 'pro' }, periodEnd: APR_10, endsAt: null, replayed: false });
      expect(planChanges.made).toEqual([{ subscriptionRef: 'sub_acme', plan: 'pro' }]);
      const upgraded = Math.floor((100_000_000 * 16) / 31);
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'pro' }, availableMicros: upgraded });
      // The proration's invoice, and the old plan's period told late, open nothing more.
      expect(await receive(paid('evt_pro', 'acme', 'pro', new Date('2026-03-25T12:00:01Z'), APR_10), paid('evt_1b', 'acme', 'starter', MAR_10, APR_10))).toEqual(['ignored', 'ignored']);
      expect((await t.billing.balance('acme')).availableMicros).toBe(upgraded);
      await expect(t.billing.subscribe('acme', 'pro')).rejects.toMatchObject({ code: 'subscription_active' });
      await expect(t.billing.subscribe('acme', 'free')).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('cancel its subscription') });

      planChanges.decline = true;
      await expect(t.billing.subscribe('acme', 'starter')).rejects.toMatchObject({ code: 'payment_declined' });
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'pro' }, availableMicros: upgraded });
      planChanges.decline = false;

      // Canceled at the period's end, then called off by subscribing to the same plan: nothing else moves.
      expect(await t.billing.cancel('acme')).toMatchObject({ endsAt: APR_10 });
      expect(await t.billing.subscribe('acme', 'pro')).toMatchObject({ plan: { slug: 'pro' }, endsAt: null });
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'pro' }, availableMicros: upgraded });
      expect(await t.billing.cancel('acme')).toMatchObject({ endsAt: APR_10 });
      t.clock.set('2026-04-10T12:00:01Z');
      expect((await t.billing.balance('acme')).plan.slug).toBe('free');
      expect(await receive(ended('evt_end', 'acme'))).toEqual(['ignored']);
      expect((await t.billing.balance('acme')).plan.slug).toBe('free');
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('ends where in-order delivery ends, whatever the order and however often each event comes', async () => {
      await customers('subscription-plus-packs', 'in-order', 'shuffled', 'ended-in-order', 'ended-shuffled');
      t.clock.set('2026-05-20T12:00:00Z');
      const scenario = (id: string) => [
        paid(`${id}-1`, id, 'plus', MAR_10, APR_10),
        paid(`${id}-2`, id, 'plus', APR_10, MAY_10),
        pastDue(`${id}-3`, id, JUN_10, new Date('2026-05-10T13:00:00Z')),
        pastDue(`${id}-4`, id, JUN_10, new Date('2026-05-12T13:00:00Z')),
        paid(`${id}-5`, id, 'plus', MAY_10, JUN_10),
      ];
      const standing = async (id: string) => {
        const { plan, availableMicros, debtMicros } = await t.billing.balance(id);
        const [row] = await t.sql.query<object>(
          `SELECT paid_through, past_due_through, past_due_at, (SELECT count(*)::int FROM payments WHERE account_id = $1) AS payments FROM accounts WHERE id = $1`,
          [id],
        );
        return { plan: plan.slug, availableMicros, debtMicros, ...row };
      };
      const deliverShuffled = async (events: ProcessorEvent[], order: number[]) => {
        const twice = order.map((i) => events[i]!);
        await Promise.all(twice.slice(0, events.length).map((event) => receive(event)));
        for (const event of twice.slice(events.length)) await receive(event);
      };

      for (const event of scenario('in-order')) await receive(event);
      await deliverShuffled(scenario('shuffled'), [4, 2, 0, 3, 1, 1, 3, 4, 0, 2]);
      const inOrder = await standing('in-order');
      expect(inOrder).toMatchObject({ plan: 'plus', availableMicros: 20_000_000, paid_through: JUN_10, past_due_through: null, payments: 3 });
      expect(await standing('shuffled')).toEqual({ ...inOrder });

      // With the subscription's end among them, told first or last.
      for (const event of [...scenario('ended-in-order'), ended('ended-in-order-6', 'ended-in-order')]) await receive(event);
      await deliverShuffled([...scenario('ended-shuffled'), ended('ended-shuffled-6', 'ended-shuffled')], [5, 3, 0, 4, 2, 1, 0, 5, 2, 1, 4, 3]);
      t.clock.advance(HOUR); // past the end, the account is written down to the default plan on its next call
      for (const id of ['ended-in-order', 'ended-shuffled']) await t.billing.canStart(id);
      const endedInOrder = await standing('ended-in-order');
      expect(endedInOrder).toMatchObject({ plan: 'free', payments: 3 });
      expect((await standing('ended-shuffled')).plan).toBe('free');
      expect((await standing('ended-shuffled')).availableMicros).toBe(endedInOrder.availableMicros);
      for (const id of ['in-order', 'shuffled', 'ended-in-order', 'ended-shuffled']) expect(await t.billing.reconcile(id)).toMatchObject({ ok: true });
    });
  });
}
