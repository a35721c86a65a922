/** The plan versions' story the tests share: Pro sold at $20, then made $100 by the tiers mode. */
import type { Billing } from '../../src/index.ts';
import { addTestModel, completed, mustCall } from './spend.ts';

/** Pro at $20 with a $20 monthly limit, `ids` subscribed to it (and known to this process), then the tiers mode: Pro at $100, no limit. */
export async function proBecomesHundred(billing: Billing, ...ids: string[]) {
  await billing.admin.applyPreset('usage-subscription');
  await addTestModel(billing);
  for (const id of ids) {
    await billing.upsertAccount({ id, kind: 'personal' });
    completed(await billing.subscribe(id, 'pro'));
    await mustCall(billing, id, 1_000);
  }
  await billing.admin.applyPreset('tiers');
}
