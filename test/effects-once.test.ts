/**
 * Every call that moves money happens once per idempotency key, because the key is claimed in
 * the effect's own transaction: a retry (after any crash: the first call's answer may be lost,
 * its effect is not) gets the first result, the key reused for another request is a conflict,
 * concurrent calls under one key make one effect, and a call that failed leaves its key free.
 */
import { describe, expect, it } from 'vitest';
import type { Billing } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { BillingProcess } from './support/processes.ts';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { addTestModel, completed, mustCall } from './support/spend.ts';

/** The money an account has been given and had taken: every movement, as the ledger has it. */
async function movements(sql: Sql, accountId: string) {
  const [row] = await sql.query<{ entries: number; payments: number; subscriptions: number; total: number }>(
    `SELECT (SELECT count(*)::int FROM ledger_entries WHERE account_id = $1) AS entries,
            (SELECT count(*)::int FROM payments WHERE account_id = $1) AS payments,
            (SELECT count(*)::int FROM subscriptions WHERE account_id = $1) AS subscriptions,
            (SELECT coalesce(sum(amount_micros), 0)::bigint FROM ledger_entries WHERE account_id = $1) AS total`,
    [accountId],
  );
  return row!;
}

async function paidAccount(billing: Billing) {
  await billing.admin.applyPreset('subscription-plus-packs');
  await addTestModel(billing);
  await billing.upsertAccount({ id: 'acme', kind: 'team' });
}

