/**
 * authorize: may this account make this AI call? Either a hold sized to the call's worst
 * case, or a refusal that says why and what to do. Every answer is decided on a state whose
 * versions the hold's own write then checks: concurrent calls on one team account, in this
 * process or any other, see each other's holds, and a change of plan, limits, models or
 * settings committed before the write is honoured by it. Under contention the gate mutex (the
 * account row) serializes them. A hold commits without waiting for the disk: it reserves value
 * but moves none, and its id carries what its settle needs should a crash lose it
 * (lost-holds.ts).
 */
import { z } from 'zod';
import { checkGate, checkUncounted, describeLimit, refusalFor, type Amounts, type GateFailure, type GateState } from '../../core/gate.ts';
import { valueFromCost, type Micros } from '../../core/money.ts';
import { modelAllowed } from '../../core/plan.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { worstCaseCostOf } from '../../core/pricing/cost.ts';
import type { Refusal } from '../../core/refusal.ts';
import { fitsHoldId, holdKey, type HoldIds } from '../../core/hold-id.ts';
import { BillingError } from '../../core/errors.ts';
import { idSchema, MAX_CALL_TOKENS, modelSchema, plain, providerSchema, tokenCount } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { openAllowance } from '../grants/grants.ts';
import { outcomeOf, type BatchAnswer } from '../combiner.ts';
import { readGate, readOffers, readStates, type GateSnapshot } from './snapshot.ts';
import { gateSnapshot, type AccountState, type Guard, type StateHold, type Versions } from './account-state.ts';
import { applyPlanEnd } from '../terms.ts';
import { lockWaitedOut, type Sql } from '../../db/sql.ts';

export const authorizeInputSchema = plain(
  z
    .object({
      model: modelSchema.meta({ example: 'gpt-4o-mini' }),
      provider: providerSchema.optional().meta({ example: 'openai' }),
      inputTokens: tokenCount.optional().meta({ description: 'Tokens of the prompt, if known: the hold covers them. Required on an account or member with a token limit.', example: 1200 }),
      maxOutputTokens: tokenCount.optional().meta({ description: 'The most the call may write: the hold covers them. Required on an account or member with a token limit.', example: 800 }),
      userId: idSchema.optional().meta({ description: 'The member of the account making the call.', example: 'u_7' }),
    })
    .strict(),
);
export type AuthorizeInput = z.input<typeof authorizeInputSchema>;
export type ParsedAuthorizeInput = z.output<typeof authorizeInputSchema>;

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

export interface AuthorizeRequest {
  accountId: string;
  model: string;
  provider?: string;
  inputTokens?: number;
  maxOutputTokens?: number;
  userId?: string;
}

type Refused = { ok: false; failure: GateFailure; state: GateState } | { ok: false; error: BillingError };
type Decision = { ok: true; hold: Hold } | Refused;

/**
 * The gate's rules on a snapshot, for a call: what it would hold and the first rule it fails,
 * if any. It holds its worst case: in value, its price for the tokens given, or the settings'
 * minimum hold when its tokens are not all known; in tokens, the counts given, and a count not
 * given at the most one call may report (MAX_CALL_TOKENS), so that a hold bounds the tokens its
 * call can be charged. A call whose counts are not all known is refused only if its smallest
 * would be; a token limit that only its worst would pass is `unbounded` (core/gate.ts). Without
 * a model, the rules on models are not asked; canStart, which knows no counts, reads `failure`
 * alone. Pure.
 */
export function weigh(
  snap: GateSnapshot, request: Omit<AuthorizeRequest, 'accountId' | 'model'> & { model?: string }, price: PriceEntry | undefined,
): { estimate: Amounts; state: GateState; failure: GateFailure | undefined; unbounded?: GateFailure } {
  const { terms } = snap;
  const known = request.inputTokens !== undefined && request.maxOutputTokens !== undefined;
  const worstCase = price ? valueFromCost(worstCaseCostOf(price, request.inputTokens ?? 0, request.maxOutputTokens ?? 0), terms.settings.marginBps) : 0;
  const valueMicros = known ? worstCase : Math.max(worstCase, terms.settings.minHoldMicros);
  const estimate: Amounts = { valueMicros, tokens: (request.inputTokens ?? MAX_CALL_TOKENS) + (request.maxOutputTokens ?? MAX_CALL_TOKENS) };
  const member = request.userId === undefined ? undefined : snap.members.get(request.userId);
  const state: GateState = {
    ...snap.state,
    modelAllowed: request.model === undefined || modelAllowed(terms.plan, request.model, request.provider),
    modelPriced: request.model === undefined || price !== undefined,
    ...(member && { member }),
  };
  if (known) return { estimate, state, failure: checkGate(state, estimate) };
  const least = { valueMicros, tokens: Math.max(1, (request.inputTokens ?? 0) + (request.maxOutputTokens ?? 0)) };
  const { failure, unbounded } = checkUncounted(state, least, estimate);
  return { estimate, state, failure, ...(unbounded && { unbounded }) };
}

