/**
 * authorize: may this account make this AI call? One transaction with the gate mutex held,
 * so concurrent calls on one team account see each other's holds. Either a hold sized to
 * the call's worst case, or a refusal that says why and what to do.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { checkGate, refusalFor, type Amounts } from '../core/gate.ts';
import { valueFromCost, type Micros } from '../core/money.ts';
import { modelAllowed } from '../core/plan.ts';
import { worstCaseCostOf } from '../core/price-book.ts';
import type { Refusal } from '../core/refusal.ts';
import { parseInput } from '../core/usage.ts';
import type { Context } from './context.ts';
import { openAllowance } from './grants.ts';
import { gateState, readOffers, readSnapshot } from './snapshot.ts';
import { applyPlanEnd, lockGate } from './terms.ts';

const tokens = z.number().int('must be a whole number of tokens').nonnegative('must not be negative').max(Number.MAX_SAFE_INTEGER);

export const authorizeInputSchema = z
  .object({
    model: z.string().trim().min(1, 'must name a model').max(200),
    provider: z.string().trim().min(1).max(100).optional(),
    inputTokens: tokens.optional(),
    maxOutputTokens: tokens.optional(),
    userId: z.string().min(1).max(200).optional(),
  })
  .strict();
export type AuthorizeInput = z.input<typeof authorizeInputSchema>;

export interface Hold {
  id: string;
  accountId: string;
  model: string;
  provider: string;
  amountMicros: Micros;
  tokens: number;
  expiresAt: Date;
}

export type AuthorizeResult = { ok: true; hold: Hold } | Refusal;

export async function authorize(ctx: Context, accountId: string, input: AuthorizeInput): Promise<AuthorizeResult> {
  const request = parseInput(authorizeInputSchema, input, 'authorize request');
  const prices = await ctx.prices.fresh();
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const terms = await lockGate(tx, accountId, now);
    await applyPlanEnd(tx, terms);
    const price = prices.find(request.model, request.provider, now, terms.settings);
    let snap = await readSnapshot(tx, terms);
    if (!snap.allowance_opened && (await openAllowance(tx, terms))?.created) snap = await readSnapshot(tx, terms);

    const known = request.inputTokens !== undefined && request.maxOutputTokens !== undefined;
    const worstCase = price ? valueFromCost(worstCaseCostOf(price, request.inputTokens ?? 0, request.maxOutputTokens ?? 0), terms.settings.marginBps) : 0;
    const estimate: Amounts = {
      valueMicros: known ? worstCase : Math.max(worstCase, terms.settings.minHoldMicros),
      tokens: (request.inputTokens ?? 0) + (request.maxOutputTokens ?? 0),
    };
    const state = gateState(terms, snap, { allowed: modelAllowed(terms.plan, request.model, request.provider), priced: price !== undefined });
    const failure = checkGate(state, estimate);
    if (failure) return refusalFor(failure, state, await readOffers(tx, terms), request.model);

    const hold: Hold = {
      id: `hold_${randomUUID()}`,
      accountId,
      model: request.model,
      provider: request.provider ?? price!.provider,
      amountMicros: estimate.valueMicros as Micros,
      tokens: estimate.tokens,
      expiresAt: new Date(now.getTime() + terms.settings.holdTtlSeconds * 1000),
    };
    await tx.query(
      `INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, expires_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [hold.id, accountId, hold.model, hold.provider, request.userId ?? null, hold.amountMicros, hold.tokens, hold.expiresAt, now],
    );
    return { ok: true as const, hold };
  });
}
