/**
 * Writing charges, set-based: any number of priced usages, across any accounts, in ONE
 * statement — usage events, their ledger entries, bucket debits, debt, usage counters and
 * settled holds. settle and record write theirs guarded by each account's ledger version (or
 * under its mutex); recordBatch writes a whole batch in one statement that locks the accounts'
 * ledgers in account order and writes on them as they are then (writeBatchCharges). Round
 * trips, and the time a lock is held, not rows, are what a charge costs.
 */
import { allocate, burnOrder, type DrawableBucket, type Allocation } from '../../core/allocate.ts';
import { valueFromCost, type Micros } from '../../core/money.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { costOf } from '../../core/pricing/cost.ts';
import type { TokenUsage } from '../../core/usage.ts';
import { countUsage, type UsageWindows, type WindowCount, type WindowPair } from '../../core/usage-windows.ts';
import { CLOCK_TOLERANCE_MS } from '../../core/time.ts';
import { totalTokens } from '../../core/usage.ts';
import { WINDOW_COLUMNS, WINDOW_RECORD, WINDOW_SET, windowFields, windowsFromRow, type WindowRow } from '../window-columns.ts';
import { holdKey } from '../../core/hold-id.ts';
import type { Sql } from '../../db/sql.ts';
import { openAllowance } from '../grants/grants.ts';
import { TERMS_COLUMNS, TERMS_FROM, accountNotFound, termsFromRow, type Terms, type TermsRow } from '../terms.ts';
import { countedUsage, ledgerFrom, type AccountState, type LedgerGuard } from '../gate/account-state.ts';
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
  // A lock that waited for another writer read the rest as it was before that writer (its terms
  // too: a change of zone moves the period): read again, now that the locks are held, before any
  // charge is priced or counted on it.
  const stale = lock ? [...states.values()].filter((s) => !s.consistent).map((s) => s.terms.account.id) : [];
  if (stale.length > 0) for (const [id, state] of await readLedger(sql, stale, now)) states.set(id, state);
  const missing = lock ? accountIds.find((id) => !states.has(id)) : undefined;
  if (missing) throw accountNotFound(missing);
  return states;
}

/**
 * The ledger side of accounts' states, read without a lock (no holds: a batch of records needs
 * none): what a batch is priced and drawn on (writeBatchCharges). Unknown ids are left out.
 */
export async function readLedgerStates(sql: Sql, accountIds: readonly string[], now: Date): Promise<Map<string, AccountState>> {
  const rows = await sql.query<TermsRow & LedgerRow>(LEDGER_SELECT, [[...new Set(accountIds)].sort(), now]);
  return new Map(rows.map((row): [string, AccountState] => [row.id, {
    termsRow: row,
    versions: { gate: 0, ledger: row.ledger_version, terms: row.terms_version, catalog: row.catalog_version },
    debtMicros: row.debt_micros, allowances: row.allowances, buckets: bucketsFromRow(row.buckets), holds: [], windows: windowsFromRow(row),
    members: membersFromRow(row.members),
  }]));
}

/** The accounts' ledgers, as read, for a batch to draw down. */
export function ledgerPool(states: Iterable<LedgerState>): LedgerPool {
  return new Map([...states].map((s) => [s.terms.account.id, { buckets: s.buckets, windows: s.windows, members: new Map(s.members) }]));
}

/**
 * With the ledger mutexes held: open any missing allowance of the accounts' current periods,
 * and return their ledgers as a pool (read again where the lock found them stale, or an
 * allowance was opened).
 */
export async function lockedLedgerPool(tx: Sql, states: LedgerState[]): Promise<LedgerPool> {
  const stale = states.filter((s) => !s.consistent);
  for (const state of states.filter((s) => !s.allowanceOpen)) {
    if ((await openAllowance(tx, state.terms))?.created) stale.push(state);
  }
  const fresh = stale.length > 0 ? await readLedger(tx, [...new Set(stale.map((s) => s.terms.account.id))], states[0]!.terms.now) : new Map();
  return ledgerPool(states.map((s) => fresh.get(s.terms.account.id) ?? s));
}

