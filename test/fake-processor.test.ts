/** The fake processor once a real one takes payments: it sells nothing, and lets its accounts leave. */
import { describe, expect, it } from 'vitest';
import { fakeProcessor, type Account, type Pack, type Plan } from '../src/index.ts';

const account = { id: 'early', processor: 'fake' } as Account;

describe('the fake processor replaced by a real one', () => {
  const replaced = fakeProcessor({ replacedBy: 'stripe' });

  it('refuses a plan or a pack, saying where to move the account', async () => {
    for (const checkout of [() => replaced.subscribe!({ account, plan: {} as Plan }), () => replaced.purchase!({ account, pack: {} as Pack })]) {
      await expect(checkout()).rejects.toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('move it to stripe first') });
    }
  });

  it('declines a saved charge, so auto-recharge turns off instead of granting value for nothing', async () => {
    const charge = await replaced.chargeSaved!({
      account, customerId: undefined, pack: {} as Pack, amountCents: 1_000, rechargeId: 'r1', idempotencyKey: 'k1', subscriptionRef: undefined,
    });
    expect(charge).toMatchObject({ status: 'declined', code: 'no_payment_method' });
    expect(replaced.charges).toEqual([]);
  });

  it('still cancels and refunds, so the accounts made on it can leave', async () => {
    expect(await replaced.cancel!({ account, subscriptionRef: 'fake_sub_1', immediately: true } as never)).toMatchObject({ status: 'completed' });
    expect(await replaced.refund!({ account, paymentRef: 'fake_pay_1', paymentKind: 'pack', amountCents: 100, idempotencyKey: 'k2' })).toMatchObject({ status: 'succeeded' });
  });

  it('sells as before when no real processor replaced it', async () => {
    expect(await fakeProcessor().subscribe!({ account, plan: {} as Plan })).toMatchObject({ status: 'completed' });
  });
});
