/**
 * Settling holds: settle (the real usage of an authorized call, charged once per idempotency
 * key) and release (a hold that was not used). Settles and records that arrive together are
 * written together (batch.ts); what a batch cannot charge for certain is settled alone here,
 * which answers precisely.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import type { TokenUsage } from '../../core/usage.ts';
import {
  answeredCall, callPrice, chargeLocked, chargeOptimistically, chargeRequest, isKeyConflict, replayOrConflict,
  type Charge, type ChargedCall, type settleOptionsSchema,
} from './charge.ts';
import { LEDGER_COLUMNS, ledgerFromRow, type ChargeRequest, type LedgerRow } from './write.ts';
import { restoreLostHold } from './lost-holds.ts';
import type { HeldCall } from '../../core/hold-id.ts';
import type { Context } from '../context.ts';
import type { Sql } from '../../db/sql.ts';
import { TERMS_COLUMNS, TERMS_FROM, termsFromRow, type TermsRow } from '../terms.ts';

export interface HoldRow extends TermsRow, LedgerRow {
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

/** The holds of a batch, read in one statement (batch.ts). */
export const HOLDS_SELECT = HOLD_SELECT.replace('WHERE h.id = $1', 'WHERE h.id = ANY ($1::text[])').replace('SELECT h.status', 'SELECT h.id AS hold_id, h.status');

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


/** Settle (its usage and options parsed by the facade): charged together with the settles and records that arrive meanwhile. */
export async function settle(ctx: Context, holdId: string, usage: TokenUsage, options: z.output<typeof settleOptionsSchema>): Promise<Charge> {
  const { id, key, call } = openHoldId(ctx, holdId);
  return ctx.charges.submit({ kind: 'settle', id, key, held: call, usage, options });
}

/** A hold id (validated by the facade) this database's key issued, opened; any other is hold_not_found, whatever it names. */
function openHoldId(ctx: Context, id: string): { id: string; key: string; call: HeldCall } {
  const opened = ctx.holdIds.open(id);
  if (!opened) throw holdNotFound(id);
  return { id, ...opened };
}

export function heldCall(row: HoldRow): ChargedCall {
  return { model: row.hold_model, provider: row.hold_provider, userId: row.hold_user_id, createdAt: row.hold_created_at };
}

/** One settle: optimistic first, then under the ledger mutex. */
export async function settleAlone(ctx: Context, input: SettleInput): Promise<Charge> {
  const { id, key, usage, options } = input;
  const now = ctx.clock();
  const requestFor = async (sql: Sql, row: HoldRow): Promise<ChargeRequest> => {
    const terms = termsFromRow(row, now);
    const prices = await ctx.prices.atLeast(terms.catalogVersion, sql);
    const call = answeredCall(prices, heldCall(row), options.model, terms);
    return chargeRequest(call, id, input, terms, callPrice(prices, call, terms, { held: true }));
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
      // The ledger mutex first, then the hold: every writer takes them in this order. Taken in a
      // statement of its own, so that the read after it sees what a writer it waited for wrote
      // (a lock taken by the read itself would leave the read's terms as of before that writer).
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
