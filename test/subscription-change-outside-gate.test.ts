/**
 * A cancel, and a plan change on a subscription at the processor, ask Stripe or Paddle outside any
 * transaction: while the processor takes its time, the account's gate and every other account's
 * go on answering. The account's subscription is claimed meanwhile: a second cancel or plan change
 * is refused, never sent between the first's question and its application. The processor's answer
 * is applied under the gate mutex after a second look: a cancel to the subscription it ended only
 * if that is still the account's (one whose end the processor told first answers as done), a plan
 * change as the processor made it (the proration is billed). An admin's refund of a payment waits
 * for the processor holding that payment's lock, not the gate mutex. Each processor call, or its
 * answer, is held at the fake until the test lets it through. On both engines, with the real SDKs against the
 * local fakes of their APIs.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import { usePaddleBilling, useStripeBilling } from './support/processor-billing.ts';
import type { StripeFake } from './support/stripe-fake.ts';

/** Each vendor's way to pay a checkout page, the paths a cancel and a plan change ask first, and what it says of a subscription. */
const VENDORS = [
  {
    name: 'stripe', use: useStripeBilling,
    pay: (fake: StripeFake, url: string) => fake.completeCheckout(url.split('/').pop()!),
    paths: { cancel: (ref: string) => `/v1/subscriptions/${ref}`, change: (ref: string) => `POST /v1/subscriptions/${ref}`, refund: 'POST /v1/refunds' },
    ending: (fake: StripeFake, ref: string) => {
      const { status, cancel_at_period_end } = fake.subscriptions.get(ref) as { status: string; cancel_at_period_end: boolean };
      return status !== 'active' || cancel_at_period_end;
    },
    change: (ref: string) => ['POST', `/v1/subscriptions/${ref}`] as const,
    cancelNow: (ref: string) => ['DELETE', `/v1/subscriptions/${ref}`] as const,
    outage: (ref: string) => `/v1/subscriptions/${ref}`, tries: 3, // its SDK's retries (maxNetworkRetries: 2) spent
    priceOf: (fake: StripeFake, ref: string) => (fake.subscriptions.get(ref) as { items: { data: { price: { id: string } }[] } }).items.data[0]!.price.id,
  },
  {
    name: 'paddle', use: usePaddleBilling,
    pay: (fake: PaddleFake, url: string) => fake.completeTransaction(fake.transactionAt(url).id),
    paths: { cancel: (ref: string) => `POST /subscriptions/${ref}/cancel`, change: (ref: string) => `PATCH /subscriptions/${ref}`, refund: 'POST /adjustments' },
    ending: (fake: PaddleFake, ref: string) => {
      const { status, scheduled_change } = fake.subscriptions.get(ref)! as unknown as { status: string; scheduled_change: { action: string } | null };
      return status !== 'active' || scheduled_change?.action === 'cancel';
    },
    change: (ref: string) => ['PATCH', `/subscriptions/${ref}`] as const,
    cancelNow: (ref: string) => ['POST', `/subscriptions/${ref}/cancel`] as const,
    outage: (ref: string) => `PATCH /subscriptions/${ref}`, tries: 1, // its SDK does not retry
    priceOf: (fake: PaddleFake, ref: string) => (fake.subscriptions.get(ref)! as unknown as { items: { price: { id: string } }[] }).items[0]!.price.id,
  },
] as const;

