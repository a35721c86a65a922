/**
 * Settling holds: settle (the real usage of an authorized call, charged once per idempotency
 * key) and release (a hold that was not used). Settles that arrive together, and records
 * (usage without a hold, charge.ts), are written together; what a batch cannot charge for
 * certain is charged alone, which answers precisely.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { parseInput } from '../../core/input.ts';
import { tokenUsageSchema, type TokenUsage } from '../../core/usage.ts';
import {
  answeredCall, callPrice, chargeLocked, chargeOptimistically, chargeRequest, chargeResult, isKeyConflict, recordAlone, recordedCall,
  replayOrConflict, settleOptionsSchema, type Charge, type ChargedCall, type RecordCall, type SettleOptions,
} from './charge.ts';
import {
  LEDGER_COLUMNS, ledgerFromRow, prepareCharge, writeCharges, type LedgerPool, type ChargeRequest, type LedgerRow, type LedgerState, type PreparedCharge,
} from './write.ts';
import { ledgerOf, type AccountState, type Guard, type LedgerGuard } from '../gate/account-state.ts';
import { outcomeOf } from '../combiner.ts';
import { restoreLostHold } from './lost-holds.ts';
import type { HeldCall } from '../../core/hold-id.ts';
import type { Context } from '../context.ts';
import type { Sql } from '../../db/sql.ts';
import type { PriceBook } from '../catalog/price-book.ts';
import { TERMS_COLUMNS, TERMS_FROM, termsFromRow, type TermsRow } from '../terms.ts';

interface HoldRow extends TermsRow, LedgerRow {
  hold_status: 'open' | 'settled' | 'released';
  hold_model: string;
  hold_provider: string;
  hold_user_id: string | null;
  hold_created_at: Date;
}

const HOLD_SELECT = `SELECT h.status AS hold_status, h.model AS hold_model, h.provider AS hold_provider, h.user_id AS hold_user_id,
    h.created_at AS hold_created_at, ${LEDGER_COLUMNS}, ${TERMS_COLUMNS}
  FROM ${TERMS_FROM} JOIN holds h ON h.account_id = a.id JOIN account_balances b ON b.account_id = a.id
  WHERE h.id = $1`;

const HOLDS_SELECT = HOLD_SELECT.replace('WHERE h.id = $1', 'WHERE h.id = ANY ($1::text[])').replace('SELECT h.status', 'SELECT h.id AS hold_id, h.status');

function holdNotFound(id: string): BillingError {
  return new BillingError('hold_not_found', `No hold "${id}": authorize first and settle the hold id it returns`, { holdId: id });
}

export interface SettleInput {
  kind: 'settle';
  id: string;
  /** The hold's key and the call its id describes (core/hold-id.ts). */
  key: string;
  held: HeldCall;
  usage: TokenUsage;
  options: z.output<typeof settleOptionsSchema>;
}

/** A usage to charge together with others: a hold's (settle) or one without a hold (record). */
export type ChargeInput = SettleInput | RecordCall;

/** Settle: validated here, then charged together with the settles and records that arrive meanwhile. */
export async function settle(ctx: Context, holdId: string, usageInput: TokenUsage, optionsInput: SettleOptions): Promise<Charge> {
  const { id, key, call } = openHoldId(ctx, holdId);
  const usage = parseInput(tokenUsageSchema, usageInput, 'usage');
  const options = parseInput(settleOptionsSchema, optionsInput, 'settle options');
  return ctx.charges.submit({ kind: 'settle', id, key, held: call, usage, options });
}

/** A hold id (validated by the facade) this database's key issued, opened; any other is hold_not_found, whatever it names. */
function openHoldId(ctx: Context, id: string): { id: string; key: string; call: HeldCall } {
  const opened = ctx.holdIds.open(id);
  if (!opened) throw holdNotFound(id);
  return { id, ...opened };
}

