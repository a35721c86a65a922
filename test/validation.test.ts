/** Bad input gets a typed error with a code, and writes nothing. */
import { describe, expect, it } from 'vitest';
import { BillingError, type Billing } from '../src/index.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import type { Sql } from '../src/db/sql.ts';
import { WINDOW_COLUMNS } from '../src/engine/window-columns.ts';
import { MAX_CALL_TOKENS } from '../src/core/input.ts';

async function rowCounts(sql: Sql) {
  const [row] = await sql.query(
    `SELECT (SELECT count(*) FROM buckets) AS buckets, (SELECT count(*) FROM holds) AS holds, (SELECT count(*) FROM usage_events) AS events,
            (SELECT count(*) FROM ledger_entries) AS entries, (SELECT string_agg(concat_ws('/', b.account_id, b.ledger_version, b.debt_micros, ${WINDOW_COLUMNS}), ',' ORDER BY b.account_id)
              FROM account_balances b) AS balances, (SELECT count(*) FROM plans) AS plans,
            (SELECT count(*) FROM packs) AS packs, (SELECT count(*) FROM accounts) AS accounts, (SELECT sum(remaining_micros) FROM buckets) AS remaining`,
  );
  return row;
}

for (const engine of ENGINES) {
  describe(`bad input on ${engine.name}`, () => {
    const t = useBilling(engine);

    async function setup(): Promise<Billing> {
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team' });
      await t.billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'gift' });
      return t.billing;
    }

    /** The call must fail with this code and leave every table as it was. */
    async function refusedWithoutWrites(code: string, call: () => Promise<unknown>) {
      const before = await rowCounts(t.sql);
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, 'expected a BillingError').toBeInstanceOf(BillingError);
      expect((error as BillingError).code).toBe(code);
      expect((error as BillingError).message.length).toBeGreaterThan(10);
      expect(await rowCounts(t.sql)).toEqual(before);
    }

    it('refuses bad token counts on authorize, settle and record', async () => {
      const billing = await setup();
      const auth = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 });
      if (!auth.ok) throw new Error(auth.message);
      const bad: unknown[] = [
        { inputTokens: -1, outputTokens: 1 },
        { inputTokens: 1.5, outputTokens: 1 },
        { inputTokens: 2 ** 53, outputTokens: 1 },
        { inputTokens: '10', outputTokens: 1 },
        { inputTokens: 10 },
        { inputTokens: 10, outputTokens: 1, cacheReadTokens: 11 },
        { inputTokens: 10, outputTokens: 1, reasoningTokens: 2 },
        { inputTokens: 10, outputTokens: 1, surprise: 1 },
        null,
      ];
      for (const usage of bad) {
        await refusedWithoutWrites('invalid_input', () => billing.settle(auth.hold.id, usage as never, { idempotencyKey: 'k' }));
        await refusedWithoutWrites('invalid_input', () => billing.record('acme', { model: 'gpt-4o-mini', usage: usage as never }, { idempotencyKey: 'k' }));
      }
      for (const input of [{ model: 'gpt-4o-mini', inputTokens: -5 }, { model: 'gpt-4o-mini', maxOutputTokens: 0.5 }, { model: '' }, { model: 42 }, {}]) {
        await refusedWithoutWrites('invalid_input', () => billing.authorize('acme', input as never));
      }
      await refusedWithoutWrites('invalid_input', () => billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: '' }));
      await refusedWithoutWrites('invalid_input', () => billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 1 }, {} as never));
    });

    it('refuses unknown accounts, holds and released holds', async () => {
      const billing = await setup();
      await refusedWithoutWrites('account_not_found', () => billing.authorize('nobody', { model: 'gpt-4o-mini' }));
      await refusedWithoutWrites('account_not_found', () => billing.record('nobody', { model: 'gpt-4o-mini', usage: { inputTokens: 1, outputTokens: 1 } }, { idempotencyKey: 'x' }));
      await refusedWithoutWrites('account_not_found', () => billing.balance('nobody'));
      await refusedWithoutWrites('account_not_found', () => billing.purchase('nobody', 'credits-10'));
      await refusedWithoutWrites('account_not_found', () => billing.credit('nobody', { source: 'bonus', amountMicros: 1, reference: 'r' }));
      await refusedWithoutWrites('hold_not_found', () => billing.settle('hold_nope', { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: 'x' }));
      const auth = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 });
      if (!auth.ok) throw new Error(auth.message);
      await billing.release(auth.hold.id);
      await refusedWithoutWrites('hold_released', () => billing.settle(auth.hold.id, { inputTokens: 1, outputTokens: 1 }, { idempotencyKey: 'x' }));
    });

    it('refuses amounts past 2^53 and of the wrong type', async () => {
      const billing = await setup();
      await refusedWithoutWrites('invalid_input', () => billing.credit('acme', { source: 'bonus', amountMicros: 2 ** 53, reference: 'huge' }));
      await refusedWithoutWrites('invalid_input', () => billing.credit('acme', { source: 'bonus', amountMicros: -1, reference: 'neg' }));
      await refusedWithoutWrites('invalid_input', () => billing.credit('acme', { source: 'bonus', amountMicros: 1.25, reference: 'frac' }));
      await refusedWithoutWrites('invalid_input', () => billing.credit('acme', { source: 'pack' as never, amountMicros: 1, reference: 'sneaky' }));
      await refusedWithoutWrites('invalid_input', () => billing.refund(1.5 as never));
      await refusedWithoutWrites('invalid_input', () => billing.admin.createPack({ slug: 'big', name: 'Big', priceCents: 1, valueMicros: 2 ** 60 }));
    });

    it('validates plans, packs and settings with messages that say what to fix', async () => {
      const billing = await setup();
      await refusedWithoutWrites('invalid_input', () => billing.admin.createPlan({ slug: 'neg', name: 'Neg', priceCents: -100 }));
      const surcharge = billing.admin.createPlan({ slug: 'over', name: 'Over', priceCents: 1000, surchargeCents: 1500 });
      await expect(surcharge).rejects.toThrow('Invalid plan: surchargeCents: $15.00 is more than the price, $10.00: the surcharge is the part of the price that is not usage, so it must not exceed the price');
      await refusedWithoutWrites('invalid_input', () => billing.admin.createPlan({ slug: 'Bad Slug', name: 'x', priceCents: 0 }));
      await refusedWithoutWrites('slug_taken', () => billing.admin.createPlan({ slug: 'payg', name: 'again', priceCents: 0 }));
      await refusedWithoutWrites('plan_not_found', () => billing.admin.updatePlan('nope', { name: 'x' }));
      await refusedWithoutWrites('plan_not_found', () => billing.subscribe('acme', 'nope'));
      await refusedWithoutWrites('pack_not_found', () => billing.purchase('acme', 'nope'));
      await refusedWithoutWrites('invalid_input', () => billing.admin.createPack({ slug: 'free-pack', name: 'Free', priceCents: 0 }));
      await expect(billing.admin.updateSettings({ marginBps: 10_000 })).rejects.toThrow('marginBps: 100% is too high: a margin must be below 100% (99.99% at most)');
      await expect(billing.admin.updateSettings({ marginBps: -1 })).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.admin.updateSettings({ defaultPlan: 'nope' })).rejects.toMatchObject({ code: 'plan_not_found' });
      await expect(billing.admin.updateSettings({ unknownModelPolicy: 'fallback' })).rejects.toThrow(/at a fallback price needs that price: give its input and output rates/);
      await expect(billing.admin.applyPreset('everything-free' as never)).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.upsertAccount({ id: 'tz', kind: 'team', timeZone: 'Mars/Olympus' })).rejects.toThrow(/Unknown time zone/);
      await expect(billing.upsertAccount({ id: 'k', kind: 'robot' as never })).rejects.toMatchObject({ code: 'invalid_input' });
      expect((await billing.admin.getSettings()).marginBps).toBe(5000);
    });

    /** The error names the field and says what to fix. */
    async function invalid(call: () => Promise<unknown>, field: RegExp) {
      await refusedWithoutWrites('invalid_input', call);
      await expect(call()).rejects.toThrow(field);
    }

    it('a settle with metadata the database cannot store is invalid input, and its retry with clean metadata charges once', async () => {
      const billing = await setup();
      const auth = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 100, maxOutputTokens: 100 });
      if (!auth.ok) throw new Error(auth.message);
      const usage = { inputTokens: 100, outputTokens: 40 };
      for (const metadata of [{ title: 'caf\ud83d' }, { 'caf\udc00': 1 }, { title: 'a\u0000b' }, { nested: [{ deep: 'x\ud800' }] }, { n: 1n }, { list: [1, undefined] }]) {
        await invalid(() => billing.settle(auth.hold.id, usage, { idempotencyKey: 'msg-1', metadata: metadata as never }), /metadata/);
      }
      const first = await billing.settle(auth.hold.id, usage, { idempotencyKey: 'msg-1', metadata: { title: 'café 😀' } });
      const again = await billing.settle(auth.hold.id, usage, { idempotencyKey: 'msg-1', metadata: { title: 'café 😀' } });
      expect(again).toEqual({ ...first, replayed: true });
      expect(await t.sql.query('SELECT metadata FROM usage_events')).toEqual([{ metadata: { title: 'café 😀' } }]);
      expect((await billing.reconcile('acme')).ok).toBe(true);
    });

    it('refuses NUL, unpaired surrogates and non-strings in ids, keys, user ids and model names', async () => {
      const billing = await setup();
      const usage = { inputTokens: 1, outputTokens: 1 };
      for (const id of ['ac\u0000me', 'acme\ud800', '\udfffacme', Symbol('acme'), 42, null, '', 'x'.repeat(201)]) {
        await invalid(() => billing.balance(id as never), /account id/);
        await invalid(() => billing.authorize(id as never, { model: 'gpt-4o-mini' }), /account id/);
        await invalid(() => billing.record(id as never, { model: 'gpt-4o-mini', usage }, { idempotencyKey: 'k' }), /account id/);
        await invalid(() => billing.upsertAccount({ id: id as never, kind: 'team' }), /id/);
        await invalid(() => billing.credit(id as never, { source: 'bonus', amountMicros: 1, reference: 'r' }), /account id/);
        if (id !== 'x'.repeat(201)) await invalid(() => billing.settle(id as never, usage, { idempotencyKey: 'k' }), /hold id/);
      }
      const bad = 'k\u0000';
      await invalid(() => billing.record('acme', { model: 'gpt-4o-mini', usage }, { idempotencyKey: bad }), /idempotencyKey/);
      await invalid(() => billing.record('acme', { model: 'gpt-4o-mini\u0000', usage }, { idempotencyKey: 'k' }), /model/);
      await invalid(() => billing.record('acme', { model: 'gpt-4o-mini', usage, userId: 'u\ud83d' }, { idempotencyKey: 'k' }), /userId/);
      await invalid(() => billing.authorize('acme', { model: 'gpt-4o-mini', userId: bad }), /userId/);
      await invalid(() => billing.credit('acme', { source: 'bonus', amountMicros: 1, reference: bad }), /reference/);
      await invalid(() => billing.recordBatch([{ accountId: 'acme', model: 'gpt-4o-mini', usage, idempotencyKey: 'k', metadata: { a: bad } }]), /0\.metadata\.a/);
      await invalid(() => billing.admin.createPlan({ slug: 'nul', name: 'N\u0000', priceCents: 0 }), /name/);
      await invalid(() => billing.admin.setModelPrice({ model: 'x\ud800', effectiveFrom: '2026-01-01', rates: { input: '1', output: '1' } }), /model/);
      // An id that differs from another only by an unpaired surrogate is not read as that other account.
      expect((await billing.balance('acme')).accountId).toBe('acme');
      await invalid(() => billing.balance('acme\ud800'), /well-formed/);
    });

    it('refuses sort orders beyond 32 bits, dates far from now, bigints and non-date expiries', async () => {
      const billing = await setup();
      await invalid(() => billing.admin.createPlan({ slug: 'big-sort', name: 'Big', priceCents: 0, sort: 2 ** 31 }), /sort/);
      await invalid(() => billing.admin.createPack({ slug: 'big-sort', name: 'Big', priceCents: 100, sort: -(2 ** 31) - 1 }), /sort/);
      await invalid(() => billing.admin.updatePlan('payg', { sort: 2 ** 31 }), /sort/);
      for (const far of [new Date(-8.64e15), new Date(8.64e15), new Date('1999-12-31T23:59:59Z'), '2200-01-01T00:00:00Z', new Date(Number.NaN)]) {
        await invalid(() => billing.usage('acme', { from: far, to: '2026-04-01' }), /from/);
        await invalid(() => billing.credit('acme', { source: 'bonus', amountMicros: 1, reference: 'far', expiresAt: far }), /expiresAt/);
        await invalid(() => billing.admin.setModelPrice({ model: 'x', effectiveFrom: far, rates: { input: '1', output: '1' } }), /effectiveFrom/);
      }
      for (const notADate of [true, 0, 1_773_000_000_000, 'next tuesday', '2026-03-01 12:00', {}]) {
        await invalid(() => billing.credit('acme', { source: 'bonus', amountMicros: 1, reference: 'when', expiresAt: notADate as never }), /expiresAt/);
      }
      await invalid(() => billing.credit('acme', { source: 'bonus', amountMicros: 10n as never, reference: 'big' }), /amountMicros/);
      await invalid(() => billing.record('acme', { model: 'gpt-4o-mini', usage: { inputTokens: 1n as never, outputTokens: 1 } }, { idempotencyKey: 'k' }), /inputTokens/);
      // Dates that are fine: a Date, an ISO date, an ISO date-time with its offset.
      await billing.credit('acme', { source: 'bonus', amountMicros: 1, reference: 'iso', expiresAt: '2026-04-01T00:00:00+02:00' });
      expect((await billing.usage('acme', { from: '2026-03-01', to: new Date('2026-04-01T00:00:00Z') })).total.events).toBe(0);
    });

    it('refuses arguments of the wrong type that used to do nothing', async () => {
      const billing = await setup();
      const charge = await billing.record('acme', { model: 'gpt-4o-mini', usage: { inputTokens: 1000, outputTokens: 10 } }, { idempotencyKey: 'k' });
      const settings = await billing.admin.getSettings();
      await invalid(() => billing.admin.updateSettings('' as never), /settings/);
      await invalid(() => billing.admin.updateSettings([] as never), /settings/);
      await invalid(() => billing.admin.updateSettings({ pricingMode: 'everything-free' as never }), /pricingMode/);
      await invalid(() => billing.admin.updatePlan('payg', 42 as never), /plan changes/);
      await invalid(() => billing.admin.updatePack('credits-10', 'cheaper' as never), /pack changes/);
      await invalid(() => billing.refund(charge.usageEventId, new Date() as never), /refund/);
      await invalid(() => billing.refund('abc' as never), /usage event id/);
      await invalid(() => billing.admin.getPlan(42 as never), /plan slug/);
      await invalid(() => billing.admin.getPack({} as never), /pack slug/);
      await invalid(() => billing.admin.listPlans({ status: 42 } as never), /status/);
      await invalid(() => billing.cancel('acme', { immediately: 'yes' } as never), /immediately/);
      await invalid(() => billing.subscribe('acme', Symbol('plus') as never), /plan slug/);
      const auth = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 10 });
      if (!auth.ok) throw new Error(auth.message);
      await invalid(() => billing.settle(auth.hold.id, new Date() as never, { idempotencyKey: 'k' }), /usage/);
      expect(await billing.admin.getSettings()).toEqual(settings);
      // A slug in a pack's changes is not a rename: it is refused, named, and nothing changes (onto another pack's slug, it was a raw unique violation).
      await invalid(() => billing.admin.updatePack('credits-10', { slug: 'credits-50', name: 'Ten dollars' } as never), /slug/);
      expect(await billing.admin.updatePack('credits-10', { name: 'Ten dollars' })).toMatchObject({ slug: 'credits-10', name: 'Ten dollars' });
    });

    it('a call with more tokens than any model takes is invalid input, and the account keeps working', async () => {
      const billing = await setup();
      await billing.admin.setModelPrice({ model: 'free-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '0', output: '0' } });
      for (const usage of [
        { inputTokens: 2 ** 53 - 1, outputTokens: 0 },
        { inputTokens: MAX_CALL_TOKENS + 1, outputTokens: 0 },
        { inputTokens: 0, outputTokens: MAX_CALL_TOKENS + 1 },
      ]) {
        await invalid(() => billing.record('acme', { model: 'free-model', usage }, { idempotencyKey: 'huge' }), /at most 1,000,000,000 tokens/);
      }
      await invalid(() => billing.authorize('acme', { model: 'free-model', inputTokens: 2 ** 53 - 1 }), /inputTokens/);
      await invalid(() => billing.authorize('acme', { model: 'free-model', maxOutputTokens: MAX_CALL_TOKENS + 1 }), /maxOutputTokens/);
      // The most a call may report, many times over: every read and every call goes on working.
      const available = (await billing.balance('acme')).availableMicros;
      const most = { inputTokens: MAX_CALL_TOKENS, outputTokens: MAX_CALL_TOKENS, cacheReadTokens: MAX_CALL_TOKENS, reasoningTokens: MAX_CALL_TOKENS };
      for (let i = 0; i < 5; i++) await billing.record('acme', { model: 'free-model', usage: most }, { idempotencyKey: `most-${i}` });
      expect((await billing.usage('acme', { from: '2026-03-01', to: '2026-04-01' })).total.inputTokens).toBe(5 * MAX_CALL_TOKENS);
      expect((await billing.balance('acme')).availableMicros).toBe(available);
      const auth = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 1000, maxOutputTokens: 100 });
      if (!auth.ok) throw new Error(auth.message);
      await billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 100 }, { idempotencyKey: 'after' });
      await billing.record('acme', { model: 'gpt-4o-mini', usage: { inputTokens: 10, outputTokens: 10 } }, { idempotencyKey: 'after-2' });
      expect((await billing.reconcile('acme')).ok).toBe(true);
    });
  });

  describe(`unknown models on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('refuses a model without a price, or charges the explicit fallback: never free', async () => {
      const { billing } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'gift' });
      const refused = await billing.authorize('acme', { model: 'mystery-9000', inputTokens: 10, maxOutputTokens: 10 });
      expect(refused).toMatchObject({ ok: false, code: 'unknown_model' });
      await expect(
        billing.record('acme', { model: 'mystery-9000', usage: { inputTokens: 10, outputTokens: 10 } }, { idempotencyKey: 'u' }),
      ).rejects.toMatchObject({ code: 'unknown_model' });
      expect(await t.sql.query('SELECT * FROM usage_events')).toEqual([]);

      await billing.admin.updateSettings({ unknownModelPolicy: 'fallback', fallbackRates: { input: '10', output: '30' } });
      const auth = await billing.authorize('acme', { model: 'mystery-9000', inputTokens: 1000, maxOutputTokens: 1000 });
      if (!auth.ok) throw new Error(auth.message);
      const charge = await billing.settle(auth.hold.id, { inputTokens: 1000, outputTokens: 1000 }, { idempotencyKey: 'f' });
      expect(charge).toMatchObject({ costMicros: 40_000, valueMicros: 80_000 });
    });

    it('an admin price override takes effect from its date; earlier usage keeps its price', async () => {
      const { billing, clock } = t;
      await billing.admin.applyPreset('credit-packs');
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      await billing.credit('acme', { source: 'bonus', amountMicros: 50_000_000, reference: 'gift' });
      const usage = { inputTokens: 1_000_000, outputTokens: 0 };
      const before = await billing.record('acme', { model: 'gpt-4o-mini', usage }, { idempotencyKey: 'before' });
      expect(before.costMicros).toBe(150_000); // the bundled $0.15 per million
      await billing.admin.setModelPrice({ model: 'gpt-4o-mini', effectiveFrom: '2026-03-11T00:00:00Z', rates: { input: '0.1', output: '0.4' } });
      expect((await billing.record('acme', { model: 'gpt-4o-mini', usage }, { idempotencyKey: 'same-day' })).costMicros).toBe(150_000);
      clock.set('2026-03-12T00:00:00Z');
      expect((await billing.record('acme', { model: 'gpt-4o-mini', usage }, { idempotencyKey: 'after' })).costMicros).toBe(100_000);
      const [snapshot] = await t.sql.query<{ price: { source: string } }>('SELECT price FROM usage_events WHERE idempotency_key = $1', ['before']);
      expect(snapshot!.price.source).toBe('bundled');
      await expect(billing.admin.setModelPrice({ model: 'x', effectiveFrom: 'soon', rates: { input: '1', output: '1' } })).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(billing.admin.setModelPrice({ model: 'x', effectiveFrom: '2026-01-01', rates: { input: '-1', output: '1' } })).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('limits in tokens count used, held and asked-for tokens', async () => {
      const { billing } = t;
      await billing.admin.createPlan({ slug: 'capped', name: 'Capped', priceCents: 0, includedMicros: 10_000_000, limits: [{ window: 'day', unit: 'tokens', amount: 10_000 }] });
      await billing.admin.updateSettings({ defaultPlan: 'capped' });
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      const first = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 4000, maxOutputTokens: 2000 });
      expect(first.ok).toBe(true);
      const second = await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 3000, maxOutputTokens: 2000 });
      expect(second).toMatchObject({ ok: false, code: 'daily_limit' }); // 6,000 held + 5,000 asked > 10,000
      if (!first.ok) return;
      await billing.settle(first.hold.id, { inputTokens: 4000, outputTokens: 500 }, { idempotencyKey: 'one' });
      expect((await billing.authorize('acme', { model: 'gpt-4o-mini', inputTokens: 3000, maxOutputTokens: 2000 })).ok).toBe(true);
      const limits = (await billing.balance('acme')).limits;
      expect(limits).toEqual([{ window: 'day', unit: 'tokens', amount: 10_000, used: 4500, held: 5000, resetsAt: new Date('2026-03-11T00:00:00Z') }]);
    });
  });
}