for (const engine of ENGINES) {
  for (const vendor of VENDORS) {
    describe(`a cancel and a plan change at ${vendor.name} outside the gate, on ${engine.name}`, () => {
      const { t, fake, deliver } = (vendor.use as typeof useStripeBilling)(engine);
      const pay = vendor.pay as (fake: unknown, url: string) => Promise<unknown>;
      const ending = (ref: string) => (vendor.ending as (fake: unknown, ref: string) => boolean)(fake(), ref);
      const requests = () => (fake() as { requests: unknown[] }).requests.length;

      const setUp = async () => {
        await t.billing.admin.applyPreset('subscription-plus-packs');
        await t.billing.admin.createPlan({ slug: 'max', name: 'Max', priceCents: 200_00, overage: 'credits' });
        await t.billing.admin.createPlan({ slug: 'pro', name: 'Pro', priceCents: 100_00, overage: 'credits' });
        await t.billing.admin.syncCatalog(vendor.name);
        for (const id of ['acme', 'globex']) await t.billing.upsertAccount({ id, kind: 'team', processor: vendor.name });
      };
      const authorize = (accountId: string) => t.billing.authorize(accountId, { model: 'gpt-4o-mini', inputTokens: 1_000 });
      const stored = (key: string) => t.sql.query(`SELECT key FROM effect_keys WHERE key = $1`, [key]);

      it('answers authorizations, of the account and of another, while a cancel waits at the processor; a retry gets it stored, asking nothing', async () => {
        const ref = await acmeSubscribed();
        await t.billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' }); // its plan's usage draws on credits only
        const held = fake().holdNext(vendor.paths.cancel(ref));
        const cancel = t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' });
        await held.reached;
        expect(await authorize('globex')).toMatchObject({ ok: true });
        expect(await authorize('acme')).toMatchObject({ ok: true });
        held.release();
        const done = await cancel;
        expect(done).toMatchObject({ replayed: false, endsAt: done.periodEnd });
        expect(ending(ref)).toBe(true);
        const asked = requests();
        expect(await t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' })).toEqual({ ...done, replayed: true });
        expect(requests()).toBe(asked);
      });

      it('refuses a second cancel, plan change or move to a newer version while a cancel is at the processor, asking it nothing; takes them once it is answered', async () => {
        const ref = await acmeSubscribed();
        const held = fake().holdNext(vendor.paths.cancel(ref));
        const atEnd = t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-at-end' });
        await held.reached;
        const asked = requests();
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject({
          code: 'change_in_progress', message: expect.stringMatching(/^Account "acme" has a cancel of its subscription under way at its processor: this cancel changed nothing; ask again once that one is answered \(at the latest after [\d-]+T[\d:.]+Z\)$/),
        });
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject({ code: 'change_in_progress' });
        expect(requests()).toBe(asked);
        // An admin's move to a newer version, which would change its price at the processor, waits for it too.
        await t.billing.admin.updatePlan('plus', { priceCents: 30_00 });
        await expect(t.billing.admin.moveToCurrentVersion('plus', { accountId: 'acme', when: 'renewal' })).rejects.toMatchObject({
          code: 'change_in_progress', message: expect.stringContaining('this move to a newer version changed nothing'),
        });
        expect(await stored('cancel-now')).toEqual([]);
        held.release();
        expect(await atEnd).toMatchObject({ replayed: false, plan: { slug: 'plus' } });
        expect(await t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).toMatchObject({ replayed: false });
        expect((await t.billing.balance('acme')).plan.slug).not.toBe('plus');
        expect(ending(ref)).toBe(true);
      });

      it('refuses the same plan change sent twice at once (a double submit) while the first is at the processor; sent again after, it gets the first', async () => {
        const ref = await acmeSubscribed();
        const held = fake().holdNext(vendor.paths.change(ref));
        const first = t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' });
        await held.reached;
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject({
          code: 'change_in_progress', details: { sameRequest: true },
          message: expect.stringContaining('has this plan change under way at its processor already, under idempotency key "to-max": ask again once it is answered, and its result is given back'),
        });
        held.release();
        const done = await first;
        expect(done).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).toEqual({ ...done, replayed: true });
      });

      it('keeps the claim of a plan change the processor did not answer for its retry: another change waits for it, the retry is made, then the other', async () => {
        const ref = await acmeSubscribed();
        fake().failNext(vendor.outage(ref), vendor.tries, 500);
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject({ code: 'processor_error', details: { unanswered: true } });
        const waiting = { code: 'change_in_progress', message: expect.stringContaining('has a plan change of its subscription that its processor has not answered'), details: { awaitingRetry: true } };
        await expect(t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-pro' })).rejects.toMatchObject(waiting);
        await expect(t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' })).rejects.toMatchObject(waiting);
        await expect(t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-max' })).rejects.toMatchObject(waiting); // another request under its key
        expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        expect(await t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-pro' })).toMatchObject({ replayed: false, plan: { slug: 'pro' } });
        expect(priceAt(ref)).toBe(await processorPrice('pro'));
        expect(await claimsLeft()).toEqual([]);
      });

      it('answers the retry of a plan change the processor made but whose answer was lost, its proration told first, as made, and opens its allowance once', async () => {
        const ref = await acmeSubscribed();
        const before = await grantsOf('acme');
        const from = fake().events.length;
        await madeUnanswered(ref);
        await deliver(from); // the change and its proration, told before the retry (Stripe's puts the account on the plan)
        expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        const after = await grantsOf('acme');
        expect(after.slice(0, before.length)).toEqual(before);
        expect(after.slice(before.length)).toEqual([{ reference: expect.stringMatching(new RegExp(`^allowance:${await planId('max')}:`)), amount_micros: expect.any(Number) }]);
        expect(priceAt(ref)).toBe(await processorPrice('max'));
        expect(await claimsLeft()).toEqual([]);
        // Without a first attempt of its own, a change to the plan it is on is refused.
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max-again' })).rejects.toMatchObject({ code: 'subscription_active', message: expect.stringContaining('is on the plan "max" already') });
      });

      it('never lets the retry of a cancel left unanswered cancel a subscription bought after the one it ended: its key is given up', async () => {
        await setUp();
        const [first, second] = [await checkout('acme'), await checkout('acme')];
        const ref = await subscribed(first);
        const from = fake().events.length;
        lose(vendor.cancelNow(ref));
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject({ code: 'processor_error', details: { unanswered: true } });
        fake().loseAnswers = undefined;
        await deliver(from); // it did end the subscription
        const bought = await subscribed(second);
        const givenUp = { code: 'idempotency_conflict', details: { givenUp: true }, message: expect.stringContaining(`under idempotency key "cancel-now" was for subscription ${ref}, which the account has left since: it is given up`) };
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject(givenUp);
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject(givenUp);
        expect(ending(bought)).toBe(false);
        expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
        expect(await claimsLeft()).toEqual([]);
        expect(await t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-2' })).toMatchObject({ replayed: false });
        expect(ending(bought)).toBe(true);
      });

      it('refuses the retry of a cancel left unanswered once its subscription ended, for good, and holds nothing up after it', async () => {
        await setUp();
        const [first, second] = [await checkout('acme'), await checkout('acme')];
        const ref = await subscribed(first);
        const from = fake().events.length;
        lose(vendor.cancelNow(ref));
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject({ code: 'processor_error' });
        fake().loseAnswers = undefined;
        await deliver(from);
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject({ code: 'no_subscription' });
        expect(await claimsLeft()).toEqual([]);
        // Sent again once a new subscription is bought, it is still that refusal: it never cancels the new one.
        const bought = await subscribed(second);
        await expect(t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).rejects.toMatchObject({ code: 'no_subscription' });
        expect(ending(bought)).toBe(false);
      });

      it("gives up the key of a plan change left unanswered longer than its claim held: an admin's move changed the subscription meanwhile, unclaimed", async () => {
        const ref = await acmeSubscribed();
        await madeUnanswered(ref, { lapsed: true }); // its ten minutes gone, no retry came
        await t.billing.admin.updatePlan('plus', { priceCents: 30_00 });
        await t.billing.admin.moveToCurrentVersion('plus', { accountId: 'acme', when: 'renewal' });
        const moved = priceAt(ref);
        const givenUp = { code: 'idempotency_conflict', details: { givenUp: true }, message: expect.stringContaining('was left unanswered longer than its claim held: it is given up') };
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject(givenUp);
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject(givenUp);
        expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
        expect(priceAt(ref)).toBe(moved);
        expect(await claimsLeft()).toEqual([]);
      });

      it('gives up the key of a plan change left unanswered once its claim lapsed and another change was made: its retry never applies the stale answer', async () => {
        const ref = await acmeSubscribed();
        await madeUnanswered(ref, { lapsed: true }); // its ten minutes gone, no retry came
        expect(await t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-pro' })).toMatchObject({ replayed: false, plan: { slug: 'pro' } });
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject({
          code: 'idempotency_conflict', details: { givenUp: true }, message: expect.stringContaining('was left unanswered, and another change was asked since: it is given up'),
        });
        expect((await t.billing.balance('acme')).plan.slug).toBe('pro');
        expect(priceAt(ref)).toBe(await processorPrice('pro'));
      });

      it('makes the retry of a plan change left unanswered though its plan was archived meanwhile: the first may have been made', async () => {
        const ref = await acmeSubscribed();
        await madeUnanswered(ref);
        await t.billing.admin.updatePlan('max', { status: 'archived' });
        await expect(t.billing.subscribe('acme', 'pro', { idempotencyKey: 'another' })).rejects.toMatchObject({ code: 'change_in_progress' });
        expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        expect(priceAt(ref)).toBe(await processorPrice('max'));
        expect(await claimsLeft()).toEqual([]);
      });

      it('applies two plan changes asked at once in the order the processor made them: the second is refused while the first is there', async () => {
        const ref = await acmeSubscribed();
        const held = fake().holdNext(vendor.paths.change(ref));
        const toMax = t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' });
        await held.reached;
        await expect(t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-pro' })).rejects.toMatchObject({
          code: 'change_in_progress', message: expect.stringContaining('has a plan change of its subscription under way'),
        });
        held.release();
        expect(await toMax).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        expect(await t.billing.subscribe('acme', 'pro', { idempotencyKey: 'to-pro' })).toMatchObject({ replayed: false, plan: { slug: 'pro' } });
        expect((await t.billing.balance('acme')).plan.slug).toBe('pro');
        expect(priceAt(ref)).toBe(await processorPrice('pro'));
      });

      it('answers a cancel now whose end the processor told first as done, and ends the plan once', async () => {
        const ref = await acmeSubscribed();
        const held = fake().holdNext(vendor.paths.cancel(ref), { answered: true });
        const from = fake().events.length;
        const cancel = t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' });
        await held.reached;
        await deliver(from); // the subscription's end, told before the answer to its cancel
        const endedAt = t.clock.read();
        t.clock.advance(60_000);
        expect((await t.billing.balance('acme')).plan.slug).not.toBe('plus');
        await authorize('acme'); // the plan's end applied: the account on the default plan, its end no longer on it
        expect(await t.sql.query(`SELECT plan_ends_at FROM accounts WHERE id = 'acme'`)).toEqual([{ plan_ends_at: null }]);
        held.release();
        const done = await cancel;
        expect(done).toMatchObject({ replayed: false, plan: { slug: 'plus' }, endsAt: endedAt });
        expect(await t.billing.cancel('acme', { immediately: true }, { idempotencyKey: 'cancel-now' })).toEqual({ ...done, replayed: true });
      });

      it('applies a plan change whose events the processor sent before its answer once, whichever opens its allowance', async () => {
        const ref = await acmeSubscribed();
        const held = fake().holdNext(vendor.paths.change(ref), { answered: true });
        const from = fake().events.length;
        const change = t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' });
        await held.reached;
        const before = await grantsOf('acme');
        await deliver(from); // the change and its proration, told before the answer (Stripe's opens the new plan's allowance, Paddle's nothing)
        held.release();
        expect(await change).toMatchObject({ replayed: false, plan: { slug: 'max' }, endsAt: null });
        const after = await grantsOf('acme');
        expect(after.slice(0, before.length)).toEqual(before);
        expect(after.slice(before.length)).toEqual([{ reference: expect.stringMatching(new RegExp(`^allowance:${await planId('max')}:`)), amount_micros: expect.any(Number) }]);
        await deliver(from); // told again: still nothing more
        expect(await grantsOf('acme')).toEqual(after);
        expect((await t.billing.balance('acme')).plan.slug).toBe('max');
      });

      it('cancels none of a subscription that replaced the one asked while the processor answered, and says so', async () => {
        await setUp();
        const [first, second] = [await checkout('acme'), await checkout('acme')];
        const ref = await subscribed(first!);
        const held = fake().holdNext(vendor.paths.cancel(ref));
        const cancel = t.billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' });
        await held.reached;
        const replacing = await subscribed(second!); // its webhook ends the first at the processor
        expect(replacing).not.toBe(ref);
        held.release();
        await expect(cancel).rejects.toMatchObject({ code: 'subscription_active', message: expect.stringContaining(`moved from ${vendor.name} subscription ${ref} to ${vendor.name} subscription ${replacing}`) });
        expect(ending(replacing)).toBe(false);
        expect(await stored('cancel-1')).toEqual([]);
        expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
        expect(await t.sql.query(`SELECT plan_ends_at FROM accounts WHERE id = 'acme'`)).toEqual([{ plan_ends_at: null }]);
      });

      it('answers authorizations while a plan change waits at the processor, applies it as the processor made it though the plan was archived meanwhile, and a retry asks nothing', async () => {
        const ref = await acmeSubscribed();
        await t.billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' }); // its plan's usage draws on credits only
        const held = fake().holdNext(vendor.paths.change(ref));
        const change = t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' });
        await held.reached;
        expect(await authorize('globex')).toMatchObject({ ok: true });
        expect(await authorize('acme')).toMatchObject({ ok: true });
        await t.billing.admin.updatePlan('max', { status: 'archived' });
        held.release();
        const done = await change;
        expect(done).toMatchObject({ replayed: false, plan: { slug: 'max' } });
        expect((await t.billing.balance('acme')).plan.slug).toBe('max');
        const asked = requests();
        expect(await t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).toEqual({ ...done, replayed: true });
        expect(requests()).toBe(asked);
      });

      // On PGlite a transaction holds the one connection: a refund's, open while the processor answers, holds the database.
      it.skipIf(engine.name !== 'postgres')("answers the account's authorizations while an admin's refund of its payment waits at the processor", async () => {
        await setUp();
        await subscribed(await checkout('acme'));
        await t.billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' }); // its plan's usage draws on credits only
        const [payment] = await t.billing.payments('acme');
        const held = fake().holdNext(vendor.paths.refund);
        const refund = t.billing.refundPayment('acme', payment!.id, { amountCents: 5_00 }, { idempotencyKey: 'refund-1' });
        await held.reached;
        expect(await authorize('acme')).toMatchObject({ ok: true });
        expect(await authorize('globex')).toMatchObject({ ok: true });
        held.release();
        expect(await refund).toMatchObject({ paymentId: payment!.id, amountCents: 5_00, replayed: false });
      });

      /** The catalog set up, and acme on plus at the processor: its subscription. */
      async function acmeSubscribed(): Promise<string> {
        await setUp();
        return subscribed(await checkout('acme'));
      }

      /** The accounts whose subscription is still claimed. */
      const claimsLeft = () => t.sql.query('SELECT account_id FROM subscription_claims');

      /** A checkout page opened for the account's plan. */
      async function checkout(accountId: string): Promise<string> {
        return ((await t.billing.subscribe(accountId, 'plus')) as { checkoutUrl: string }).checkoutUrl;
      }

      /** The page paid and the processor's events handed to the engine: the subscription the account is on now. */
      async function subscribed(checkoutUrl: string): Promise<string> {
        const from = fake().events.length;
        await pay(fake(), checkoutUrl);
        await deliver(from);
        expect((await t.billing.balance('acme')).plan.slug).toBe('plus');
        return (await activeRef('acme'))!;
      }

      /** The vendor's answers to `method` on `path` lost on their way back, after it did what they ask. */
      const lose = ([method, path]: readonly [string, string]) => {
        (fake() as { loseAnswers: unknown }).loseAnswers = (m: string, p: string) => m === method && p === path;
      };

      /** A change to max under the key "to-max" that the processor made, its answer lost; `lapsed`: its claim held no longer. */
      async function madeUnanswered(ref: string, { lapsed = false } = {}) {
        lose(vendor.change(ref));
        await expect(t.billing.subscribe('acme', 'max', { idempotencyKey: 'to-max' })).rejects.toMatchObject({ code: 'processor_error', details: { unanswered: true } });
        fake().loseAnswers = undefined;
        if (lapsed) await t.sql.query(`UPDATE subscription_claims SET held_until = now() - interval '1 second'`);
      }

      /** The grants on the account's ledger, each its bucket's reference and amount. */
      async function grantsOf(accountId: string) {
        return t.sql.query(
          `SELECT b.reference, e.amount_micros FROM ledger_entries e JOIN buckets b ON b.id = e.bucket_id WHERE e.account_id = $1 AND e.kind = 'grant' ORDER BY e.id`,
          [accountId],
        );
      }

      /** The price the processor's subscription is on. */
      const priceAt = (ref: string) => (vendor.priceOf as (fake: unknown, ref: string) => string)(fake(), ref);
      async function planId(slug: string) {
        const [row] = await t.sql.query<{ id: number }>(`SELECT id FROM plans WHERE slug = $1`, [slug]);
        return row!.id;
      }
      async function processorPrice(slug: string) {
        const [row] = await t.sql.query<{ processor_prices: Record<string, string> }>(`SELECT processor_prices FROM plans WHERE slug = $1`, [slug]);
        return row!.processor_prices[vendor.name];
      }

      async function activeRef(accountId: string): Promise<string | undefined> {
        const [row] = await t.sql.query<{ processor_ref: string }>(`SELECT processor_ref FROM subscriptions WHERE account_id = $1 AND status = 'active'`, [accountId]);
        return row?.processor_ref;
      }
    });
  }
}
