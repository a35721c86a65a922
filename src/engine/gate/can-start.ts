/**
 * canStart: may this account (and this member) start AI work now? The gate's rules on a fresh
 * read, for a call whose size is not known yet (it weighs the smallest such call: the settings'
 * minimum hold and one token, as authorize does one without token counts before it weighs its
 * worst), and with a model when one is named. A check, not a hold: it places nothing, so two
 * requests checked together may both start, and the calls they make are still authorized one
 * by one. For apps that gate whole endpoints before any AI work (a route guard, http:
 * hono/guard.ts), beside the middleware that meters each model call.
 */
import { z } from 'zod';
import { refusalFor } from '../../core/gate.ts';
import { idSchema, modelSchema, parseInput, plain, providerSchema } from '../../core/input.ts';
import type { Refusal } from '../../core/refusal.ts';
import { withPendingAllowance } from './account-state.ts';
import { weigh } from './authorize.ts';
import type { Context } from '../context.ts';
import { readGate, readOffers } from './snapshot.ts';

const canStartSchema = plain(
  z.object({ model: modelSchema.optional(), provider: providerSchema.optional(), userId: idSchema.optional() }).strict(),
).optional();

export type CanStartInput = z.input<typeof canStartSchema>;

export async function canStart(ctx: Context, accountId: string, input?: CanStartInput): Promise<{ ok: true } | Refusal> {
  const query = parseInput(canStartSchema, input, 'canStart options') ?? {};
  const now = ctx.clock();
  const snap = await readGate(ctx.sql, accountId, now);
  // This period's allowance opens on the next call: weigh it opened.
  const { state } = withPendingAllowance(snap);
  const prices = await ctx.prices.atLeast(snap.terms.catalogVersion);
  const price = query.model === undefined ? undefined : prices.find(query.model, query.provider, now, snap.terms.settings);
  const weighed = weigh({ ...snap, state }, query, price);
  if (!weighed.failure) return { ok: true };
  return refusalFor(weighed.failure, weighed.state, await readOffers(ctx.sql, snap.terms), { model: query.model ?? '', provider: query.provider }, snap.terms.settings);
}