for (const engine of ENGINES) {
  describe(`money moves once per idempotency key on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('a retry of each money-moving call gets the first result, marked replayed, and moves nothing more', async () => {
      const { billing, sql } = t;
      await paidAccount(billing);
      const calls: [string, () => Promise<{ replayed: boolean }>][] = [
        ['subscribe', () => billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })],
        ['purchase', () => billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy-1' })],
        ['credit', () => billing.credit('acme', { source: 'bonus', amountMicros: 2_000_000, reference: 'gift' }, { idempotencyKey: 'credit-1' })],
        ['refund', async () => {
          const [event] = await sql.query<{ id: number }>('SELECT id FROM usage_events ORDER BY id LIMIT 1');
          return billing.refund(event!.id, { amountMicros: 1_000 }, { idempotencyKey: 'refund-1' });
        }],
        ['cancel', () => billing.cancel('acme', {}, { idempotencyKey: 'cancel-1' })],
      ];
      for (const [name, run] of calls) {
        if (name === 'refund') await mustCall(billing, 'acme', 10_000, 1_000);
        const first = await run();
        const after = await movements(sql, 'acme');
        const again = await run();
        expect(first.replayed, name).toBe(false);
        expect(again, name).toEqual({ ...first, replayed: true });
        expect(await movements(sql, 'acme'), `${name} moved money again`).toEqual(after);
      }
      expect(await billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('the key reused for another request is idempotency_conflict, and moves nothing', async () => {
      const { billing, sql } = t;
      await paidAccount(billing);
      await billing.subscribe('acme', 'plus', { idempotencyKey: 'k' });
      const before = await movements(sql, 'acme');
      const conflicts = [
        () => billing.purchase('acme', 'extra-10', { idempotencyKey: 'k' }),
        () => billing.subscribe('acme', 'free', { idempotencyKey: 'k' }),
        () => billing.credit('acme', { source: 'bonus', amountMicros: 1, reference: 'r' }, { idempotencyKey: 'k' }),
        () => billing.cancel('acme', { immediately: true }, { idempotencyKey: 'k' }),
      ];
      for (const conflict of conflicts) {
        await expect(conflict()).rejects.toMatchObject({ code: 'idempotency_conflict', details: { idempotencyKey: 'k' } });
      }
      expect(await movements(sql, 'acme')).toEqual(before);
    });

    it('a call that failed leaves its key free: the retry, once it can succeed, runs', async () => {
      const { billing, sql } = t;
      await paidAccount(billing);
      // The pack is an add-on to a paid plan: refused on the free plan, with nothing written.
      await expect(billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy' })).rejects.toMatchObject({ code: 'pack_requires_plan' });
      expect(await sql.query('SELECT 1 FROM effect_keys')).toHaveLength(0);
      await billing.subscribe('acme', 'plus');
      const bought = await billing.purchase('acme', 'extra-10', { idempotencyKey: 'buy' });
      expect(bought).toMatchObject({ valueMicros: 10_000_000, replayed: false });
      expect((await movements(sql, 'acme')).payments).toBe(2); // the plan's and the pack's
    });

    it('concurrent calls under one key make one effect, and all get its result', async () => {
      const { billing, sql } = t;
      await paidAccount(billing);
      await billing.subscribe('acme', 'plus');
      const results = await Promise.all(Array.from({ length: 12 }, () => billing.purchase('acme', 'extra-10', { idempotencyKey: 'same' })));
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(new Set(results.map((r) => completed(r).paymentRef)).size).toBe(1);
      expect((await movements(sql, 'acme')).payments).toBe(2); // the plan's and the pack's
    });

    it('a key is 1 to 200 characters of text', async () => {
      const { billing } = t;
      await paidAccount(billing);
      for (const idempotencyKey of ['', 'x'.repeat(201), 'a\u0000b']) {
        await expect(billing.subscribe('acme', 'plus', { idempotencyKey })).rejects.toMatchObject({ code: 'invalid_input' });
      }
    });
  });
}

describe.skipIf(!POSTGRES_URL)(`money moves once per key across processes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('three processes bursting the same keys make one effect per key', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const processes = await Promise.all([0, 1, 2].map(() => BillingProcess.start(db.url!)));
    try {
      const [admin] = processes;
      await admin!.must('admin.applyPreset', 'subscription-plus-packs');
      await admin!.must('admin.setModelPrice', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
      await admin!.must('upsertAccount', { id: 'acme', kind: 'team' });
      await admin!.must('subscribe', 'acme', 'plus');
      const auth = await admin!.must('authorize', 'acme', { model: 'test-model', provider: 'test', inputTokens: 100_000, maxOutputTokens: 0 });
      const { usageEventId } = await admin!.must('settle', auth.hold.id, { inputTokens: 100_000, outputTokens: 0 }, { idempotencyKey: 'call' });
      const keys = Array.from({ length: 10 }, (_, i) => i);
      const outcomes = (
        await Promise.all(
          processes.map((p) =>
            Promise.all([
              p.burst('purchase', keys.map((i) => ['acme', 'extra-10', { idempotencyKey: `buy-${i}` }])),
              p.burst('refund', keys.map((i) => [usageEventId, { amountMicros: 100 }, { idempotencyKey: `refund-${i}` }])),
              p.burst('credit', keys.map((i) => ['acme', { source: 'bonus', amountMicros: 1_000, reference: `gift-${i}` }, { idempotencyKey: `credit-${i}` }])),
            ]),
          ),
        )
      ).flat(2);
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      expect(outcomes.filter((o) => o.ok && !o.value.replayed)).toHaveLength(30);
      const [counts] = await db.sql.query<{ payments: number; credits: number; refunded: number }>(
        `SELECT (SELECT count(*)::int FROM payments WHERE kind = 'pack') AS payments,
                (SELECT count(*)::int FROM buckets WHERE source = 'bonus') AS credits,
                (SELECT refunded_micros::int FROM usage_events WHERE id = $1) AS refunded`,
        [usageEventId],
      );
      expect(counts).toEqual({ payments: 10, credits: 10, refunded: 1_000 });
      expect(await admin!.must('reconcile', 'acme')).toMatchObject({ ok: true });
    } finally {
      await Promise.all(processes.map((p) => p.stop()));
      await db.drop();
    }
  }, 60_000);
});
