/**
 * Auto-recharge through the library, on both engines, with the fake processor: a charge that
 * leaves an account under its threshold makes one recharge job, which charges the saved card
 * once and credits the pack (and the debt it covered) once, within the monthly caps, across a
 * crash between the charge and its credit; a decline turns it off, and the balance and the
 * gate's refusal say why and what to do.
 */
import { describe, expect, it } from 'vitest';
import { createBilling, fakeProcessor, type Billing, type DeclineCode, type Processor, type SavedCharge, type SavedChargeRequest } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, MINUTE, useBilling } from './support/harness.ts';
import { fundedAccounts, mustCall, mustRefuse } from './support/spend.ts';

/** The fake processor, declining while `declining` names a code. */
function switchableFake() {
  const state: { declining: DeclineCode | undefined } = { declining: undefined };
  const fake = fakeProcessor({ decline: () => state.declining });
  return { fake, state };
}

async function jobs(sql: Sql, accountId = 'acme') {
  return sql.query<{ id: number; status: string; amount_cents: number | null; debt_cents: number | null; attempts: number; reason: string | null }>(
    'SELECT id, status, amount_cents, debt_cents, attempts, reason FROM recharges WHERE account_id = $1 ORDER BY id',
    [accountId],
  );
}

async function rechargeBuckets(sql: Sql, accountId = 'acme') {
  return sql.query<{ amount_micros: number; reference: string }>(`SELECT amount_micros, reference FROM buckets WHERE account_id = $1 AND source = 'recharge' ORDER BY id`, [accountId]);
}

/** Spend on test-model until less than `micros` is available (each call at most `step` input tokens). */
async function spendBelow(billing: Billing, accountId: string, micros: number, step = 200_000) {
  for (let i = 0; i < 200 && (await billing.balance(accountId)).availableMicros >= micros; i++) await mustCall(billing, accountId, step);
  expect((await billing.balance(accountId)).availableMicros).toBeLessThan(micros);
}

const available = async (billing: Billing, accountId = 'acme') => (await billing.balance(accountId)).availableMicros;

