/**
 * Writing charges, set-based: any number of priced usages, across any accounts whose ledger
 * mutex the caller holds, in ONE statement — usage events, their ledger entries, bucket
 * debits, debt, usage counters and settled holds. settle and record write a batch of one;
 * recordBatch writes many. Round trips, not rows, are what a charge costs.
 */
import { allocate, type DrawableBucket, type Allocation } from '../../core/allocate.ts';
import { valueFromCost, type Micros } from '../../core/money.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { costOf } from '../../core/pricing/cost.ts';
import type { TokenUsage } from '../../core/usage.ts';
import { countUsage, type UsageWindows } from '../../core/usage-windows.ts';
import { WINDOW_COLUMNS, WINDOW_RECORD, WINDOW_SET, windowFields, windowsFromRow, type WindowRow } from '../window-columns.ts';
import { holdKey } from '../../core/hold-id.ts';
import type { Sql } from '../../db/sql.ts';
import { openAllowance } from '../grants/grants.ts';
import { TERMS_COLUMNS, TERMS_FROM, accountNotFound, termsFromRow, type Terms, type TermsRow } from '../terms.ts';
import { countedUsage, ledgerFrom, type LedgerGuard } from '../gate/account-state.ts';
import { ALLOWANCES_COLUMN, BUCKETS_COLUMN, bucketsFromRow, type BucketRow } from '../gate/snapshot.ts';
import { MEMBERS_COLUMN, membersFromRow, type MemberRow } from '../gate/members.ts';

export interface ChargeRequest {
  terms: Terms;
  idempotencyKey: string;
  holdId: string | null;
  userId: string | null;
  model: string;
  price: PriceEntry;
  /** The moment the price is taken at: the hold's placing for a settle, now for a record. */
  pricedAt: Date;
  usage: TokenUsage;
  metadata: Record<string, unknown>;
}

export interface PreparedCharge extends ChargeRequest {
  costMicros: Micros;
  valueMicros: Micros;
  allocations: Allocation[];
  shortfallMicros: Micros;
}

/**
 * Each account's ledger as a batch of charges draws it down in memory, before one statement
 * writes them all: its usable buckets, and its usage counters, and its capped members', with
 * the charges counted in.
 */
export type LedgerPool = Map<string, { buckets: DrawableBucket[]; windows: UsageWindows; members: Map<string, UsageWindows> }>;

/**
 * The ledger side of an account, as columns of a query over `accounts a` joined to
 * `account_balances b` (with `$2` the moment): its version, debt, usage counters (its own and
 * its capped members'), the allowances not expired and the buckets usable now. Read with the
 * terms in one statement, it is one snapshot.
 */
export const LEDGER_COLUMNS = `b.ledger_version, b.debt_micros,
  (SELECT ledger_version FROM account_balances WHERE account_id = a.id) AS snapshot_ledger_version,
  ${WINDOW_COLUMNS}, ${ALLOWANCES_COLUMN}, ${BUCKETS_COLUMN}, ${MEMBERS_COLUMN}`;

export interface LedgerRow extends WindowRow {
  ledger_version: number;
  snapshot_ledger_version: number;
  debt_micros: number;
  allowances: string[];
  buckets: BucketRow[] | null;
  members: MemberRow[] | null;
}

export interface LedgerState {
  terms: Terms;
  version: number;
  debtMicros: number;
  /** False when a lock waited for another writer: the buckets read may be stale, read again. */
  consistent: boolean;
  allowanceOpen: boolean;
  buckets: DrawableBucket[];
  windows: UsageWindows;
  /** The usage counters of the members the account caps, by user id. */
  members: ReadonlyMap<string, UsageWindows>;
}

export function ledgerFromRow(terms: Terms, row: LedgerRow): LedgerState {
  const parts = {
    version: row.ledger_version, debtMicros: row.debt_micros, allowances: row.allowances, buckets: bucketsFromRow(row.buckets),
    windows: windowsFromRow(row), members: membersFromRow(row.members),
  };
  return ledgerFrom(terms, parts, row.ledger_version === row.snapshot_ledger_version);
}

const LEDGER_SELECT = `SELECT ${LEDGER_COLUMNS}, ${TERMS_COLUMNS} FROM ${TERMS_FROM} JOIN account_balances b ON b.account_id = a.id
  WHERE a.id = ANY ($1::text[]) ORDER BY a.id`;

/**
 * Read the ledger state of accounts. Without `lock`, the caller writes with a version guard;
 * with it, their ledger mutexes are taken, in id order so that two callers cannot deadlock,
 * and every account must exist.
 */
export async function readLedger(sql: Sql, accountIds: readonly string[], now: Date, lock = false): Promise<Map<string, LedgerState>> {
  const rows = await sql.query<TermsRow & LedgerRow>(lock ? `${LEDGER_SELECT} FOR NO KEY UPDATE OF b` : LEDGER_SELECT, [[...new Set(accountIds)].sort(), now]);
  const states = new Map(rows.map((row) => [row.id, ledgerFromRow(termsFromRow(row, now), row)]));
  const missing = lock ? accountIds.find((id) => !states.has(id)) : undefined;
  if (missing) throw accountNotFound(missing);
  return states;
}

