/**
 * The charge batch: settles and records that arrive while one is being written wait and go
 * together in the next (combiner.ts), charged in one statement guarded per account (write.ts).
 * Each is charged on what this process remembers of its account, or on one read of the holds it
 * does not; anything the batch cannot charge for certain is charged alone (settle.ts, charge.ts),
 * which gives it its precise answer.
 */
import type { Sql } from '../../db/sql.ts';
import type { PriceBook } from '../catalog/price-book.ts';
import { outcomeOf } from '../combiner.ts';
import type { Context } from '../context.ts';
import { ledgerOf, type AccountState, type Guard, type LedgerGuard } from '../gate/account-state.ts';
import { termsFromRow } from '../terms.ts';
import { answeredCall, callPrice, chargeRequest, chargeResult, recordAlone, recordedCall, type Charge, type ChargedCall, type RecordCall } from './charge.ts';
import { heldCall, HOLDS_SELECT, settleAlone, type HoldRow, type SettleInput } from './settle.ts';
import { ledgerFromRow, prepareCharge, writeCharges, type LedgerPool, type LedgerState, type PreparedCharge } from './write.ts';

/** A usage to charge together with others: a hold's (settle) or one without a hold (record). */
export type ChargeInput = SettleInput | RecordCall;

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
    const price = callPrice(prices, hold, ledger.terms, { held: input.kind === 'settle' });
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

