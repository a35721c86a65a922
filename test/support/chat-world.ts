/**
 * The chat's world for its tests: the usage-subscription preset with ann on Free, bea on Free
 * with her day's $0.10 spent, cy on Pro; the chat mounted at /chat, who is chatting told by an
 * `x-account` header; and what a usage of a model is charged, from the bundled price data.
 */
import { Hono } from 'hono';
import { chatRoutes } from '../../app/chat/routes.tsx';
import type { ChatModel } from '../../app/models/models.ts';
import type { Tollgate } from '../../app/tollgate/tollgate.ts';
import type { Billing } from '../../src/index.ts';
import type { TestClock } from './harness.ts';

/** Provider prices per token, in picodollars, from the bundled price data ($ per million tokens × 10⁶). */
const RATES: Record<string, { input: bigint; output: bigint }> = {
  'gpt-4o-mini': { input: 150_000n, output: 600_000n }, // $0.15 and $0.60 per million
  'claude-haiku-4-5': { input: 1_000_000n, output: 5_000_000n }, // $1 and $5 per million
};

/** What a usage is charged: its provider cost at the margin, value = cost / (1 − margin), rounded up to the micro-dollar. */
export function priceOf(model: string, usage: { inputTokens: number; outputTokens: number }, marginBps: number): number {
  const rates = RATES[model]!;
  const picos = BigInt(usage.inputTokens) * rates.input + BigInt(usage.outputTokens) * rates.output;
  const divisor = BigInt(10_000 - marginBps) * 1_000_000n;
  return Number((picos * 10_000n + divisor - 1n) / divisor);
}

/** Free ($0.10 a day, cheap models) for ann and bea, whose day is spent; Pro for the team cy. */
export async function chatWorld(billing: Billing) {
  await billing.admin.applyPreset('usage-subscription');
  await billing.upsertAccount({ id: 'ann', kind: 'personal', name: 'Ann' });
  await billing.upsertAccount({ id: 'bea', kind: 'personal', name: 'Bea' });
  await billing.record('bea', { model: 'gpt-4o-mini', usage: { inputTokens: 333_333, outputTokens: 0 } }, { idempotencyKey: 'earlier' }); // $0.10 of value
  await billing.upsertAccount({ id: 'cy', kind: 'team', name: 'Cy' });
  await billing.subscribe('cy', 'pro');
  return (await billing.admin.catalog()).settings.marginBps;
}

const NAMES: Record<string, string> = { ann: 'Ann', bea: 'Bea', cy: 'Cy' };

export function chatApp(tollgate: Tollgate, models: ChatModel[], clock: TestClock) {
  return new Hono().route('/chat', chatRoutes({
    tollgate, models, billingHref: '/billing', now: clock.read,
    // The app's session says who is chatting; here, two headers do.
    currentAccount: (c) => {
      const id = c.req.header('x-account');
      return id ? { account: { id, kind: 'personal', name: NAMES[id] ?? id }, userId: c.req.header('x-user') ?? `u_${id}` } : undefined;
    },
  }));
}