/** The accounts' ledgers, as read, for a batch to draw down. */
export function ledgerPool(states: Iterable<LedgerState>): LedgerPool {
  return new Map([...states].map((s) => [s.terms.account.id, { buckets: s.buckets, windows: s.windows, members: new Map(s.members) }]));
}

/**
 * With the ledger mutexes held: open any missing allowance of the accounts' current periods,
 * and return their ledgers as a pool (read again where the lock found them stale).
 */
export async function lockedLedgerPool(tx: Sql, states: LedgerState[]): Promise<LedgerPool> {
  let stale = states.filter((s) => !s.consistent);
  for (const state of states.filter((s) => !s.allowanceOpen)) {
    if ((await openAllowance(tx, state.terms))?.created) stale.push(state);
  }
  const fresh = stale.length > 0 ? await readLedger(tx, [...new Set(stale.map((s) => s.terms.account.id))], states[0]!.terms.now) : new Map();
  return ledgerPool(states.map((s) => fresh.get(s.terms.account.id) ?? s));
}

/** Price a usage, draw its value from the account's pool and count it there. */
export function prepareCharge(pool: LedgerPool, request: ChargeRequest): PreparedCharge {
  const cost = costOf(request.price, request.usage);
  const valueMicros = valueFromCost(cost.costPicos, request.terms.settings.marginBps);
  const ledger = pool.get(request.terms.account.id)!;
  const { allocations, shortfallMicros } = allocate(ledger.buckets, valueMicros);
  for (const a of allocations) {
    const bucket = ledger.buckets.find((b) => b.id === a.bucketId)!;
    bucket.remainingMicros = (bucket.remainingMicros - a.amountMicros) as Micros;
  }
  const charge = { ...request, costMicros: cost.costMicros, valueMicros, allocations, shortfallMicros };
  ledger.windows = countUsage(ledger.windows, countedUsage(charge));
  const member = request.userId === null ? undefined : ledger.members.get(request.userId);
  if (member) ledger.members.set(request.userId!, countUsage(member, countedUsage(charge)));
  return charge;
}

/**
 * Write charges prepared on `pool`; returns their usage event ids in order. With `guards`, an
 * account's charges are written only if the ledger version (and any other version) its guard
 * names is still the one read (else their ids are undefined); without, the caller holds the
 * ledger mutexes. Either way the account's usage counters become the pool's.
 */
