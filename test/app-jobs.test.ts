/**
 * The app kit with Tollgate in its own process does Tollgate's background work itself, as
 * `npm start` does in each worker: an account that auto-recharges through the fake processor is
 * recharged once its charges take it under the threshold, with no one running the jobs by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../app/start.ts';
import { ENGINES } from './support/harness.ts';

describe('the app kit runs the jobs of the Tollgate in its process', () => {
  let app: RunningApp;
  let database: Awaited<ReturnType<(typeof ENGINES)[0]['open']>>;

  beforeAll(async () => {
    database = await ENGINES[0]!.open();
    app = await startApp({ APP_PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent' }, { database: database.sql });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('recharges an account that went under its threshold, once, by itself', async () => {
    const billing = app.billing!;
    await billing.upsertAccount({ id: 'ann', kind: 'personal' });
    await billing.subscribe('ann', 'plus', { idempotencyKey: 'plus' });
    await billing.purchase('ann', 'extra-10', { idempotencyKey: 'first-pack' });
    await billing.setAutoRecharge('ann', { enabled: true, pack: 'extra-10', thresholdMicros: 2_000_000 });
    // Spent until under the $2 threshold (each record about $0.60 at the preset's margin).
    for (let i = 0; i < 100 && (await billing.balance('ann')).availableMicros >= 2_000_000; i++) {
      await billing.record('ann', { model: 'gpt-4o-mini', usage: { inputTokens: 2_000_000, outputTokens: 0 } }, { idempotencyKey: `spend-${i}` });
    }

    // The first pack, then the recharge's: a second pack bought through the fake processor.
    const packs = async () => (await billing.payments('ann')).filter((p) => p.kind === 'pack').length;
    await expect.poll(packs, { timeout: 10_000 }).toBe(2);
    const { buckets, availableMicros } = await billing.balance('ann');
    expect(buckets.filter((b) => b.source === 'recharge').map((b) => b.amountMicros)).toEqual([10_000_000]);
    expect(availableMicros).toBeGreaterThan(10_000_000);
    // Above the threshold again: the jobs keep running and buy nothing more.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await packs()).toBe(2);
    expect((await billing.reconcile('ann')).problems).toEqual([]);
  });
});
