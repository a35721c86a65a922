/**
 * authorize: may this account make this AI call? Either a hold sized to the call's worst
 * case, or a refusal that says why and what to do. Concurrent calls on one team account see
 * each other's holds: a hold is placed only against the gate version its decision read,
 * and under contention the gate mutex (the account row) serializes them.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { checkGate, refusalFor, type Amounts, type GateFailure, type GateState } from '../core/gate.ts';
import { valueFromCost, type Micros } from '../core/money.ts';
import { modelAllowed } from '../core/plan.ts';
import { worstCaseCostOf, type PriceEntry } from '../core/price-book.ts';
import type { Refusal } from '../core/refusal.ts';
import { parseInput } from '../core/usage.ts';
import type { Context } from './context.ts';
import { openAllowance } from './grants.ts';
import { readGate, readOffers, type GateSnapshot } from './snapshot.ts';
import { applyPlanEnd } from './terms.ts';
import type { Sql } from '../db/sql.ts';

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

interface Request {
  accountId: string;
  model: string;
  provider?: string;
  inputTokens?: number;
  maxOutputTokens?: number;
  userId?: string;
}

type Decision = { ok: true; hold: Hold } | { ok: false; failure: GateFailure; state: GateState };

/** The gate's verdict on a snapshot: pure but for the hold id. */
function decide(snap: GateSnapshot, request: Request, price: PriceEntry | undefined): Decision {
  const { terms } = snap;
  const known = request.inputTokens !== undefined && request.maxOutputTokens !== undefined;
  const worstCase = price ? valueFromCost(worstCaseCostOf(price, request.inputTokens ?? 0, request.maxOutputTokens ?? 0), terms.settings.marginBps) : 0;
  const estimate: Amounts = {
    valueMicros: known ? worstCase : Math.max(worstCase, terms.settings.minHoldMicros),
    tokens: (request.inputTokens ?? 0) + (request.maxOutputTokens ?? 0),
  };
  const state: GateState = { ...snap.state, modelAllowed: modelAllowed(terms.plan, request.model, request.provider), modelPriced: price !== undefined };
  const failure = checkGate(state, estimate);
  if (failure) return { ok: false, failure, state };
  return {
    ok: true,
    hold: {
      id: `hold_${randomUUID()}`,
      accountId: request.accountId,
      model: request.model,
      provider: request.provider ?? price!.provider,
      amountMicros: estimate.valueMicros as Micros,
      tokens: estimate.tokens,
      expiresAt: new Date(terms.now.getTime() + terms.settings.holdTtlSeconds * 1000),
    },
  };
}

/** Insert the hold if the gate version is still `expected` (null: the caller holds the mutex). */
async function placeHold(sql: Sql, hold: Hold, userId: string | undefined, now: Date, expected: number | null): Promise<boolean> {
  const rows = await sql.query(
    `WITH gate AS (
       UPDATE accounts SET gate_version = gate_version + 1 WHERE id = $2 AND ($10::bigint IS NULL OR gate_version = $10) RETURNING id
     )
     INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, expires_at, created_at)
     SELECT $1, gate.id, $3, $4, $5, $6, $7, $8, $9 FROM gate RETURNING id`,
    [hold.id, hold.accountId, hold.model, hold.provider, userId ?? null, hold.amountMicros, hold.tokens, hold.expiresAt, now, expected],
  );
  return rows.length === 1;
}

export async function authorize(ctx: Context, accountId: string, input: AuthorizeInput): Promise<AuthorizeResult> {
  const request: Request = { accountId, ...parseInput(authorizeInputSchema, input, 'authorize request') };
  const prices = await ctx.prices.fresh();
  const now = ctx.clock();

  // Optimistic: one read, then one insert that succeeds only if no other hold or plan change
  // came in between. No transaction, no lock, two round trips.
  const optimistic = await ctx.sql.uninterrupted(async (sql): Promise<AuthorizeResult | undefined> => {
    const snap = await readGate(sql, accountId, now);
    if (!snap.allowanceOpen || snap.terms.planEnded) return undefined;
    const decision = decide(snap, request, prices.find(request.model, request.provider, now, snap.terms.settings));
    if (!decision.ok) return refusalFor(decision.failure, decision.state, await readOffers(sql, snap.terms), request.model);
    return (await placeHold(sql, decision.hold, request.userId, now, snap.gateVersion)) ? { ok: true, hold: decision.hold } : undefined;
  });
  if (optimistic) return optimistic;

  // Contended, or there is bookkeeping to write first: take the gate mutex.
  return ctx.sql.transaction(async (tx) => {
    let locked = await readGate(tx, accountId, now, true);
    if (locked.terms.planEnded) await applyPlanEnd(tx, locked.terms);
    if (!locked.allowanceOpen) await openAllowance(tx, locked.terms);
    if (!locked.consistent || locked.terms.planEnded || !locked.allowanceOpen) locked = await readGate(tx, accountId, now);
    const price = prices.find(request.model, request.provider, now, locked.terms.settings);
    const decision = decide(locked, request, price);
    if (!decision.ok) return refusalFor(decision.failure, decision.state, await readOffers(tx, locked.terms), request.model);
    await placeHold(tx, decision.hold, request.userId, now, null);
    return { ok: true as const, hold: decision.hold };
  });
}