export async function writeCharges(
  tx: Sql, charges: readonly PreparedCharge[], pool: LedgerPool, guards?: ReadonlyMap<string, LedgerGuard>,
): Promise<(number | undefined)[]> {
  // The statement settles each hold it names: one named twice would be charged twice.
  const holds = charges.flatMap((c) => (c.holdId ? [holdKey(c.holdId)] : []));
  if (new Set(holds).size !== holds.length) throw new Error('two charges for one hold in one write');
  // In id order, the order every writer of value locks balance rows in (expiry.ts, readLedger).
  const accounts = [...new Set(charges.map((c) => c.terms.account.id))].sort().map((account_id) => {
    // The counters are written whole: unguarded, they would overwrite another writer's.
    if (guards && !guards.has(account_id)) throw new Error(`charges for account ${account_id} have no guard`);
    const guard = guards?.get(account_id);
    return {
      account_id,
      ledger: guard?.ledger ?? null,
      terms: guard?.terms ?? null,
      catalog: guard?.catalog ?? null,
      shortfall: charges.filter((c) => c.terms.account.id === account_id).reduce((sum, c) => sum + c.shortfallMicros, 0),
      ...windowFields(pool.get(account_id)!.windows),
    };
  });
  const events = charges.map((c, ord) => ({
    ord,
    account_id: c.terms.account.id,
    idempotency_key: c.idempotencyKey,
    hold_id: c.holdId && holdKey(c.holdId),
    user_id: c.userId,
    model: c.model,
    provider: c.price.provider,
    input_tokens: c.usage.inputTokens,
    output_tokens: c.usage.outputTokens,
    cache_read_tokens: c.usage.cacheReadTokens ?? null,
    cache_write_tokens: c.usage.cacheWriteTokens ?? null,
    reasoning_tokens: c.usage.reasoningTokens ?? null,
    cost_micros: c.costMicros,
    value_micros: c.valueMicros,
    shortfall_micros: c.shortfallMicros,
    margin_bps: c.terms.settings.marginBps,
    price: c.price,
    metadata: c.metadata,
    occurred_at: c.terms.now.toISOString(),
    priced_at: c.pricedAt.toISOString(),
  }));
  const draws = charges.flatMap((c, ord) => c.allocations.map((a) => ({ ord, bucket_id: a.bucketId, amount: a.amountMicros })));
  // The counters of the capped members charged, written whole as the account's are.
  const charged = (accountId: string, userId: string) => charges.some((c) => c.terms.account.id === accountId && c.userId === userId);
  const members = [...pool].flatMap(([account_id, ledger]) =>
    [...ledger.members].flatMap(([user_id, usage]) => (charged(account_id, user_id) ? [{ account_id, user_id, usage }] : [])),
  );
  const rows = await tx.query<{ ord: number; id: number }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS i (
         ord int, account_id text, idempotency_key text, hold_id text, user_id text, model text, provider text,
         input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
         cost_micros bigint, value_micros bigint, shortfall_micros bigint, margin_bps int, price jsonb, metadata jsonb,
         occurred_at timestamptz, priced_at timestamptz)
     ), draws AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS d (ord int, bucket_id bigint, amount bigint)
     ), guard AS (
       -- Moves each account's ledger version, debt and usage counters: only where the versions read
       -- still hold, so the counters written are those counted from what was read (or locked).
       UPDATE account_balances b SET ledger_version = b.ledger_version + 1, debt_micros = b.debt_micros + v.shortfall, ${WINDOW_SET}
       FROM jsonb_to_recordset($3::jsonb) AS v (account_id text, ledger bigint, terms bigint, catalog bigint, shortfall bigint, ${WINDOW_RECORD})
       WHERE b.account_id = v.account_id AND b.account_id = ANY ($4::text[]) -- an index scan, not a hash join over every account
         AND (v.ledger IS NULL OR b.ledger_version = v.ledger)
         AND (v.terms IS NULL OR v.terms = (SELECT terms_version FROM accounts WHERE id = b.account_id))
         AND (v.catalog IS NULL OR v.catalog = (SELECT catalog_version FROM settings))
         -- Every hold it settles is open, or has no row (a crash lost it): one settled or
         -- released elsewhere is left for the settle alone, which says so.
         -- (Not correlated: one lookup by key of the batch's holds, not one per account.)
         AND b.account_id NOT IN (SELECT h.account_id FROM holds h WHERE h.id = ANY ($5::text[]) AND h.status <> 'open')
       RETURNING b.account_id
     ), ev AS (
       SELECT input.*, nextval('usage_events_id_seq') AS event_id FROM input JOIN guard USING (account_id) -- named: resolved once, when prepared
     ), event AS (
       INSERT INTO usage_events (id, account_id, idempotency_key, hold_id, user_id, model, provider, input_tokens, output_tokens,
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at)
       SELECT event_id, account_id, idempotency_key, hold_id, user_id, model, provider, input_tokens, output_tokens,
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at
       FROM ev ORDER BY ord
     ), debit AS (
       UPDATE buckets b SET remaining_micros = b.remaining_micros - d.total
       FROM (SELECT bucket_id, sum(amount) AS total FROM draws JOIN ev USING (ord) GROUP BY bucket_id) d WHERE b.id = d.bucket_id
     ), entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, usage_event_id, created_at)
       SELECT ev.account_id, d.bucket_id, -d.amount, 'usage', ev.event_id, ev.occurred_at FROM draws d JOIN ev USING (ord)
       UNION ALL
       SELECT account_id, NULL, -shortfall_micros, 'usage', event_id, occurred_at FROM ev WHERE shortfall_micros > 0
     ), settled AS (
       UPDATE holds h SET status = 'settled', resolved_at = ev.occurred_at, usage_event_id = ev.event_id FROM ev WHERE h.id = ev.hold_id
       RETURNING h.id
     ), restored AS (
       -- A hold a crash lost while this process still knew it comes back, settled and reserving
       -- nothing (lost-holds.ts); settled over one another process wrote back meanwhile.
       INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, status, expires_at, created_at, resolved_at, usage_event_id)
       SELECT hold_id, account_id, model, provider, user_id, 0, 0, 'settled', priced_at, priced_at, occurred_at, event_id FROM ev
       WHERE hold_id IS NOT NULL AND hold_id NOT IN (SELECT id FROM settled)
       ORDER BY hold_id -- in key order, as holds are written (authorize.ts): two writers of one hold never wait on each other in a cycle
       ON CONFLICT (id) DO UPDATE SET status = 'settled', resolved_at = EXCLUDED.resolved_at, usage_event_id = EXCLUDED.usage_event_id
     ), members AS (
       -- Capped members' counters (members.ts), where the account's guard held: none for most charges.
       UPDATE member_limits m SET usage = v.usage
       FROM jsonb_to_recordset($6::jsonb) AS v (account_id text, user_id text, usage jsonb)
       WHERE m.account_id = v.account_id AND m.user_id = v.user_id AND v.account_id IN (SELECT account_id FROM guard)
     )
     SELECT ord, event_id AS id FROM ev ORDER BY ord`,
    [JSON.stringify(events), JSON.stringify(draws), JSON.stringify(accounts), accounts.map((a) => a.account_id), holds, JSON.stringify(members)],
  );
  const written = new Map(rows.map((r) => [r.ord, r.id]));
  return charges.map((_, ord) => written.get(ord));
}