function heldCall(row: HoldRow): ChargedCall {
  return { model: row.hold_model, provider: row.hold_provider, userId: row.hold_user_id, createdAt: row.hold_created_at };
}

/** A call to charge with its account's ledger, and the versions a write on that ledger must find. */
interface Chargeable {
  hold: ChargedCall;
  ledger: LedgerState;
  guard: LedgerGuard;
}

/**
 * Charge many settles and records in one version-guarded write: each on what this process
 * knows of its account, or else (settles) on one read of the holds it does not know. Returns
 * the charges it made by input index; anything else (a record on an account it does not know,
 * a hold not open, a second settle of one hold, an account whose ledger moved, an error) is
 * left to be charged alone, which gives each its precise answer.
 */
export async function chargeTogetherBatch(ctx: Context, inputs: readonly ChargeInput[]): Promise<Map<number, Charge>> {
  const now = ctx.clock();
  const ledgers = new Map<string, KnownLedger | undefined>(); // each known account's, derived once per batch
  const known = inputs.map((input) => knownCall(ctx, input, now, ledgers));
  const unknownHolds = inputs.flatMap((input, i) => (!known[i] && input.kind === 'settle' ? [input.key] : []));
  // Nothing known and one hold to read: alone does the same read, and answers precisely.
  if (!known.some(Boolean) && unknownHolds.length < 2) return new Map();
  const charge = async (sql: Sql) => {
    const rows = unknownHolds.length > 0 ? await sql.query<HoldRow & { hold_id: string }>(HOLDS_SELECT, [unknownHolds, now]) : [];
    const holds = new Map(rows.map((row) => [row.hold_id, row]));
    const chargeables = inputs.map((input, i): Chargeable | undefined => {
      if (known[i]) return known[i];
      const row = input.kind === 'settle' ? holds.get(input.key) : undefined;
      if (!row || row.hold_status !== 'open') return undefined;
      const ledger = ledgerFromRow(termsFromRow(row, now), row);
      return { hold: heldCall(row), ledger, guard: { ledger: ledger.version } };
    });
    const knownAccounts = new Set(known.flatMap((k) => (k ? [k.ledger.terms.account.id] : [])));
    const prices = await ctx.prices.atLeast(Math.max(...chargeables.map((c) => c?.ledger.terms.catalogVersion ?? 0)), sql);
    return ctx.known.charging(knownAccounts, () => chargeTogether(ctx, inputs, chargeables, prices, sql));
  };
  try {
    return await (unknownHolds.length > 0 ? ctx.sql.uninterrupted(charge) : charge(ctx.sql));
  } catch {
    // The statement failed as a whole (a reused key, a deadlock): nothing was written, and each
    // goes alone, where it gets its own answer and its own retries.
    return new Map();
  }
}

/** A known account as a batch charges it: its state, and the ledger and guard derived from it once. */
type KnownLedger = Pick<Chargeable, 'ledger' | 'guard'> & { holds: AccountState['holds'] };

/** A call's account ledger and what it needs of its hold, as this process knows them; undefined if it does not. */
function knownCall(ctx: Context, input: ChargeInput, now: Date, ledgers: Map<string, KnownLedger | undefined>): Chargeable | undefined {
  const accountId = input.kind === 'settle' ? input.held.accountId : input.accountId; // a hold's id names its account
  if (!ledgers.has(accountId)) {
    const state = ctx.known.get(accountId, now);
    const guard = state && { ledger: state.versions.ledger, terms: state.versions.terms, catalog: state.versions.catalog };
    ledgers.set(accountId, state && { ledger: ledgerOf(state, now), guard: guard!, holds: state.holds });
  }
  const known = ledgers.get(accountId);
  const hold = input.kind === 'settle' ? known?.holds.find((h) => h.id === input.key) : known && recordedCall(input, now);
  return hold && { hold, ledger: known!.ledger, guard: known!.guard };
}

