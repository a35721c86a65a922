import { expect } from 'vitest';
import type { AuthorizeResult, Billing, Charge } from '../../src/index.ts';

let keys = 0;

/** A model priced by the test itself: $1 per million input tokens, $2 per million output tokens. */
export async function addTestModel(billing: Billing, effectiveFrom = '2020-01-01T00:00:00Z') {
  await billing.admin.setModelPrice({ provider: 'test', model: 'test-model', effectiveFrom, rates: { input: '1', output: '2' } });
}

/** One AI call of `inputTokens` on test-model: authorize, then settle what it used. */
export async function call(billing: Billing, accountId: string, inputTokens: number, outputTokens = 0): Promise<{ auth: AuthorizeResult; charge?: Charge }> {
  const auth = await billing.authorize(accountId, { model: 'test-model', provider: 'test', inputTokens, maxOutputTokens: outputTokens });
  if (!auth.ok) return { auth };
  const charge = await billing.settle(auth.hold.id, { inputTokens, outputTokens }, { idempotencyKey: `call-${++keys}` });
  return { auth, charge };
}

/** Like call, but the test expects it to go through. */
export async function mustCall(billing: Billing, accountId: string, inputTokens: number, outputTokens = 0): Promise<Charge> {
  const { auth, charge } = await call(billing, accountId, inputTokens, outputTokens);
  expect(auth.ok, auth.ok ? '' : `refused: ${auth.code} ${auth.message}`).toBe(true);
  return charge!;
}

export async function mustRefuse(billing: Billing, accountId: string, inputTokens: number, outputTokens = 0) {
  const { auth } = await call(billing, accountId, inputTokens, outputTokens);
  if (auth.ok) throw new Error('expected a refusal');
  return auth;
}

/** Pay-as-you-go with no allowance, test-model priced, and each account given `amountMicros` of bonus value. */
export async function fundedAccounts(billing: Billing, ids: readonly string[], amountMicros: number) {
  await billing.admin.applyPreset('credit-packs');
  await billing.admin.updatePlan('payg', { includedMicros: 0 });
  await addTestModel(billing);
  for (const id of ids) {
    await billing.upsertAccount({ id, kind: 'team' });
    await billing.credit(id, { source: 'bonus', amountMicros, reference: 'gift' });
  }
}

/** A checkout the fake processor completed at once (a real one would answer with a page to pay on). */
export function completed<T extends object>(result: T): Exclude<T, { checkoutUrl: string }> {
  if ('checkoutUrl' in result) throw new Error(`expected a completed checkout, got a pending one: ${String(result.checkoutUrl)}`);
  return result as Exclude<T, { checkoutUrl: string }>;
}