for (const engine of ENGINES) {
  describe(`auto-recharge on ${engine.name}`, () => {
    const { fake, state } = switchableFake();
    const t = useBilling(engine, { processors: [fake] });
    const setUp = async (settings: { monthlyMaxCount?: number; monthlyMaxMicros?: number } = {}) => {
      state.declining = undefined;
      (fake.charges as unknown[]).length = 0;
      await fundedAccounts(t.billing, ['acme'], 3_000_000);
      return t.billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000, ...settings });
    };

    it('a charge that crosses the threshold makes one job, and running it charges the card once and credits the pack once', async () => {
      const { billing, sql } = t;
      expect(await setUp()).toMatchObject({ enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000, state: 'on', off: null, recharging: false });
      expect(await jobs(sql)).toEqual([]); // $3.00 available: above the threshold
      await spendBelow(billing, 'acme', 2_000_000);
      // More charges under the threshold while it waits: still one job.
      await mustCall(billing, 'acme', 10_000);
      await mustCall(billing, 'acme', 10_000);
      expect(await jobs(sql)).toMatchObject([{ status: 'pending', amount_cents: null }]);
      expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', recharging: true });

      const before = await available(billing);
      const runs = await billing.runRecharges();
      expect(runs).toMatchObject([{ accountId: 'acme', outcome: 'succeeded' }]);
      expect(fake.charges).toMatchObject([{ accountId: 'acme', amountCents: 10_00, paymentRef: runs[0]!.paymentRef }]);
      expect(await available(billing)).toBe(before + 10_000_000);
      expect(await rechargeBuckets(sql)).toEqual([{ amount_micros: 10_000_000, reference: `payment:fake:${runs[0]!.paymentRef}` }]);
      expect(await jobs(sql)).toMatchObject([{ status: 'succeeded', amount_cents: 10_00, debt_cents: 0, attempts: 1 }]);
      expect((await billing.payments('acme')).length).toBeGreaterThan(0);
      // Nothing more to do: above the threshold again.
      expect(await billing.runRecharges()).toEqual([]);
      expect(fake.charges).toHaveLength(1);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('sixteen concurrent settles that cross the threshold together make one job, and one charge', async () => {
      const { billing, sql } = t;
      await setUp();
      await billing.credit('acme', { source: 'bonus', amountMicros: 10_000_000, reference: 'more' });
      const before = await available(billing);
      await mustCall(billing, 'acme', 100_000);
      const each = before - (await available(billing));
      // About four calls' worth above the threshold: the sixteen cross it together.
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: (await available(billing)) - 4 * each + Math.floor(each / 2) });
      const holds = await Promise.all(Array.from({ length: 16 }, () => billing.authorize('acme', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 })));
      expect(holds.every((h) => h.ok)).toBe(true);
      await Promise.all(holds.map((h, i) => billing.settle(h.ok ? h.hold.id : '', { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: `hot-${i}` })));
      expect(await available(billing)).toBeLessThan((await billing.balance('acme')).autoRecharge!.thresholdMicros);
      expect(await jobs(sql)).toMatchObject([{ status: 'pending' }]);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect(fake.charges).toHaveLength(1);
      expect(await rechargeBuckets(sql)).toHaveLength(1);
    });

    it('an account under its threshold when auto-recharge is set is recharged, and one a process forgot to enqueue is found by the sweep', async () => {
      const { billing, sql, clock } = t;
      await setUp();
      await billing.setAutoRecharge('acme', { enabled: false, pack: 'credits-10', thresholdMicros: 2_000_000 });
      await spendBelow(billing, 'acme', 2_000_000);
      expect(await jobs(sql)).toEqual([]); // off: nothing enqueued
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      expect(await jobs(sql)).toMatchObject([{ status: 'pending' }]);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      // Spent under again by a process that remembers nothing (the charge's hook sees nothing): the sweep makes the job.
      const other = await createBilling({ database: sql, clock: clock.read, processors: [fake], rememberAccounts: false });
      try {
        await spendBelow(other, 'acme', 2_000_000, 1_000_000);
        expect((await jobs(sql)).filter((j) => j.status === 'pending')).toEqual([]);
        expect(await other.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      } finally {
        await other.close();
      }
      expect(fake.charges).toHaveLength(2);
    });

    it('the monthly caps hold: past the count or the amount it pauses until the month ends, then recharges again', async () => {
      const { billing, sql, clock } = t;
      clock.set('2026-03-10T12:00:00Z');
      await setUp({ monthlyMaxCount: 1 });
      await spendBelow(billing, 'acme', 2_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      await spendBelow(billing, 'acme', 2_000_000, 1_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'skipped', reason: 'the monthly number of recharges is reached' }]);
      expect(fake.charges).toHaveLength(1);
      const paused = (await billing.balance('acme')).autoRecharge;
      expect(paused).toMatchObject({ state: 'paused', pausedUntil: new Date('2026-04-01T00:00:00Z'), recharging: false });
      // Paused: further charges and runs make no job.
      await mustCall(billing, 'acme', 10_000);
      expect(await billing.runRecharges()).toEqual([]);
      // A new month: armed again, and still under the threshold, so recharged.
      clock.set('2026-04-01T00:00:01Z');
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect(fake.charges).toHaveLength(2);
      expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', pausedUntil: null });

      // By amount: $15 a month lets one $10 pack through, not two.
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000, monthlyMaxMicros: 15_000_000 });
      clock.set('2026-05-02T00:00:00Z');
      await spendBelow(billing, 'acme', 2_000_000, 1_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      await spendBelow(billing, 'acme', 2_000_000, 1_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'skipped', reason: 'the monthly amount of recharges would be passed' }]);
      expect(fake.charges).toHaveLength(3);
      expect((await jobs(sql)).map((j) => j.status)).toEqual(['succeeded', 'skipped', 'succeeded', 'succeeded', 'skipped']);
    });

    it('a declined card turns auto-recharge off, and the balance and the gate say so, with the remedy; set again, it runs', async () => {
      const { billing, sql } = t;
      await setUp();
      state.declining = 'card_declined';
      await spendBelow(billing, 'acme', 2_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'declined' }]);
      expect(fake.charges).toEqual([]);
      const off = (await billing.balance('acme')).autoRecharge;
      expect(off).toMatchObject({ enabled: true, state: 'off', off: { code: 'card_declined' }, recharging: false });
      expect(off!.off!.message).toBe('the card on file was declined for the recharge of $10.00 (Your card was declined).');
      expect(await jobs(sql)).toMatchObject([{ status: 'declined', reason: 'card_declined: Your card was declined.' }]);
      // Off: spending on makes no job.
      await mustCall(billing, 'acme', 10_000);
      expect(await billing.runRecharges()).toEqual([]);

      const refusal = await mustRefuse(billing, 'acme', 5_000_000);
      expect(refusal).toMatchObject({ code: 'insufficient_balance', remedy: { kind: 'update_payment_method' } });
      expect(refusal.message).toMatch(/Auto-recharge is off: the card on file was declined for the recharge of \$10\.00 .*Update the card, then turn auto-recharge on again, or buy a credit pack\./);
      expect(await billing.canStart('acme', { model: 'test-model' })).toMatchObject({ ok: true }); // something is left for a small call
      // Authentication required says so too.
      state.declining = undefined;
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', off: null });
      state.declining = 'authentication_required';
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'declined' }]);
      expect((await mustRefuse(billing, 'acme', 5_000_000)).message).toMatch(/Auto-recharge is off: the card's bank asked the customer to authenticate/);
      // Turned on again with a card that works: recharged.
      state.declining = undefined;
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect((await mustCall(billing, 'acme', 1_000_000)).debtMicros).toBe(0);
    });

    it('the charge covers the debt plus the pack, and the pack is left whole', async () => {
      const { billing, sql } = t;
      await setUp();
      // A record beyond what is left: debt.
      const charge = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 4_123_457, outputTokens: 0 } }, { idempotencyKey: 'big' });
      expect(charge.debtMicros).toBeGreaterThan(0);
      const debt = (await billing.balance('acme')).debtMicros;
      expect(debt).toBe(charge.debtMicros);
      const debtCents = Math.ceil(debt / 10_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      expect(fake.charges).toMatchObject([{ amountCents: 10_00 + debtCents }]);
      const after = await billing.balance('acme');
      expect(after.debtMicros).toBe(0);
      // The pack's $10, plus what the whole cents paid beyond the debt.
      expect(after.availableMicros).toBe(10_000_000 + debtCents * 10_000 - debt);
      expect(await jobs(sql)).toMatchObject([{ status: 'succeeded', amount_cents: 10_00 + debtCents, debt_cents: debtCents }]);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
      // Its payment says it was a recharge, and what of it paid the debt; a pack bought by hand is none.
      await billing.purchase('acme', 'credits-10');
      expect((await billing.payments('acme')).map((p) => [p.item, p.amountCents, p.recharge])).toEqual([
        ['credits-10', 10_00, null],
        ['credits-10', 10_00 + debtCents, { debtCents }],
      ]);
    });

    it('a pack no longer for sale turns auto-recharge off before anything is charged, and the refusal says so', async () => {
      const { billing, sql } = t;
      await setUp();
      await billing.admin.updatePack('credits-10', { status: 'archived' });
      await spendBelow(billing, 'acme', 2_000_000);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'skipped', reason: expect.stringMatching(/not for sale/) }]);
      expect(fake.charges).toEqual([]);
      expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', off: { code: 'pack_unavailable', message: expect.stringMatching(/^the pack "credits-10" can no longer be bought for this account \(/) } });
      expect(await jobs(sql)).toMatchObject([{ status: 'skipped', amount_cents: null }]);
      expect(await billing.runRecharges()).toEqual([]); // off: no job made again
      const refusal = await mustRefuse(billing, 'acme', 5_000_000);
      expect(refusal.message).toMatch(/Auto-recharge is off: the pack "credits-10" can no longer be bought/);
      expect(refusal.remedy.kind).not.toBe('update_payment_method');
    });

    it('input is checked: a pack the account cannot spend, a bad threshold, an unknown account', async () => {
      const { billing } = t;
      await setUp();
      await expect(billing.setAutoRecharge('acme', { enabled: true, pack: 'nope', thresholdMicros: 1 })).rejects.toMatchObject({ code: 'pack_not_found' });
      await expect(billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 0 })).rejects.toMatchObject({
        code: 'invalid_input', message: expect.stringMatching(/thresholdMicros/),
      });
      await expect(billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 1, monthlyMaxCount: 0 } as never)).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.setAutoRecharge('ghost', { enabled: true, pack: 'credits-10', thresholdMicros: 1 })).rejects.toMatchObject({ code: 'account_not_found' });
      await expect(billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 1, extra: 1 } as never)).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.setAutoRecharge('acme', { enabled: true })).rejects.toMatchObject({
        code: 'invalid_input', message: expect.stringMatching(/pack: is required to turn auto-recharge on.*thresholdMicros: is required/),
      });
    });

    it('turned off with nothing but enabled: false, keeping what was set; turned on again from it; never set, there is nothing to turn off', async () => {
      const { billing } = t;
      await setUp({ monthlyMaxCount: 3 });
      // Off with part of a setting: refused, not turned off with the part given dropped unsaid.
      for (const part of [{ monthlyMaxCount: 1 }, { pack: 'credits-10' }, { thresholdMicros: 5_000_000 }]) {
        await expect(billing.setAutoRecharge('acme', { enabled: false, ...part })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('is required with the rest of the setting') });
      }
      expect(await billing.balance('acme')).toMatchObject({ autoRecharge: { enabled: true, monthlyMaxCount: 3, thresholdMicros: 2_000_000 } });
      const off = await billing.setAutoRecharge('acme', { enabled: false });
      expect(off).toMatchObject({ enabled: false, state: 'disabled', pack: 'credits-10', thresholdMicros: 2_000_000, monthlyMaxCount: 3 });
      await spendBelow(billing, 'acme', 1_000_000);
      expect(await billing.runRecharges()).toEqual([]); // off: below the threshold, nothing is charged
      expect(await jobs(t.sql)).toEqual([]);
      const { pack, thresholdMicros, monthlyMaxCount } = off;
      expect(await billing.setAutoRecharge('acme', { enabled: true, pack, thresholdMicros, monthlyMaxCount })).toMatchObject({ state: 'on' });
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);

      await billing.upsertAccount({ id: 'never', kind: 'team' });
      await expect(billing.setAutoRecharge('never', { enabled: false })).rejects.toMatchObject({ code: 'invalid_input', message: 'Account "never" has no auto-recharge set to turn off' });
    });
  });

  describe(`a recharge across a crash on ${engine.name}`, () => {
    const fake = fakeProcessor();
    /** The fake, except that a call to chargeSaved charges and then does `after` instead of answering. */
    const crashing = (after: () => Promise<never>): Processor => ({
      ...fake,
      chargeSaved: async (request: SavedChargeRequest) => {
        await fake.chargeSaved!(request);
        return after();
      },
    });
    /** The fake, except that its charges answer pending with no webhook, and `chargeStatus` says what became of them; it parses a webhook as JSON. */
    const answeringPending = (chargeStatus: (paymentRef: string) => Promise<SavedCharge>): Processor => ({
      ...fake,
      chargeSaved: async (request) => ({ status: 'pending', paymentRef: ((await fake.chargeSaved!(request)) as { paymentRef: string }).paymentRef }),
      chargeStatus,
      parseWebhook: async (rawBody) => [JSON.parse(rawBody, (key, value) => (key === 'at' ? new Date(value) : value))],
    });
    /** The recharge's payment succeeded, as its webhook (late) says, `times` times at once through each of `through`. */
    const lateWebhook = async (through: Billing[], eventId: string, times = 1) => {
      const event = { type: 'payment.succeeded', eventId, accountId: 'acme', paymentRef: fake.charges[0]!.paymentRef, packSlug: 'credits-10', amountCents: 1_000, at: t.clock.read(), rechargeId: String((await jobs(t.sql))[0]!.id) };
      await Promise.all(through.flatMap((b) => Array.from({ length: times }, () => b.receiveWebhook('fake', JSON.stringify(event), new Headers()))));
    };
    /** acme, with auto-recharge on, just under its threshold; what it has available. */
    const underThreshold = async () => {
      (fake.charges as unknown[]).length = 0;
      await fundedAccounts(t.billing, ['acme'], 3_000_000);
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      await spendBelow(t.billing, 'acme', 2_000_000);
      return available(t.billing);
    };
    const t = useBilling(engine, { processors: [fake] });

    it('a process that charged and failed before crediting: the retry, with the same key, charges once and credits once', async () => {
      const { billing, sql, clock } = t;
      (fake.charges as unknown[]).length = 0;
      await fundedAccounts(billing, ['acme'], 3_000_000);
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      await spendBelow(billing, 'acme', 2_000_000);
      const failing = await createBilling({ database: sql, clock: clock.read, processors: [crashing(async () => Promise.reject(new Error('connection reset')))] });
      try {
        expect(await failing.runRecharges()).toMatchObject([{ outcome: 'retry', reason: 'connection reset' }]);
      } finally {
        await failing.close();
      }
      expect(fake.charges).toHaveLength(1);
      expect(await jobs(sql)).toMatchObject([{ status: 'pending', attempts: 1 }]);
      expect(await billing.runRecharges()).toEqual([]); // not before its retry time
      clock.advance(MINUTE);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded', paymentRef: fake.charges[0]!.paymentRef }]);
      expect(fake.charges).toHaveLength(1);
      expect(await rechargeBuckets(sql)).toHaveLength(1);
      expect(await jobs(sql)).toMatchObject([{ status: 'succeeded', attempts: 2 }]);
    });

    it('a recharge the processor never answered is not sent again after a day (its key would be forgotten): it ends, auto-recharge turns off, and its payment, if it was made, is credited once by its webhook', async () => {
      const { billing, sql, clock } = t;
      (fake.charges as unknown[]).length = 0;
      await fundedAccounts(billing, ['acme'], 3_000_000);
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      await spendBelow(billing, 'acme', 2_000_000);
      const before = await available(billing);
      let sent = 0;
      // Charges once (the payment is made), then never answers.
      const silent: Processor = {
        ...crashing(async () => Promise.reject(new Error('timed out'))),
        chargeSaved: async (request) => {
          sent++;
          await fake.chargeSaved!(request);
          throw new Error('timed out');
        },
        parseWebhook: async (rawBody) => [JSON.parse(rawBody, (key, value) => (key === 'at' ? new Date(value) : value))],
      };
      const unanswered = await createBilling({ database: sql, clock: clock.read, processors: [silent] });
      try {
        expect(await unanswered.runRecharges()).toMatchObject([{ outcome: 'retry', reason: 'timed out' }]);
        // Retried with its key through the day, with backoff.
        for (let hour = 0; hour < 22; hour++) {
          clock.advance(60 * MINUTE);
          await unanswered.runRecharges({ sweep: false });
        }
        const sentInTheDay = sent;
        expect(sentInTheDay).toBeGreaterThan(5);
        clock.advance(120 * MINUTE);
        expect(await unanswered.runRecharges()).toMatchObject([{ outcome: 'skipped', reason: expect.stringContaining('did not answer the recharge of $10.00 for a day') }]);
        expect(sent).toBe(sentInTheDay); // not sent again once its key could be forgotten
        expect(await jobs(sql)).toMatchObject([{ status: 'unanswered' }]);
        const setting = (await billing.balance('acme')).autoRecharge;
        expect(setting).toMatchObject({ state: 'off', off: { code: 'processor_unanswered' } });
        clock.advance(60 * MINUTE);
        expect(await unanswered.runRecharges()).toEqual([]); // off: no new recharge either
        expect(sent).toBe(sentInTheDay);
        expect(await available(billing)).toBe(before);

        // The payment was made after all: its webhook credits it, once.
        const [{ id }] = (await sql.query<{ id: number }>("SELECT id FROM recharges WHERE account_id = 'acme'")) as [{ id: number }];
        const event = { type: 'payment.succeeded', eventId: 'evt_late', accountId: 'acme', paymentRef: fake.charges[0]!.paymentRef, packSlug: 'credits-10', amountCents: 1_000, at: clock.read(), rechargeId: String(id) };
        for (let i = 0; i < 2; i++) await unanswered.receiveWebhook('fake', JSON.stringify(event), new Headers());
        expect(await rechargeBuckets(sql)).toHaveLength(1);
        expect(await available(billing)).toBe(before + 10_000_000);
        expect(fake.charges).toHaveLength(1);
        expect((await billing.reconcile('acme')).problems).toEqual([]);
      } finally {
        await unanswered.close();
      }
    });

    it('a charge answered pending whose webhook never comes: the processor is asked, it is credited once (its late webhook too), and the next crossing recharges again', async () => {
      const { billing, sql, clock } = t;
      const before = await underThreshold();
      let asked = 0;
      // Asked later, the fake says it succeeded.
      const late = answeringPending(async (paymentRef) => {
        asked++;
        return fake.chargeStatus!(paymentRef);
      });
      const processes = await Promise.all([0, 1].map(() => createBilling({ database: sql, clock: clock.read, processors: [late] })));
      try {
        expect(await processes[0]!.runRecharges()).toMatchObject([{ outcome: 'pending' }]);
        expect(await processes[1]!.runRecharges()).toEqual([]); // its webhook has the time to come
        expect(asked).toBe(0);
        clock.advance(11 * MINUTE);
        const runs = (await Promise.all(processes.map((p) => p.runRecharges()))).flat();
        expect(runs).toMatchObject([{ outcome: 'succeeded', paymentRef: fake.charges[0]!.paymentRef }]);
        expect(asked).toBe(1);
        expect(await jobs(sql)).toMatchObject([{ status: 'succeeded' }]);
        expect(await available(billing)).toBe(before + 10_000_000);
        expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'on', recharging: false });

        // Its webhook, late: nothing more.
        await lateWebhook(processes, 'evt_late_pending');
        expect(await rechargeBuckets(sql)).toHaveLength(1);
        expect(await available(billing)).toBe(before + 10_000_000);

        // Auto-recharge runs on: the next crossing is a new recharge, and a new payment.
        await spendBelow(billing, 'acme', 2_000_000);
        expect((await Promise.all(processes.map((p) => p.runRecharges()))).flat()).toMatchObject([{ outcome: 'pending' }]);
        expect(fake.charges).toHaveLength(2);
        expect((await jobs(sql)).map((j) => j.status)).toEqual(['succeeded', 'awaiting_payment']);
        expect((await billing.reconcile('acme')).problems).toEqual([]);
      } finally {
        await Promise.all(processes.map((p) => p.close()));
      }
    });

    it('a charge answered pending that its processor cannot tell of: asked again less and less often, then after a day it ends, auto-recharge turns off, and its late webhook credits it once', async () => {
      const { billing, sql, clock } = t;
      const before = await underThreshold();
      let asked = 0;
      const silent = answeringPending(async () => {
        asked++;
        throw new Error('service unavailable');
      });
      const unanswered = await createBilling({ database: sql, clock: clock.read, processors: [silent] });
      try {
        expect(await unanswered.runRecharges()).toMatchObject([{ outcome: 'pending' }]);
        for (let i = 0; i < 24 * 6 - 1; i++) {
          clock.advance(10 * MINUTE);
          for (const run of await unanswered.runRecharges({ sweep: false })) expect(run).toMatchObject({ outcome: 'pending', reason: 'service unavailable' });
        }
        // Asked after 10 minutes, then as long again as it had waited: 10, 20, 40, 80 minutes, … up to 6 hours.
        expect(asked).toBeGreaterThanOrEqual(6);
        expect(asked).toBeLessThanOrEqual(10);
        expect(await jobs(sql)).toMatchObject([{ status: 'awaiting_payment' }]);
        clock.advance(7 * 60 * MINUTE);
        expect(await unanswered.runRecharges()).toMatchObject([{ outcome: 'skipped', reason: expect.stringContaining('has not said for a day whether the recharge of $10.00') }]);
        expect(await jobs(sql)).toMatchObject([{ status: 'unanswered' }]);
        expect((await billing.balance('acme')).autoRecharge).toMatchObject({ state: 'off', recharging: false, off: { code: 'processor_unanswered' } });
        clock.advance(7 * 60 * MINUTE);
        expect(await unanswered.runRecharges()).toEqual([]); // off: no new recharge, no more asking
        expect(fake.charges).toHaveLength(1);

        await lateWebhook([unanswered], 'evt_late_unknown', 2);
        expect(await rechargeBuckets(sql)).toHaveLength(1);
        expect(await available(billing)).toBe(before + 10_000_000);
        expect((await billing.reconcile('acme')).problems).toEqual([]);

        // Set again, it recharges again.
        await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 20_000_000 });
        expect(await unanswered.runRecharges()).toMatchObject([{ outcome: 'pending' }]);
        expect(fake.charges).toHaveLength(2);
      } finally {
        await unanswered.close();
      }
    });

    it('a process that died holding the recharge: another takes it when its lease runs out, and the two finish with one charge and one credit', async () => {
      const { billing, sql, clock } = t;
      (fake.charges as unknown[]).length = 0;
      await fundedAccounts(billing, ['acme'], 3_000_000);
      await billing.setAutoRecharge('acme', { enabled: true, pack: 'credits-10', thresholdMicros: 2_000_000 });
      await spendBelow(billing, 'acme', 2_000_000);
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      // The first process charges, then stops answering (a process frozen, or killed, mid-call).
      const frozen = await createBilling({ database: sql, clock: clock.read, processors: [crashing(async () => woken.then(() => ({ status: 'succeeded', paymentRef: fake.charges[0]!.paymentRef }) as never))] });
      const first = frozen.runRecharges();
      while (fake.charges.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await jobs(sql)).toMatchObject([{ status: 'charging', attempts: 1 }]);
      expect(await billing.runRecharges()).toEqual([]); // its lease holds
      clock.advance(6 * MINUTE);
      expect(await billing.runRecharges()).toMatchObject([{ outcome: 'succeeded', paymentRef: fake.charges[0]!.paymentRef }]);
      wake();
      expect(await first).toMatchObject([{ outcome: 'succeeded' }]);
      await frozen.close();
      expect(fake.charges).toHaveLength(1);
      expect(await rechargeBuckets(sql)).toHaveLength(1);
      expect(await jobs(sql)).toMatchObject([{ status: 'succeeded', attempts: 2 }]);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