/**
 * Price each call and draw it from its account's ledger (the first one given for the
 * account), then write them all in one statement guarded per account. A call whose account's
 * ledger came from elsewhere (remembered for one call, read for another) under other versions
 * is left to be charged alone: one guard must cover everything an account's charges relied on.
 */
async function chargeTogether(
  ctx: Context, inputs: readonly ChargeInput[], chargeables: readonly (Chargeable | undefined)[], prices: PriceBook, sql = ctx.sql,
): Promise<Map<number, Charge>> {
  const pools: LedgerPool = new Map();
  const guards = new Map<string, LedgerGuard>();
  const batch: { index: number; charge: PreparedCharge }[] = [];
  const taken = new Set<string>();
  const keys = new Set<string>(); // a key twice in one batch would fail the statement for all: the second goes alone, to be replayed
  for (const [index, input] of inputs.entries()) {
    const chargeable = chargeables[index];
    if (!chargeable || (input.kind === 'settle' && taken.has(input.key))) continue;
    const { ledger, guard } = chargeable;
    const hold = input.kind === 'settle' ? answeredCall(prices, chargeable.hold, input.options.model, ledger.terms) : chargeable.hold;
    const accountId = ledger.terms.account.id;
    const key = `${accountId}\u0000${input.options.idempotencyKey}`;
    if (keys.has(key)) continue;
    const price = callPrice(prices, hold, ledger.terms);
    if (!ledger.allowanceOpen || !price || (guards.has(accountId) && !sameGuard(guards.get(accountId)!, guard))) continue;
    if (input.kind === 'settle') taken.add(input.key);
    keys.add(key);
    if (!pools.has(accountId)) {
      pools.set(accountId, { buckets: ledger.buckets, windows: ledger.windows, members: new Map(ledger.members) });
      guards.set(accountId, guard);
    }
    batch.push({ index, charge: prepareCharge(pools, chargeRequest(hold, input.kind === 'settle' ? input.id : null, input, ledger.terms, price)) });
  }
  const done = new Map<number, Charge>();
  if (batch.length === 0) return done;
  const ids = await writeCharges(sql, batch.map((b) => b.charge), pools, guards);
  batch.forEach((b, i) => {
    if (ids[i] !== undefined) done.set(b.index, chargeResult(b.charge, ids[i]!, false));
  });
  // Bring what this process knows forward by the charges written; forget accounts whose guard failed.
  for (const [accountId, guard] of guards) {
    const mine = batch.flatMap((b, i) => (b.charge.terms.account.id === accountId ? [{ charge: b.charge, written: ids[i] !== undefined }] : []));
    if (mine.every((c) => c.written)) ctx.known.chargesWritten(accountId, guard.ledger, mine.map((c) => c.charge));
    else ctx.known.forget(accountId);
  }
  return done;
}

const sameGuard = (a: Guard, b: Guard) => a.ledger === b.ledger && a.terms === b.terms && a.catalog === b.catalog && a.gate === b.gate;

/** A batch of settles and records: together where they can be, each alone where they cannot. */
export async function chargeBatch(ctx: Context, inputs: ChargeInput[]) {
  const together = await chargeTogetherBatch(ctx, inputs);
  return inputs.map((input, i) =>
    together.has(i)
      ? { ok: true as const, value: together.get(i)! }
      : outcomeOf(() => (input.kind === 'settle' ? settleAlone(ctx, input) : recordAlone(ctx, input))),
  );
}