/**
 * A call without the token counts that a token limit needs to bound it: `invalid_input`, naming
 * the counts to send and the limit that needs them. Held at the most it may use instead, it
 * would not fit; held at less, concurrent such calls could pass the limit together.
 */
function countsRequired(request: AuthorizeRequest, unbounded: GateFailure, state: GateState): BillingError {
  const missing = (['inputTokens', 'maxOutputTokens'] as const).filter((field) => request[field] === undefined);
  const limit = unbounded.code === 'member_limit'
    ? `the ${describeLimit(unbounded.limit!, 'cap')} this account set for member "${state.member!.userId}"`
    : `this account's ${describeLimit(unbounded.limit!)}`;
  const most = missing.map((field) => `${MAX_CALL_TOKENS.toLocaleString('en-US')} ${field === 'inputTokens' ? 'input' : 'output'}`).join(' and ');
  return new BillingError(
    'invalid_input',
    `Invalid authorize request: send ${missing.join(' and ')}, which ${limit} needs to hold the call against it: ` +
      `without ${missing.length > 1 ? 'them' : 'it'} a call may use up to ${most} tokens, more than the limit leaves`,
    { issues: missing.map((field) => `${field}: required by ${limit}, which holds each call by its token counts`) },
  );
}

/** The gate's verdict on a snapshot: pure but for the hold id's random parts. */
function decide(snap: GateSnapshot, request: AuthorizeRequest, price: PriceEntry | undefined, holdIds: HoldIds): Decision {
  const { terms } = snap;
  const { estimate, state, failure, unbounded } = weigh(snap, request, price);
  if (failure) return { ok: false, failure, state };
  if (unbounded) return { ok: false, error: countsRequired(request, unbounded, state) };
  const provider = request.provider ?? price!.provider;
  return {
    ok: true,
    hold: {
      id: holdIds.issue({ accountId: request.accountId, model: request.model, provider, userId: request.userId ?? null, createdAt: terms.now }),
      accountId: request.accountId,
      model: request.model,
      provider,
      amountMicros: estimate.valueMicros as Micros,
      tokens: estimate.tokens,
      expiresAt: new Date(terms.now.getTime() + terms.settings.holdTtlSeconds * 1000),
    },
  };
}

/** What a call the gate did not admit is answered: its refusal, or the error that says which token counts to send. */
async function notAdmitted(sql: Sql, snap: GateSnapshot, request: AuthorizeRequest, decision: Refused): Promise<Refusal | BillingError> {
  return 'error' in decision ? decision.error : refusalFor(decision.failure, decision.state, await readOffers(sql, snap.terms), request, snap.terms.settings);
}

/** A hold to write, and the user it was placed for. */
export interface HoldToWrite {
  hold: Hold;
  userId?: string;
  createdAt: Date;
}

/**
 * Insert holds, each only if its account's versions are still the ones its guard names (no
 * guard: the caller holds the gate mutex). Returns the accounts whose holds went in, with the
 * versions the write left them at. A hold that has a row already (a charge or a release wrote
 * it back, charge/write.ts, charge/lost-holds.ts) stays as that left it. The insert runs
 * whether or not the final SELECT names it, as every data-modifying WITH query does.
 */
