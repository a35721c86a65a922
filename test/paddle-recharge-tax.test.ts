/**
 * An auto-recharge at Paddle, which adds tax as merchant of record: the payment is recorded at what
 * the customer was charged (tax included), as a pack bought at checkout is, so that a refund told
 * by Paddle (its adjustments are tax included) takes back its share of the value, and a refund of
 * all that is left gives back all that was paid. On both engines, with the real Paddle SDK against
 * the local fake of its API.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import type { PaddleFake } from './support/paddle-fake.ts';
import { usePaddleBilling } from './support/processor-billing.ts';

for (const engine of ENGINES) {
  describe(`a taxed auto-recharge at Paddle on ${engine.name}`, () => {
    const { t, deliver, fake: paddle } = usePaddleBilling(engine);
    let fake: PaddleFake;
    beforeEach(() => {
      fake = paddle();
    });

    it('records what the customer paid, tax included, and a refund of part of it takes that part of the value', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      await t.billing.admin.syncCatalog('paddle');
      await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'paddle' });
      const pending = (await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1' })) as { checkoutUrl: string };
      let from = fake.events.length;
      await fake.completeTransaction(fake.transactionAt(pending.checkoutUrl).id);
      await deliver(from);

      fake.taxRate = 0.25;
      const { availableMicros } = await t.billing.balance('acme');
      await t.billing.setAutoRecharge('acme', { enabled: true, pack: 'extra-10', thresholdMicros: availableMicros + 1 });
      from = fake.events.length;
      expect(await t.billing.runRecharges()).toMatchObject([{ outcome: 'succeeded' }]);
      const charge = [...fake.transactions.values()].find((each) => each.origin === 'subscription_charge')!;
      expect(charge.details?.totals?.grand_total).toBe('1250');
      await deliver(from);

      const [payment] = await t.sql.query<{ id: number; amount_cents: number }>(`SELECT id, amount_cents FROM payments WHERE processor_ref = $1`, [charge.id]);
      expect(payment!.amount_cents).toBe(12_50);
      const [bucket] = await t.sql.query<{ amount_micros: number; remaining_micros: number }>(
        `SELECT amount_micros, remaining_micros FROM buckets WHERE reference = $1`,
        [`payment:paddle:${charge.id}`],
      );
      expect(bucket).toEqual({ amount_micros: 10_000_000, remaining_micros: 10_000_000 });

      // Half of what was paid, refunded in Paddle's dashboard: half of the value comes back out.
      from = fake.events.length;
      await fake.refundFromDashboard(charge.id, 625);
      await deliver(from);
      const [after] = await t.sql.query<{ remaining_micros: number }>(`SELECT remaining_micros FROM buckets WHERE reference = $1`, [`payment:paddle:${charge.id}`]);
      expect(after!.remaining_micros).toBe(5_000_000);
      expect((await t.billing.reconcile('acme')).ok).toBe(true);
    });
  });
}