/** One settle: optimistic first, then under the ledger mutex. */
export async function settleAlone(ctx: Context, input: SettleInput): Promise<Charge> {
  const { id, key, usage, options } = input;
  const now = ctx.clock();
  const requestFor = async (sql: Sql, row: HoldRow): Promise<ChargeRequest> => {
    const terms = termsFromRow(row, now);
    const prices = await ctx.prices.atLeast(terms.catalogVersion, sql);
    const call = answeredCall(prices, heldCall(row), options.model, terms);
    return chargeRequest(call, id, input, terms, callPrice(prices, call, terms));
  };
  let accountId: string | undefined;
  let model = '';
  try {
    const charged = await ctx.sql.uninterrupted(async (sql) => {
      let [seen] = await sql.query<HoldRow>(HOLD_SELECT, [key, now]);
      if (!seen) {
        await restoreLostHold(sql, key, input.held);
        [seen] = await sql.query<HoldRow>(HOLD_SELECT, [key, now]);
      }
      if (!seen) throw holdNotFound(id);
      accountId = seen.id;
      model = seen.hold_model;
      ctx.known.forget(accountId);
      if (seen.hold_status !== 'open') return undefined;
      const request = await requestFor(sql, seen);
      return (await chargeOptimistically(sql, ledgerFromRow(request.terms, seen), request))?.charge;
    });
    if (charged) return charged;
    return await ctx.sql.transaction(async (tx) => {
      // The ledger mutex first, then the hold: every writer takes them in this order.
      await tx.query('SELECT 1 FROM account_balances WHERE account_id = $1 FOR NO KEY UPDATE', [accountId]);
      const [row] = await tx.query<HoldRow>(`${HOLD_SELECT} FOR NO KEY UPDATE OF h`, [key, now]);
      if (!row) throw holdNotFound(id);
      if (row.hold_status === 'released') {
        throw new BillingError('hold_released', `Hold "${id}" was released, so it cannot be settled: use record for usage without a hold`, { holdId: id });
      }
      if (row.hold_status === 'settled') {
        // The key that settled it: a retry with the same key gets the first answer.
        const [settledBy] = await tx.query<{ idempotency_key: string }>(
          'SELECT e.idempotency_key FROM holds h JOIN usage_events e ON e.id = h.usage_event_id WHERE h.id = $1',
          [key],
        );
        if (settledBy?.idempotency_key === options.idempotencyKey) {
          return replayOrConflict(tx, row.id, options.idempotencyKey, id, [row.hold_model, options.model], usage);
        }
        throw new BillingError('hold_settled', `Hold "${id}" is already settled (with another idempotency key)`, { holdId: id });
      }
      const request = await requestFor(tx, row);
      return chargeLocked(tx, ledgerFromRow(request.terms, row), request);
    });
  } catch (error) {
    if (accountId && isKeyConflict(error)) return replayOrConflict(ctx.sql, accountId, options.idempotencyKey, id, [model, options.model], usage);
    throw error;
  }
}

export async function release(ctx: Context, holdId: string): Promise<{ holdId: string; status: 'released' }> {
  const { id, key, call } = openHoldId(ctx, holdId);
  const read = () => ctx.sql.query<{ account_id: string; status: string }>('SELECT account_id, status FROM holds WHERE id = $1', [key]);
  let [hold] = await read();
  if (!hold) {
    await restoreLostHold(ctx.sql, key, call);
    [hold] = await read();
  }
  if (!hold) throw new BillingError('hold_not_found', `No hold "${id}"`, { holdId: id });
  ctx.known.forget(hold.account_id);
  const status = hold.status !== 'open' ? hold.status : await ctx.sql.transaction(async (tx) => {
    // The ledger mutex first, as settle takes it; closing the hold moves the ledger version so
    // that an optimistic settle of it cannot go through.
    await tx.query('UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1', [hold.account_id]);
    const [closed] = await tx.query<{ status: string }>(
      `UPDATE holds SET status = CASE WHEN status = 'open' THEN 'released' ELSE status END, resolved_at = COALESCE(resolved_at, $2)
       WHERE id = $1 RETURNING status`,
      [key, ctx.clock()],
    );
    return closed!.status;
  });
  if (status === 'settled') throw new BillingError('hold_settled', `Hold "${id}" is already settled; refund its usage event instead`, { holdId: id });
  return { holdId: id, status: 'released' };
}