export async function placeHolds(
  sql: Sql, holds: readonly HoldToWrite[], guards?: ReadonlyMap<string, Guard>,
): Promise<Map<string, Versions>> {
  // In id order, the order the accounts' rows are locked in: two writes of holds never wait on each other in a cycle.
  const accounts = [...new Set(holds.map((h) => h.hold.accountId))].sort();
  const rows = await sql.query<{ id: string; gate: number; ledger: number; terms: number; catalog: number }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS i (
         id text, account_id text, model text, provider text, user_id text, amount_micros bigint, tokens bigint, expires_at timestamptz,
         created_at timestamptz)
     ), gate AS (
       UPDATE accounts a SET gate_version = a.gate_version + 1
       FROM jsonb_to_recordset($2::jsonb) AS v (account_id text, gate bigint, ledger bigint, terms bigint, catalog bigint)
       WHERE a.id = v.account_id AND a.id = ANY ($3::text[])
         AND (v.gate IS NULL OR a.gate_version = v.gate)
         AND (v.terms IS NULL OR a.terms_version = v.terms)
         AND (v.ledger IS NULL OR v.ledger = (SELECT ledger_version FROM account_balances WHERE account_id = a.id))
         AND (v.catalog IS NULL OR v.catalog = (SELECT catalog_version FROM settings))
       RETURNING a.id, a.gate_version AS gate, a.terms_version AS terms,
         (SELECT ledger_version FROM account_balances WHERE account_id = a.id) AS ledger, (SELECT catalog_version FROM settings) AS catalog
     ), placed AS (
       INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, expires_at, created_at)
       SELECT i.id, i.account_id, i.model, i.provider, i.user_id, i.amount_micros, i.tokens, i.expires_at, i.created_at
       FROM input i JOIN gate ON gate.id = i.account_id
       ORDER BY i.id -- in key order, as a charge writes back holds (charge/write.ts)
       ON CONFLICT (id) DO NOTHING
       RETURNING id
     )
     SELECT id, gate, ledger, terms, catalog FROM gate`,
    [
      JSON.stringify(
        holds.map(({ hold, userId, createdAt }) => ({
          id: holdKey(hold.id), account_id: hold.accountId, model: hold.model, provider: hold.provider, user_id: userId ?? null,
          amount_micros: hold.amountMicros, tokens: hold.tokens, expires_at: hold.expiresAt.toISOString(), created_at: createdAt.toISOString(),
        })),
      ),
      JSON.stringify(accounts.map((account_id) => ({ account_id, ...guards?.get(account_id) }))),
      accounts,
    ],
  );
  return new Map(rows.map(({ id, ...versions }) => [id, versions]));
}

/**
 * Of these accounts, those whose row another transaction holds, or that have none: the rows
 * the gate's write could not lock at once. It waits for no row, and a wait for anything else
 * finds none.
 */
async function heldRows(sql: Sql, accountIds: readonly string[]): Promise<string[]> {
  const ids = [...new Set(accountIds)];
  const free = await sql.query<{ id: string }>('SELECT id FROM accounts WHERE id = ANY ($1::text[]) FOR NO KEY UPDATE SKIP LOCKED', [ids]).catch(() => undefined);
  if (!free) return [];
  const freeIds = new Set(free.map((row) => row.id));
  return ids.filter((id) => !freeIds.has(id));
}

/** Authorize (its input parsed by the facade): decided together with the calls that arrive meanwhile. */
export async function authorize(ctx: Context, accountId: string, input: ParsedAuthorizeInput): Promise<AuthorizeResult> {
  const request = { accountId, ...input };
  if (!fitsHoldId({ ...request, userId: request.userId ?? null })) {
    throw new BillingError('invalid_input', 'The account id, model, provider and user id are too long together to name in a hold id: shorten them', {
      issues: ['account id, model, provider and user id: at most 1,500 bytes together as JSON'],
    });
  }
  return ctx.authorizes.submit(request);
}

/** A batch of authorizations: together where they can be, each alone where they cannot. */
export async function authorizeBatch(ctx: Context, requests: AuthorizeRequest[]): Promise<BatchAnswer<AuthorizeResult>[]> {
  // A batch that fails as a whole wrote nothing: each request then goes alone. One that met a row
  // held long finds which: that account's calls then wait for it in turn, the others go at once.
  const together = await authorizeTogether(ctx, requests).catch(async (error: unknown) => {
    if (lockWaitedOut(error)) for (const id of await heldRows(ctx.sql.asyncCommit, requests.map((r) => r.accountId))) ctx.heldGates.hold(id);
    return new Map<number, AuthorizeResult | BillingError>();
  });
  return requests.map((r, i) => {
    const answer = together.get(i);
    if (answer === undefined) return outcomeOf(() => authorizeAlone(ctx, r));
    return answer instanceof BillingError ? { ok: false, error: answer } : { ok: true, value: answer };
  });
}

/**
 * Decide many requests on one snapshot of their accounts, in arrival order, each seeing the
 * holds admitted before it; then place the holds in one statement guarded by each account's
 * versions. Accounts this process knows are not read at all, and their guard is every version
 * of what it knew; accounts read now are guarded by their gate, terms and catalog versions (a
 * charge meanwhile only turns a hold into a debit no larger, docs/design.md). An account whose
 * guard failed, or that has bookkeeping to write first, is left for authorizeAlone.
 */
async function authorizeTogether(ctx: Context, requests: readonly AuthorizeRequest[]): Promise<Map<number, AuthorizeResult | BillingError>> {
  const now = ctx.clock();
  // An account whose gate mutex is held long is not in the batch: its calls wait for it alone.
  const accountIds = [...new Set(requests.map((r) => r.accountId))].filter((id) => !ctx.heldGates.has(id));
  return ctx.sql.asyncCommit.uninterrupted(async (sql) => {
    const known = new Map(accountIds.flatMap((id) => {
      const state = ctx.known.getSteady(id, now);
      return state ? [[id, state] as const] : [];
    }));
    const unknown = accountIds.filter((id) => !known.has(id));
    const read = unknown.length > 0 ? await readStates(sql, unknown, now) : new Map<string, AccountState>();
    const states = new Map([...known, ...read]);
    const snaps = new Map([...states].map(([id, state]) => [id, gateSnapshot(state, now)]));
    const prices = await ctx.prices.atLeast(Math.max(...[...states.values()].map((state) => state.versions.catalog)), sql);
    const decided: { index: number; accountId: string; result: AuthorizeResult | BillingError; userId?: string }[] = [];
    for (const [index, request] of requests.entries()) {
      const snap = snaps.get(request.accountId);
      if (!snap || !snap.allowanceOpen || snap.terms.planEnded) continue;
      const decision = decide(snap, request, prices.find(request.model, request.provider, now, snap.terms.settings), ctx.holdIds);
      if (decision.ok) {
        for (const held of [snap.state.held, request.userId === undefined ? undefined : snap.members.get(request.userId)?.held]) {
          if (!held) continue;
          held.valueMicros += decision.hold.amountMicros;
          held.tokens += decision.hold.tokens;
        }
        decided.push({ index, accountId: request.accountId, result: { ok: true, hold: decision.hold }, userId: request.userId });
      } else if (known.has(request.accountId)) {
        // A refusal writes nothing that a guard could check: it is given on a fresh read.
        ctx.known.forget(request.accountId);
      } else {
        decided.push({ index, accountId: request.accountId, result: await notAdmitted(sql, snap, request, decision) });
      }
    }
    const holds = decided.flatMap((d) => (!(d.result instanceof BillingError) && d.result.ok ? [{ hold: d.result.hold, userId: d.userId, createdAt: now }] : []));
    const withHolds = new Set(holds.map((h) => h.hold.accountId));
    const guards = new Map([...withHolds].map((id): [string, Guard] => {
      const { gate, terms, catalog, ledger } = states.get(id)!.versions;
      return [id, known.has(id) ? { gate, terms, catalog, ledger } : { gate, terms, catalog }];
    }));
    const placed = holds.length ? await placeHolds(sql, holds, guards) : new Map<string, Versions>();
    for (const id of withHolds) {
      if (!placed.has(id)) {
        ctx.known.forget(id);
        continue;
      }
      const mine = holds.filter((h) => h.hold.accountId === id).map(({ hold, userId }) => stateHold(hold, userId, now));
      ctx.known.holdsPlaced(id, states.get(id)!.versions.gate, mine, placed.get(id)!, read.get(id));
    }
    for (const [id, state] of read) if (!withHolds.has(id)) ctx.known.remember(state);
    // An account's answers stand if its holds went in, or if it had none to place (refusals read one snapshot).
    return new Map(decided.filter((d) => !withHolds.has(d.accountId) || placed.has(d.accountId)).map((d) => [d.index, d.result]));
  });
}

function stateHold(hold: Hold, userId: string | undefined, now: Date): StateHold {
  return {
    id: holdKey(hold.id), amountMicros: hold.amountMicros, tokens: hold.tokens, expiresAt: hold.expiresAt, model: hold.model, provider: hold.provider,
    userId: userId ?? null, createdAt: now,
  };
}

/**
 * One authorization: optimistic first, then under the gate mutex. The calls of an account whose
 * row another transaction holds long, and calls with bookkeeping to write first (which meet the
 * row only under the mutex), wait for it behind this process's other such calls of the account
 * (held-gates.ts), so that one connection waits on the row, not one a call.
 */
export async function authorizeAlone(ctx: Context, request: AuthorizeRequest): Promise<AuthorizeResult> {
  const { accountId } = request;
  ctx.known.forget(accountId);
  const inTurn = () => ctx.heldGates.behind(accountId, () => authorizeLocked(ctx, request));
  if (ctx.heldGates.has(accountId)) return inTurn();
  const now = ctx.clock();

  // Optimistic: one read, then one insert that succeeds only if no other hold, plan or catalog
  // change came in between. No transaction, no lock, two round trips; the hold commits without
  // waiting for the disk (docs/design.md).
  const optimistic = await optimisticAuthorize(ctx, request, now).catch((error: unknown) => {
    if (lockWaitedOut(error)) return 'held' as const;
    throw error;
  });
  if (optimistic === 'held') ctx.heldGates.hold(accountId);
  if (optimistic === 'held' || optimistic === 'bookkeeping') return inTurn();
  if (optimistic instanceof BillingError) throw optimistic;
  // Contended: a version moved between the read and the write, which met no row held long.
  return optimistic ?? authorizeLocked(ctx, request);
}

/**
 * The optimistic attempt: a hold placed on what one read saw; undefined if that moved meanwhile;
 * 'bookkeeping' if there is some to write first, under the mutex.
 */
function optimisticAuthorize(ctx: Context, request: AuthorizeRequest, now: Date): Promise<AuthorizeResult | BillingError | 'bookkeeping' | undefined> {
  const { accountId } = request;
  return ctx.sql.asyncCommit.uninterrupted(async (sql): Promise<AuthorizeResult | BillingError | 'bookkeeping' | undefined> => {
    const snap = await readGate(sql, accountId, now);
    if (!snap.allowanceOpen || snap.terms.planEnded) return 'bookkeeping';
    const prices = await ctx.prices.atLeast(snap.terms.catalogVersion, sql);
    const decision = decide(snap, request, prices.find(request.model, request.provider, now, snap.terms.settings), ctx.holdIds);
    if (!decision.ok) return notAdmitted(sql, snap, request, decision);
    const { gate, terms, catalog } = snap.versions;
    const placed = await placeHolds(sql, [{ hold: decision.hold, userId: request.userId, createdAt: now }], new Map([[accountId, { gate, terms, catalog }]]));
    return placed.has(accountId) ? { ok: true, hold: decision.hold } : undefined;
  });
}

/** One authorization under the gate mutex: for a contended account, or one with bookkeeping to write first. */
async function authorizeLocked(ctx: Context, request: AuthorizeRequest): Promise<AuthorizeResult> {
  const { accountId } = request;
  const now = ctx.clock();
  // Contended, or there is bookkeeping to write first: take the gate mutex. Changes to the
  // catalog (plans, settings, prices) do not take it: the hold is written only if the catalog
  // is still the one decided on, else decided again. A call that must give its token counts is
  // answered after the commit, so that the bookkeeping stands.
  const answer = await ctx.sql.transaction(async (tx): Promise<AuthorizeResult | BillingError> => {
    let locked = await readGate(tx, accountId, now, true);
    if (locked.terms.planEnded) await applyPlanEnd(tx, locked.terms);
    if (!locked.allowanceOpen) await openAllowance(tx, locked.terms);
    for (;;) {
      if (locked.terms.planEnded || !locked.allowanceOpen) locked = await readGate(tx, accountId, now);
      const prices = await ctx.prices.atLeast(locked.terms.catalogVersion, tx);
      const price = prices.find(request.model, request.provider, now, locked.terms.settings);
      const decision = decide(locked, request, price, ctx.holdIds);
      if (!decision.ok) return notAdmitted(tx, locked, request, decision);
      const placed = await placeHolds(tx, [{ hold: decision.hold, userId: request.userId, createdAt: now }], new Map([[accountId, { catalog: locked.versions.catalog }]]));
      if (placed.has(accountId)) return { ok: true as const, hold: decision.hold };
      locked = await readGate(tx, accountId, now);
    }
  });
  if (answer instanceof BillingError) throw answer;
  return answer;
}