/**
 * Price a usage, draw its value from the account's pool and count it there. Without a pool, it
 * is only priced: the statement that writes it draws it and counts it (writeBatchCharges), and
 * its allocations and shortfall are filled in from there.
 */
export function prepareCharge(pool: LedgerPool | undefined, request: ChargeRequest): PreparedCharge {
  const cost = costOf(request.price, request.usage);
  const valueMicros = valueFromCost(cost.costPicos, request.terms.settings.marginBps);
  const charge: PreparedCharge = {
    terms: request.terms, idempotencyKey: request.idempotencyKey, holdId: request.holdId, userId: request.userId, model: request.model,
    price: request.price, pricedAt: request.pricedAt, usage: request.usage, metadata: request.metadata,
    costMicros: cost.costMicros, valueMicros, allocations: [], shortfallMicros: 0 as Micros,
  };
  if (!pool) return charge;
  const ledger = pool.get(request.terms.account.id)!;
  const { allocations, shortfallMicros } = allocate(ledger.buckets, valueMicros);
  for (const a of allocations) {
    const bucket = ledger.buckets.find((b) => b.id === a.bucketId)!;
    bucket.remainingMicros = (bucket.remainingMicros - a.amountMicros) as Micros;
  }
  charge.allocations = allocations;
  charge.shortfallMicros = shortfallMicros;
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
     ), locked AS MATERIALIZED (
       -- The ledger rows first, in account order, as every writer of value takes them (the sort
       -- runs under the lock): with a batch of records, or another of these, sharing accounts, it
       -- queues and never waits in a cycle.
       SELECT account_id FROM account_balances WHERE account_id = ANY ($4::text[]) ORDER BY account_id FOR NO KEY UPDATE
     ), guard AS (
       -- Moves each account's ledger version, debt and usage counters: only where the versions read
       -- still hold, so the counters written are those counted from what was read (or locked).
       UPDATE account_balances b SET ${CHARGE_RUN_SET}, debt_micros = b.debt_micros + v.shortfall, ${WINDOW_SET}
       FROM jsonb_to_recordset($3::jsonb) AS v (account_id text, ledger bigint, terms bigint, catalog bigint, shortfall bigint, ${WINDOW_RECORD})
       WHERE b.account_id = v.account_id AND b.account_id = ANY ($4::text[]) -- an index scan, not a hash join over every account
         AND b.account_id IN (SELECT account_id FROM locked)
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

/**
 * The moves of an account's ledger version that were charges' (migration 0016): a charge sets
 * `charged_version` to the version it writes, and `charges_since` to the version its run of
 * charges began after, so that a batch priced on the ledger at an earlier version can tell
 * whether only charges have moved it since.
 */
const CHARGE_RUN_SET = `ledger_version = b.ledger_version + 1,
  charges_since = CASE WHEN b.charged_version = b.ledger_version THEN b.charges_since ELSE b.ledger_version END,
  charged_version = b.ledger_version + 1`;

/**
 * How a batch's usage, all at one moment, moves one kind of usage counter (core/usage-windows.ts),
 * in the three ways that depend only on where the windows start: it adds to the current window
 * ('add'), opens the next one, the current becoming the previous ('roll', not for a clock gone
 * back), or opens the first ('first'). The batch statement moves the counters it finds the same
 * way, if they still start where they did when read; anything else (a window behind the current
 * one, a clock gone back) is charged under the ledger mutex.
 */
export interface WindowStep {
  move: 'add' | 'roll' | 'first';
  /** The window the usage falls in. */
  start: Date;
  /** Where the current and previous windows started when read. */
  current: Date | null;
  previous: Date | null;
}

const startOf = (w: WindowCount | null) => w?.startsAt ?? null;
const sameTime = (a: Date | null, b: Date | null) => (a === null ? b === null : b !== null && a.getTime() === b.getTime());
const saturated = (a: number, b: number) => Math.min(Number.MAX_SAFE_INTEGER, a + b);

function windowStep(pair: WindowPair, start: Date, late: boolean): WindowStep | undefined {
  const step = { start, current: startOf(pair.current), previous: startOf(pair.previous) };
  if (pair.current === null) return pair.previous === null ? { move: 'first', ...step } : undefined;
  if (sameTime(pair.current.startsAt, start)) return { move: 'add', ...step };
  if (!late && start > pair.current.startsAt && !sameTime(step.previous, start)) return { move: 'roll', ...step };
  return undefined;
}

/** A step applied to counters: what the statement computes, here to check it against the rule itself. */
function stepped(pair: WindowPair, step: WindowStep, use: { valueMicros: number; tokens: number }): WindowPair {
  const fresh = { startsAt: step.start, valueMicros: use.valueMicros, tokens: use.tokens };
  if (step.move === 'first') return { current: fresh, previous: null };
  if (step.move === 'roll') return { current: fresh, previous: pair.current };
  const current = pair.current!;
  return { current: { ...current, valueMicros: saturated(current.valueMicros, use.valueMicros), tokens: saturated(current.tokens, use.tokens) }, previous: pair.previous };
}

const sameCount = (a: WindowCount | null, b: WindowCount | null) =>
  a === null || b === null ? a === b : sameTime(a.startsAt, b.startsAt) && a.valueMicros === b.valueMicros && a.tokens === b.tokens;
const samePair = (a: WindowPair, b: WindowPair) => sameCount(a.current, b.current) && sameCount(a.previous, b.previous);

/** What the batch statement must find of one account, and what it adds to it. */
export interface BatchAccount {
  /** The versions its charges were priced and drawn at: the ledger's, the account's terms', the catalog's. */
  ledger: number;
  terms: number;
  catalog: number;
  day: WindowStep;
  month: WindowStep;
  /** The buckets its charges may draw, in burn order (core/allocate.ts). */
  buckets: number[];
  /** Its counters, read, with the charges counted: where the windows start once they are written. */
  counted: UsageWindows;
}

/**
 * An account's part of a batch, if one statement can write it on the ledger as it will find
 * it: none of its charges is a capped member's (whose counters are written whole), and its
 * counters move by one of the steps above. The charges all happen at one moment, so counting
 * them is counting their sum once (core/usage-windows.ts); the step is checked against that
 * rule itself, on the counters read. Undefined: charge it under the ledger mutex.
 */
export function batchAccount(read: LedgerState, termsVersion: number, charges: readonly PreparedCharge[]): BatchAccount | undefined {
  if (!read.allowanceOpen || charges.some((c) => c.userId !== null && read.members.has(c.userId))) return undefined;
  const use = { valueMicros: 0, tokens: 0 };
  for (const c of charges) {
    use.valueMicros = saturated(use.valueMicros, c.valueMicros);
    use.tokens = saturated(use.tokens, totalTokens(c.usage));
  }
  const { terms, windows } = read;
  const counted = countUsage(windows, { at: terms.now, dayStart: terms.day.start, monthStart: terms.period.start, ...use });
  const late = windows.usageAt !== null && terms.now.getTime() < windows.usageAt.getTime() - CLOCK_TOLERANCE_MS;
  const day = windowStep(windows.day, terms.day.start, late);
  const month = windowStep(windows.month, terms.period.start, late);
  if (!day || !month || !samePair(stepped(windows.day, day, use), counted.day) || !samePair(stepped(windows.month, month, use), counted.month)) return undefined;
  const usageAt = windows.usageAt === null || terms.now > windows.usageAt ? terms.now : windows.usageAt;
  if (!sameTime(usageAt, counted.usageAt)) return undefined;
  return {
    ledger: read.version, terms: termsVersion, catalog: terms.catalogVersion, day, month, counted,
    buckets: [...read.buckets].sort(burnOrder).map((b) => b.id),
  };
}

const KINDS = ['day', 'month'] as const;
const TOLERANCE = `interval '${CLOCK_TOLERANCE_MS} milliseconds'`;

/** The counters of `kind` as they are (`l`, the row locked) start where they did when read, for its step. */
const windowFound = (kind: (typeof KINDS)[number]) => `l.${kind}_starts_at IS NOT DISTINCT FROM v.${kind}_current
  AND l.previous_${kind}_starts_at IS NOT DISTINCT FROM v.${kind}_previous
  AND (v.${kind}_move <> 'roll' OR l.usage_at IS NULL OR $21::timestamptz >= l.usage_at - ${TOLERANCE})`;

/** The step applied to the counters as they are (`b`). */
const windowMoved = (kind: (typeof KINDS)[number]) => {
  const counter = (column: 'value_micros' | 'tokens', added: string) => `${kind}_${column} = CASE v.${kind}_move
      WHEN 'add' THEN LEAST(b.${kind}_${column} + ${added}, ${Number.MAX_SAFE_INTEGER}) ELSE ${added} END,
    previous_${kind}_${column} = CASE v.${kind}_move WHEN 'add' THEN b.previous_${kind}_${column} WHEN 'roll' THEN b.${kind}_${column} ELSE 0 END`;
  return `${kind}_starts_at = CASE v.${kind}_move WHEN 'add' THEN b.${kind}_starts_at ELSE v.${kind}_start END,
    previous_${kind}_starts_at = CASE v.${kind}_move WHEN 'add' THEN b.previous_${kind}_starts_at WHEN 'roll' THEN b.${kind}_starts_at END,
    ${counter('value_micros', 'v.value_micros')}, ${counter('tokens', 'v.tokens')}`;
};

/**
 * What the batch statement did: each charge's usage event id and debt, in order, and the buckets
 * it emptied; or nothing, and the accounts to read again, or a key already taken.
 */
export type BatchWrite =
  | { written: { id: number; debtMicros: number }[]; emptied: ReadonlySet<number> }
  | { readAgain: readonly string[] | 'all' }
  | { keyTaken: true };

/**
 * Write a batch of charges without holds, priced (not drawn: `prepareCharge` without a pool)
 * on each account's ledger as read at some version, in ONE statement that needs no
 * transaction around it:
 *   1. it locks the accounts' ledger mutexes, in account order, as every writer of value takes
 *      them: batches that share accounts queue, and never wait on each other in a cycle;
 *   2. each account must be as its charges need it, or the statement stops and undoes it all,
 *      naming the accounts to read again: every move of its ledger version since that version
 *      was a charge's (migration 0016), which only draws existing buckets down, so the buckets
 *      it may draw are still those read, in the same burn order; its terms and the catalog are
 *      the versions read; its usage counters start where they did (windowStep);
 *   3. the usage events go in under the mutexes, as every writer inserts an account's events: a
 *      key's unique check finds it taken or free, and never waits on another writer;
 *   4. the charges draw on the buckets as they are now, filling them in burn order, event after
 *      event, as `allocate` does; what they cannot cover is debt. Entries, debits, debt and
 *      counters are written relative to what the statement finds, so the charges other
 *      writers made meanwhile are kept.
 * The locks are held from step 1 until the statement commits.
 */
export async function writeBatchCharges(sql: Sql, charges: readonly PreparedCharge[], accounts: ReadonlyMap<string, BatchAccount>): Promise<BatchWrite> {
  const ids = [...accounts.keys()].sort();
  const sums = new Map(ids.map((id) => [id, { value: 0, tokens: 0 }]));
  // The statement's inputs as columns, in one pass: the events', each account's and its buckets'.
  const e = { account: [] as string[], key: [] as string[], user: [] as (string | null)[], model: [] as string[], input: [] as number[], output: [] as number[],
    cacheRead: [] as (number | null)[], cacheWrite: [] as (number | null)[], reasoning: [] as (number | null)[], cost: [] as number[], value: [] as number[],
    margin: [] as number[], price: [] as number[] };
  const prices: PriceEntry[] = []; // each once: the events name theirs by index
  const priceIndex = new Map<PriceEntry, number>();
  let metadata = false;
  for (const c of charges) {
    const { usage } = c;
    e.account.push(c.terms.account.id); e.key.push(c.idempotencyKey); e.user.push(c.userId); e.model.push(c.model);
    e.input.push(usage.inputTokens); e.output.push(usage.outputTokens); e.cacheRead.push(usage.cacheReadTokens ?? null);
    e.cacheWrite.push(usage.cacheWriteTokens ?? null); e.reasoning.push(usage.reasoningTokens ?? null);
    e.cost.push(c.costMicros); e.value.push(c.valueMicros); e.margin.push(c.terms.settings.marginBps);
    let price = priceIndex.get(c.price);
    if (price === undefined) priceIndex.set(c.price, (price = prices.push(c.price) - 1));
    e.price.push(price);
    const sum = sums.get(c.terms.account.id)!;
    sum.value = saturated(sum.value, c.valueMicros);
    sum.tokens = saturated(sum.tokens, totalTokens(usage));
    metadata ||= Object.keys(c.metadata).length > 0;
  }
  const isoOf = new Map<number, string>();
  const iso = (at: Date | null) => {
    if (at === null) return null;
    let text = isoOf.get(at.getTime());
    if (text === undefined) isoOf.set(at.getTime(), (text = at.toISOString()));
    return text;
  };
  const v = { ledger: [] as number[], terms: [] as number[], value: [] as number[], tokens: [] as number[] };
  const steps = KINDS.map(() => ({ move: [] as string[], start: [] as (string | null)[], current: [] as (string | null)[], previous: [] as (string | null)[] }));
  const b = { account: [] as string[], bucket: [] as number[], rank: [] as number[] };
  for (const id of ids) {
    const account = accounts.get(id)!;
    const sum = sums.get(id)!;
    v.ledger.push(account.ledger); v.terms.push(account.terms); v.value.push(sum.value); v.tokens.push(sum.tokens);
    KINDS.forEach((kind, k) => {
      const step = account[kind];
      steps[k]!.move.push(step.move); steps[k]!.start.push(iso(step.start)); steps[k]!.current.push(iso(step.current)); steps[k]!.previous.push(iso(step.previous));
    });
    account.buckets.forEach((bucket, rank) => {
      b.account.push(id); b.bucket.push(bucket); b.rank.push(rank);
    });
  }
  try {
    const rows = await sql.query<{ ord: number | null; id: number | null; debt: number | null; emptied: number | null }>(BATCH_STATEMENT, [
      arrayLiteral(e.account), arrayLiteral(e.key), orNull(e.user), arrayLiteral(e.model), arrayLiteral(e.input), arrayLiteral(e.output),
      orNull(e.cacheRead), orNull(e.cacheWrite), orNull(e.reasoning), arrayLiteral(e.cost), arrayLiteral(e.value), arrayLiteral(e.margin),
      arrayLiteral(e.price), JSON.stringify(prices), metadata ? JSON.stringify(charges.map((c) => c.metadata)) : null,
      arrayLiteral(ids), arrayLiteral(v.ledger), arrayLiteral(v.terms), arrayLiteral(v.value), arrayLiteral(v.tokens),
      charges[0]!.terms.now, accounts.get(ids[0]!)!.catalog,
      ...steps.flatMap((step) => [arrayLiteral(step.move), arrayLiteral(step.start), arrayLiteral(step.current), arrayLiteral(step.previous)]),
      arrayLiteral(b.account), arrayLiteral(b.bucket), arrayLiteral(b.rank),
    ]);
    const events = rows.filter((r) => r.id !== null).sort((x, y) => x.ord! - y.ord!);
    return { written: events.map((r) => ({ id: r.id!, debtMicros: r.debt! })), emptied: new Set(rows.flatMap((r) => (r.emptied === null ? [] : [r.emptied]))) };
  } catch (error) {
    const { code, detail } = error as { code?: string; detail?: string };
    // Accounts moved otherwise than by charges (the statement's stop): read those again.
    if (code === 'TGB01') return { readAgain: (JSON.parse(detail ?? 'null') as string[] | null) ?? 'all' };
    // A key written meanwhile: the batch is read again with the events already under its keys.
    if (code === '23505') return { keyTaken: true };
    throw error;
  }
}

/**
 * A PostgreSQL array literal for a `$n::type[]` parameter. Built here in one pass: the driver
 * would quote and escape every element, numbers too, which for a batch's twenty columns cost
 * more than the rest of writing it.
 */
export function arrayLiteral(values: readonly (string | number | null)[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ',';
    if (value === null || value === undefined) literal += 'NULL';
    else if (typeof value === 'number') literal += String(value);
    else literal += `"${/["\\]/.test(value) ? value.replace(/["\\]/g, '\\$&') : value}"`;
  }
  return `${literal}}`;
}

/** A column that is null throughout goes as a null array (unnest pads it with nulls). */
const orNull = (values: readonly (string | number | null)[]) => (values.every((v) => v === null) ? null : arrayLiteral(values));

const BATCH_STATEMENT = `WITH input AS (
    SELECT i.*, i.ord_1 - 1 AS ord FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
      $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::int[], $13::int[]) WITH ORDINALITY
      AS i (account_id, idempotency_key, user_id, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        reasoning_tokens, cost_micros, value_micros, margin_bps, price, ord_1)
  ), v AS (
    SELECT * FROM unnest($16::text[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[],
      $23::text[], $24::timestamptz[], $25::timestamptz[], $26::timestamptz[], $27::text[], $28::timestamptz[], $29::timestamptz[], $30::timestamptz[])
      AS v (account_id, ledger, terms, value_micros, tokens, day_move, day_start, day_current, day_previous,
        month_move, month_start, month_current, month_previous)
  ), locked AS MATERIALIZED (
    -- 1. The ledger mutexes, in account order.
    SELECT * FROM account_balances WHERE account_id = ANY ($16::text[]) ORDER BY account_id FOR NO KEY UPDATE
  ), checked AS (
    -- 2. Each account as its charges need it (the row locked is its newest version).
    SELECT l.account_id,
      (l.ledger_version = v.ledger OR (l.charged_version = l.ledger_version AND l.charges_since <= v.ledger))
      AND a.terms_version = v.terms AND s.catalog_version = $22
      AND ${KINDS.map(windowFound).join(' AND ')} AS fresh
    FROM locked l JOIN v USING (account_id) JOIN accounts a ON a.id = l.account_id CROSS JOIN settings s
  ), verdict AS (
    SELECT count(*) FILTER (WHERE fresh) = cardinality($16::text[]) AS ok, array_agg(account_id) FILTER (WHERE NOT fresh) AS stale FROM checked
  ), stop AS (
    SELECT tollgate_ledgers_moved(stale) FROM verdict WHERE NOT ok
  ), ev AS (
    SELECT input.*, nextval('usage_events_id_seq') AS event_id FROM input WHERE (SELECT ok FROM verdict)
  ), event AS (
    -- 3. The events, under their ledgers' mutexes as every writer inserts them: a key's unique
    -- check never waits (whoever else could be writing it would hold the mutex), it finds the key
    -- taken or free.
    INSERT INTO usage_events (id, account_id, idempotency_key, user_id, model, provider, input_tokens, output_tokens,
      cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, price, metadata, occurred_at)
    SELECT event_id, account_id, idempotency_key, user_id, model, $14::jsonb -> price ->> 'provider', input_tokens, output_tokens,
      cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micros, value_micros, margin_bps, $14::jsonb -> price,
      COALESCE($15::jsonb -> ord::int, '{}'), $21::timestamptz
    FROM ev
  ), held AS MATERIALIZED (
    -- 4. The buckets as they are now (a locking read sees past this statement's snapshot),
    -- each spanning [upto - remaining, upto) of its account's value in burn order.
    SELECT u.account_id, x.id AS bucket_id, x.remaining_micros AS remaining,
      sum(x.remaining_micros) OVER (PARTITION BY u.account_id ORDER BY u.rank)::bigint AS upto
    FROM unnest($31::text[], $32::bigint[], $33::int[]) AS u (account_id, bucket_id, rank)
      JOIN (SELECT id, account_id, remaining_micros FROM buckets WHERE id = ANY ($32::bigint[]) AND (SELECT ok FROM verdict) FOR NO KEY UPDATE) x
        ON x.id = u.bucket_id AND x.account_id = u.account_id
  ), costs AS (
    -- Each event spanning [upto - value, upto) of its account's value, in order; and beside it,
    -- its account's buckets' total (a window over both, where a join on an aggregate would be
    -- planned, for parameters of unknown length, as a loop over it).
    SELECT * FROM (
      SELECT s.*, COALESCE(sum(s.remaining) OVER (PARTITION BY s.account_id), 0)::bigint AS covered FROM (
        SELECT ord, event_id, account_id, value_micros, sum(value_micros) OVER (PARTITION BY account_id ORDER BY ord)::bigint AS upto,
          NULL::bigint AS remaining FROM ev
        UNION ALL
        SELECT NULL, NULL, account_id, NULL, NULL, remaining FROM held) s
    ) w WHERE w.event_id IS NOT NULL
  ), draw AS (
    SELECT c.ord, c.event_id, c.account_id, h.bucket_id,
      LEAST(c.upto, h.upto) - GREATEST(c.upto - c.value_micros, h.upto - h.remaining) AS amount
    FROM costs c JOIN held h USING (account_id)
    WHERE LEAST(c.upto, h.upto) > GREATEST(c.upto - c.value_micros, h.upto - h.remaining)
  ), short AS (
    -- What no bucket covers: debt.
    SELECT ord, event_id, account_id, upto - GREATEST(upto - value_micros, covered) AS amount FROM costs
    WHERE upto > GREATEST(upto - value_micros, covered) AND (SELECT ok FROM verdict)
  ), debit AS (
    UPDATE buckets x SET remaining_micros = x.remaining_micros - d.total
    FROM (SELECT bucket_id, sum(amount)::bigint AS total FROM draw GROUP BY bucket_id) d
    WHERE x.id = d.bucket_id
    RETURNING x.id, x.remaining_micros
  ), entries AS (
    INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, usage_event_id, created_at)
    SELECT account_id, bucket_id, -amount, 'usage', event_id, $21::timestamptz FROM draw
    UNION ALL
    SELECT account_id, NULL, -amount, 'usage', event_id, $21::timestamptz FROM short
  ), owed AS (
    -- Each account's own row, with what its buckets cover (the same window).
    SELECT * FROM (
      SELECT s.*, COALESCE(sum(s.remaining) OVER (PARTITION BY s.account_id), 0)::bigint AS covered FROM (
        SELECT v.*, NULL::bigint AS remaining FROM v
        UNION ALL
        SELECT account_id, ${'NULL, '.repeat(12)}remaining FROM held) s
    ) w WHERE w.ledger IS NOT NULL
  ), balance AS (
    UPDATE account_balances b SET ${CHARGE_RUN_SET}, debt_micros = b.debt_micros + GREATEST(v.value_micros - v.covered, 0),
      usage_at = GREATEST(b.usage_at, $21::timestamptz), ${KINDS.map(windowMoved).join(',\n      ')}
    FROM owed v WHERE b.account_id = v.account_id AND b.account_id = ANY ($16::text[]) AND (SELECT ok FROM verdict)
  )
  SELECT ev.ord, ev.event_id AS id, COALESCE(short.amount, 0) AS debt, NULL AS emptied FROM ev LEFT JOIN short USING (ord) WHERE NOT EXISTS (SELECT FROM stop)
  UNION ALL
  -- The buckets this batch emptied, which the process need no longer offer its next batches.
  SELECT NULL, NULL, NULL, id FROM debit WHERE remaining_micros = 0`;
