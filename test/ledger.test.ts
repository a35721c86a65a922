/** Holds, settlement, debt, refunds and expiry, read like a ledger. */
import { describe, expect, it } from 'vitest';
import { DAY, ENGINES, MINUTE, useBilling } from './support/harness.ts';
import { addTestModel, completed, mustCall, mustRefuse } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`ledger on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function setup(amountMicros = 10_000_000) {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 0 });
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      if (amountMicros > 0) await billing.credit('acme', { source: 'bonus', amountMicros, reference: 'welcome' });
      return billing;
    }

    it('a hold reserves value until settled; the rest is freed', async () => {
      const billing = await setup();
      const auth = await billing.authorize('acme', { model: 'test-model', inputTokens: 1_000_000, maxOutputTokens: 1_000_000 });
      if (!auth.ok) throw new Error(auth.message);
      expect(auth.hold.amountMicros).toBe(6_000_000); // ($1 + $2) / (1 − 50%)
      expect((await billing.balance('acme'))).toMatchObject({ availableMicros: 4_000_000, heldMicros: 6_000_000 });
      const charge = await billing.settle(auth.hold.id, { inputTokens: 1_000_000, outputTokens: 250_000 }, { idempotencyKey: 'a' });
      expect(charge.valueMicros).toBe(3_000_000);
      expect((await billing.balance('acme'))).toMatchObject({ availableMicros: 7_000_000, heldMicros: 0 });
    });

    it('settling twice with one key returns the first result; another key is refused', async () => {
      const billing = await setup();
      const auth = await billing.authorize('acme', { model: 'test-model', inputTokens: 1000, maxOutputTokens: 1000 });
      if (!auth.ok) throw new Error(auth.message);
      const first = await billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 10 }, { idempotencyKey: 'once' });
      const again = await billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 10 }, { idempotencyKey: 'once' });
      expect(again).toEqual({ ...first, replayed: true });
      await expect(billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 11 }, { idempotencyKey: 'once' })).rejects.toMatchObject({
        code: 'idempotency_conflict',
      });
      await expect(billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 10 }, { idempotencyKey: 'twice' })).rejects.toMatchObject({
        code: 'hold_settled',
      });
      const [events] = await t.sql.query<{ n: number }>('SELECT count(*)::bigint AS n FROM usage_events');
      expect(events!.n).toBe(1);
    });

    it('a key used by record cannot be reused by a settle', async () => {
      const billing = await setup();
      await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 5, outputTokens: 5 } }, { idempotencyKey: 'shared' });
      const auth = await billing.authorize('acme', { model: 'test-model', inputTokens: 5, maxOutputTokens: 5 });
      if (!auth.ok) throw new Error(auth.message);
      await expect(billing.settle(auth.hold.id, { inputTokens: 5, outputTokens: 5 }, { idempotencyKey: 'shared' })).rejects.toMatchObject({
        code: 'idempotency_conflict',
      });
      const replay = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 5, outputTokens: 5 } }, { idempotencyKey: 'shared' });
      expect(replay.replayed).toBe(true);
    });

    it('release frees the hold; settling a released hold is refused', async () => {
      const billing = await setup();
      const auth = await billing.authorize('acme', { model: 'test-model', inputTokens: 1_000_000, maxOutputTokens: 0 });
      if (!auth.ok) throw new Error(auth.message);
      await billing.release(auth.hold.id);
      expect((await billing.balance('acme')).availableMicros).toBe(10_000_000);
      await expect(billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: 'late' })).rejects.toMatchObject({ code: 'hold_released' });
      await expect(billing.release('hold_missing')).rejects.toMatchObject({ code: 'hold_not_found' });
    });

    it('an unknown output size holds the minimum; holds lapse after their TTL', async () => {
      const billing = await setup();
      await billing.admin.updateSettings({ minHoldMicros: 2_500_000, holdTtlSeconds: 60 });
      const auth = await billing.authorize('acme', { model: 'test-model' });
      if (!auth.ok) throw new Error(auth.message);
      expect(auth.hold.amountMicros).toBe(2_500_000);
      expect((await billing.balance('acme')).heldMicros).toBe(2_500_000);
      t.clock.advance(2 * MINUTE);
      expect((await billing.balance('acme'))).toMatchObject({ heldMicros: 0, availableMicros: 10_000_000 });
      // A late settle still charges: the usage happened.
      const late = await billing.settle(auth.hold.id, { inputTokens: 1_000_000, outputTokens: 0 }, { idempotencyKey: 'late' });
      expect(late.valueMicros).toBe(2_000_000);
    });

    it('usage beyond what is left becomes debt, refused until paid, and the next grant pays it', async () => {
      const billing = await setup(1_000_000);
      const auth = await billing.authorize('acme', { model: 'test-model', inputTokens: 100_000, maxOutputTokens: 100_000 });
      if (!auth.ok) throw new Error(auth.message);
      const charge = await billing.settle(auth.hold.id, { inputTokens: 1_000_000, outputTokens: 0 }, { idempotencyKey: 'big' });
      expect(charge).toMatchObject({ valueMicros: 2_000_000, debtMicros: 1_000_000 });
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 0, debtMicros: 1_000_000 });
      const refusal = await mustRefuse(billing, 'acme', 1);
      expect(refusal).toMatchObject({ code: 'debt', remedy: { kind: 'buy_pack' } });
      expect(refusal.reason).toBe('This account owes 100 credits from earlier usage.'); // $1.00, in the display unit
      const paid = completed(await billing.purchase('acme', 'credits-10'));
      expect(paid.debtPaidMicros).toBe(1_000_000);
      expect(await billing.balance('acme')).toMatchObject({ availableMicros: 9_000_000, debtMicros: 0 });
      await mustCall(billing, 'acme', 1000);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('draws in burn order: allowance, then gifts, then packs; soonest expiry first', async () => {
      const billing = await setup(0);
      await billing.admin.updatePlan('payg', { includedMicros: 1_000_000 });
      await billing.purchase('acme', 'credits-10');
      await billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'late', expiresAt: new Date('2026-06-01T00:00:00Z') });
      await billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'soon', expiresAt: new Date('2026-04-01T00:00:00Z') });
      const charge = await mustCall(billing, 'acme', 1_250_000); // $2.50 of value
      const draws = await t.sql.query<{ reference: string; amount: number }>(
        `SELECT b.reference, -l.amount_micros AS amount FROM ledger_entries l JOIN buckets b ON b.id = l.bucket_id WHERE l.usage_event_id = $1 ORDER BY l.id`,
        [charge.usageEventId],
      );
      expect(draws.map((d) => [d.reference.split(':')[0] === 'allowance' ? 'allowance' : d.reference, d.amount])).toEqual([
        ['allowance', 1_000_000],
        ['bonus:soon', 1_000_000],
        ['bonus:late', 500_000],
      ]);
    });

    it('overage "block" never spills into purchased credit; "credits" does', async () => {
      const billing = await setup(0);
      await billing.admin.createPlan({ slug: 'capped', name: 'Capped', priceCents: 500, overage: 'block' });
      await billing.purchase('acme', 'credits-10'); // on pay as you go; checkout refuses packs on a blocking plan
      await billing.subscribe('acme', 'capped');
      await mustCall(billing, 'acme', 2_500_000); // the $5 allowance
      const refusal = await mustRefuse(billing, 'acme', 1);
      expect(refusal).toMatchObject({ code: 'insufficient_balance' });
      const b = await billing.balance('acme');
      expect(b.buckets.map((x) => [x.source, x.remainingMicros, x.usable])).toEqual([['pack', 10_000_000, false]]);
      await billing.admin.updatePlan('capped', { overage: 'credits' });
      await billing.admin.moveToCurrentVersion('capped'); // a subscriber keeps the version it bought until moved
      await mustCall(billing, 'acme', 1);
      expect((await billing.balance('acme')).availableMicros).toBe(10_000_000 - 2);
    });

    it('expired value is unusable', async () => {
      const billing = await setup(0);
      await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'short', expiresAt: new Date('2026-03-11T00:00:00Z') });
      await mustCall(billing, 'acme', 1_000_000);
      t.clock.set('2026-03-11T00:00:00Z');
      expect((await billing.balance('acme')).availableMicros).toBe(0);
      expect((await mustRefuse(billing, 'acme', 1)).code).toBe('insufficient_balance');
    });

    const entriesOf = async (reference: string) =>
      (
        await t.sql.query<{ kind: string; amount_micros: number; created_at: Date }>(
          `SELECT l.kind, l.amount_micros, l.created_at FROM ledger_entries l JOIN buckets b ON b.id = l.bucket_id
           WHERE b.account_id = 'acme' AND b.reference = $1 ORDER BY l.id`,
          [reference],
        )
      ).map((e) => [e.kind, e.amount_micros, e.created_at.toISOString()]);

    it('value that expires unspent is written off in the ledger, once', async () => {
      const billing = await setup(0);
      await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'short', expiresAt: new Date('2026-03-11T00:00:00Z') });
      await mustCall(billing, 'acme', 1_000_000); // $2 of it spent
      expect(await billing.expireCredit()).toEqual({ buckets: 0, amountMicros: 0 }); // not yet expired
      t.clock.set('2026-03-17T23:59:59Z');
      expect(await billing.expireCredit()).toEqual({ buckets: 0, amountMicros: 0 }); // expired less than a week ago
      t.clock.set('2026-03-18T00:00:00Z');
      expect(await billing.expireCredit()).toEqual({ buckets: 1, amountMicros: 3_000_000 });
      expect(await entriesOf('bonus:short')).toEqual([
        ['grant', 5_000_000, '2026-03-10T12:00:00.000Z'],
        ['usage', -2_000_000, '2026-03-10T12:00:00.000Z'],
        ['expiry', -3_000_000, '2026-03-11T00:00:00.000Z'], // when it expired
      ]);
      expect(await billing.expireCredit()).toEqual({ buckets: 0, amountMicros: 0 });
      expect((await billing.balance('acme')).availableMicros).toBe(0);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it("a new period leaves what is left of the last one's allowance to expireCredit, a week on", async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.admin.updatePlan('payg', { includedMicros: 1_000_000 });
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await mustCall(billing, 'acme', 100_000); // 200,000 of March's 1,000,000
      t.clock.set('2026-04-02T09:00:00Z');
      await mustCall(billing, 'acme', 1); // opens April's
      const [march] = (await t.sql.query<{ reference: string }>(`SELECT reference FROM buckets WHERE source = 'allowance' ORDER BY id`)).map((b) => b.reference);
      const spent = [['grant', 1_000_000, '2026-03-10T12:00:00.000Z'], ['usage', -200_000, '2026-03-10T12:00:00.000Z']];
      expect(await entriesOf(march!)).toEqual(spent);
      expect((await billing.balance('acme')).availableMicros).toBe(1_000_000 - 2); // March's is not usable in April either way
      t.clock.set('2026-04-08T09:00:00Z');
      expect(await billing.expireCredit()).toEqual({ buckets: 1, amountMicros: 800_000 });
      expect(await entriesOf(march!)).toEqual([...spent, ['expiry', -800_000, '2026-04-01T00:00:00.000Z']]);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('refunds go back to the bucket they came from, or to a refund bucket if it expired', async () => {
      const billing = await setup(0);
      await billing.credit('acme', { source: 'bonus', amountMicros: 4_000_000, reference: 'a', expiresAt: new Date('2026-03-20T00:00:00Z') });
      await billing.credit('acme', { source: 'adjustment', amountMicros: 4_000_000, reference: 'b' });
      const charge = await mustCall(billing, 'acme', 3_000_000); // $6: $4 from a (expires first), $2 from b
      const partial = await billing.refund(charge.usageEventId, { amountMicros: 1_000_000 });
      expect(partial.toBuckets).toEqual([{ bucketId: 2, amountMicros: 1_000_000 }]); // last draw first
      t.clock.set('2026-03-21T00:00:00Z'); // bucket a has expired
      const rest = await billing.refund(charge.usageEventId);
      expect(rest.refundedMicros).toBe(5_000_000);
      expect(rest.toBuckets.map((b) => b.amountMicros)).toEqual([1_000_000, 4_000_000]);
      const b = await billing.balance('acme');
      expect(b.buckets.map((x) => [x.source, x.remainingMicros])).toEqual([['adjustment', 4_000_000], ['refund', 4_000_000]]);
      await expect(billing.refund(charge.usageEventId, { amountMicros: 1 })).rejects.toMatchObject({ code: 'refund_exceeds_charge' });
      await expect(billing.refund(999)).rejects.toMatchObject({ code: 'usage_event_not_found' });
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('a refund of usage that went into debt forgives the debt', async () => {
      const billing = await setup(1_000_000);
      const charge = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 1_500_000, outputTokens: 0 } }, { idempotencyKey: 'r' });
      expect(charge.debtMicros).toBe(2_000_000);
      const r = await billing.refund(charge.usageEventId);
      expect(r.debtForgivenMicros).toBe(2_000_000);
      expect(await billing.balance('acme')).toMatchObject({ debtMicros: 0, availableMicros: 1_000_000 });
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });

    it('reconcile finds a projection that disagrees with the ledger, and a fact that refers to another account', async () => {
      const billing = await setup();
      await billing.upsertAccount({ id: 'other', kind: 'personal' });
      await billing.credit('other', { source: 'bonus', amountMicros: 1_000_000, reference: 'welcome' });
      const charge = await mustCall(billing, 'acme', 1000, 500);
      const otherCharge = await mustCall(billing, 'other', 1000, 500);
      expect((await billing.reconcile('acme')).problems).toEqual([]);
      const [bucket] = await billing.sql.query<{ id: number }>(`SELECT id FROM buckets WHERE account_id = 'other'`);
      const [hold] = await billing.sql.query<{ hold_id: string }>('SELECT hold_id FROM usage_events WHERE id = $1', [otherCharge.usageEventId]);
      await billing.sql.query(`UPDATE ledger_entries SET bucket_id = $1 WHERE usage_event_id = $2`, [bucket!.id, charge.usageEventId]);
      await billing.sql.query(`UPDATE usage_events SET hold_id = $1 WHERE id = $2`, [hold!.hold_id, charge.usageEventId]);
      const [own] = await billing.sql.query<{ id: string }>(`SELECT id FROM holds WHERE usage_event_id = $1`, [charge.usageEventId]);
      const { ok, problems } = await billing.reconcile('acme');
      expect(ok).toBe(false);
      expect(problems).toEqual([
        expect.stringMatching(/^bucket \d+: remaining \d+ ≠ ledger sum \d+$/), // the debit no longer counts against acme's bucket
        `hold ${own!.id} settled by usage event ${charge.usageEventId}, which is missing, another account's or another hold's`,
        expect.stringMatching(new RegExp(`^ledger entry \\d+: bucket ${bucket!.id} is missing or another account's$`)),
        `usage event ${charge.usageEventId}: hold ${hold!.hold_id} is missing or another account's`,
      ]);
    });

    it('an immediate cancel closes the allowance and moves the ledger version, so that no charge read before it draws on it', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('tiers');
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.subscribe('acme', 'starter');
      const version = async () => (await billing.sql.query<{ v: number }>(`SELECT ledger_version AS v FROM account_balances WHERE account_id = 'acme'`))[0]!.v;
      const before = await version();
      expect((await billing.balance('acme')).buckets.map((b) => [b.source, b.id !== null])).toEqual([['allowance', true]]);
      await billing.cancel('acme', { immediately: true });
      expect(await version()).toBeGreaterThan(before); // an optimistic charge guarded by `before` now writes nothing
      // What is left is the free plan's allowance, not opened yet (no id), not the starter's.
      expect((await billing.balance('acme')).buckets.map((b) => [b.id, b.amountMicros])).toEqual([[null, 500_000]]);
    });

    it('a plan canceled at period end runs to the end, then falls back to the default plan', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('tiers');
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.subscribe('acme', 'starter');
      const canceled = await billing.cancel('acme');
      expect(canceled.endsAt?.toISOString()).toBe('2026-04-10T12:00:00.000Z');
      clock.advance(20 * DAY);
      expect((await billing.balance('acme')).plan.slug).toBe('starter');
      clock.advance(15 * DAY);
      expect((await billing.balance('acme')).plan.slug).toBe('free');
      expect((await mustRefuse(billing, 'acme', 10)).code).toBe('model_not_allowed');
      await expect(billing.cancel('acme')).rejects.toMatchObject({ code: 'no_subscription' });
    });

    it('usage reads sum tokens, cost and value by model and by day', async () => {
      const billing = await setup();
      await mustCall(billing, 'acme', 1000, 500);
      await billing.record('acme', { model: 'gpt-4o-mini', usage: { inputTokens: 2000, outputTokens: 100, cacheReadTokens: 1000 } }, { idempotencyKey: 'm' });
      t.clock.advance(DAY);
      await mustCall(billing, 'acme', 3000, 0);
      const byModel = await billing.usage('acme', { from: '2026-03-01', to: '2026-04-01', groupBy: 'model' });
      expect(byModel.rows.map((r) => [r.key, r.events, r.inputTokens, r.outputTokens, r.cacheReadTokens])).toEqual([
        ['gpt-4o-mini', 1, 2000, 100, 1000],
        ['test-model', 2, 4000, 500, 0],
      ]);
      expect(byModel.rows[1]).toMatchObject({ costMicros: 5000, valueMicros: 10000 });
      const byDay = await billing.usage('acme', { from: '2026-03-01', to: '2026-04-01', groupBy: 'day' });
      expect(byDay.rows.map((r) => [r.key, r.events])).toEqual([['2026-03-10', 2], ['2026-03-11', 1]]);
      expect(byDay.total.valueMicros).toBe(byModel.total.valueMicros);
    });
  });
}
