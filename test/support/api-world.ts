/**
 * A small world for the API's tests, made through the library: the subscription-plus-packs
 * preset, a test model ($1 per million input tokens, $2 per million output, so $2 and $4 of
 * value at the default 50% margin), the team "acme" on Plus ($20 included) with a $5 bonus,
 * and "solo" on Free.
 */
import type { Billing } from '../../src/index.ts';

export const TEST_MODEL = { model: 'test-model', provider: 'test' } as const;

export async function apiWorld(billing: Billing) {
  await billing.admin.applyPreset('subscription-plus-packs');
  await billing.admin.setModelPrice({ ...TEST_MODEL, effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
  await billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' });
  await billing.subscribe('acme', 'plus');
  await billing.credit('acme', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome' });
  await billing.upsertAccount({ id: 'solo', kind: 'personal' });
}

/** A hold on acme for 1,000 input and at most 500 output tokens of the test model. */
export async function openHold(billing: Billing): Promise<string> {
  const auth = await billing.authorize('acme', { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 500 });
  if (!auth.ok) throw new Error(`refused: ${auth.message}`);
  return auth.hold.id;
}

/** A charge on acme of a million input tokens ($2 of value); its usage event id. */
export async function chargedEvent(billing: Billing, key = 'seed'): Promise<number> {
  const charge = await billing.record('acme', { ...TEST_MODEL, usage: { inputTokens: 1_000_000, outputTokens: 0 } }, { idempotencyKey: key });
  return charge.usageEventId;
}
