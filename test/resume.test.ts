/**
 * A canceled plan resumed before its end: subscribing to the same plan calls the cancel off. At
 * the fake processor, which keeps no subscription of its own, the same subscription and the
 * period paid run on; its allowance is not granted again, and a second resume changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { DAY, ENGINES, useBilling } from './support/harness.ts';
import { addTestModel, completed } from './support/spend.ts';

for (const engine of ENGINES) {
  describe(`resuming a canceled plan on ${engine.name}`, () => {
    const t = useBilling(engine);

    it('calls the cancel off, keeps the subscription, its period and its allowance, and renews as before', async () => {
      const { billing, clock, sql } = t;
      await billing.admin.applyPreset('usage-subscription'); // free and pro ($20, its price included as usage)
      await addTestModel(billing);
      await billing.upsertAccount({ id: 'acme', kind: 'team' });
      completed(await billing.subscribe('acme', 'pro', { idempotencyKey: 'pro' }));
      clock.advance(3 * DAY);
      await billing.cancel('acme', {}, { idempotencyKey: 'cancel' });
      const canceled = await billing.balance('acme');
      const subscription = (await billing.admin.accountSubscription('acme')).subscription!;
      expect((await billing.getAccount('acme')).planEndsAt).toEqual(canceled.period.end);
      const buckets = async () => sql.query(`SELECT reference, amount_micros, remaining_micros FROM buckets WHERE account_id = 'acme' ORDER BY id`);
      const before = await buckets();

      await billing.subscribe('acme', 'pro', { idempotencyKey: 'resume' });
      expect((await billing.getAccount('acme')).planEndsAt).toBeNull();
      expect((await billing.admin.accountSubscription('acme')).subscription).toEqual({ ...subscription, cancelAt: null });
      const resumed = await billing.balance('acme');
      expect(resumed.period).toEqual(canceled.period);
      expect(resumed.availableMicros).toBe(canceled.availableMicros);
      expect(await buckets()).toEqual(before);
      // On the subscription again, it is on its plan already.
      await expect(billing.subscribe('acme', 'pro', { idempotencyKey: 'again' })).resolves.toBeDefined();
      expect(await buckets()).toEqual(before);

      // The period ends and the plan renews: still pro, not the default plan.
      clock.set(new Date(canceled.period.end.getTime() + 1_000).toISOString());
      expect((await billing.balance('acme')).plan.slug).toBe('pro');
      expect((await billing.reconcile('acme')).problems).toEqual([]);
    });
  });
}
