/**
 * An account's state (account-state.ts) — its terms, versions, buckets with value left, open
 * holds, debt, its usage counters and its capped members' — read in ONE statement, so it is one
 * consistent snapshot.
 */
import type { BucketSource } from '../../core/bucket.ts';
import type { Offers } from '../../core/gate.ts';
import type { Micros } from '../../core/money.ts';
import type { Plan } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { gateSnapshot, type AccountState, type GateSnapshot, type StateBucket } from './account-state.ts';
import { TERMS_COLUMNS, TERMS_FROM, accountNotFound, type Terms, type TermsRow } from '../terms.ts';
import { WINDOW_COLUMNS, windowsFromRow, type WindowRow } from '../window-columns.ts';
import { MEMBERS_COLUMN, membersFromRow, type MemberRow } from './members.ts';

export type { GateSnapshot } from './account-state.ts';

/**
 * The ledger's part of an account's state, as columns over `buckets` for the account `a.id`
 * at the moment `$2`: the allowances not expired (this period's is open if it is among them,
 * whichever period a process whose clock runs ahead opened since) and the buckets with value
 * left that have not expired. Read by the gate (below) and by charges (charge/write.ts) alike.
 */
export const ALLOWANCES_COLUMN =
  `ARRAY(SELECT reference FROM buckets WHERE account_id = a.id AND source = 'allowance' AND expires_at > $2) AS allowances`;
export const BUCKETS_COLUMN = `(SELECT json_agg(json_build_object('id', x.id, 'source', x.source, 'priority', x.priority, 'startsAt', x.starts_at,
     'expiresAt', x.expires_at, 'createdAt', x.created_at, 'remaining', x.remaining_micros))
   FROM buckets x WHERE x.account_id = a.id AND x.remaining_micros > 0 AND (x.expires_at IS NULL OR x.expires_at > $2)) AS buckets`;

export type BucketRow = { id: number; source: BucketSource; priority: number; startsAt: string; expiresAt: string | null; createdAt: string; remaining: number };

export function bucketsFromRow(rows: readonly BucketRow[] | null): StateBucket[] {
  return (rows ?? []).map((b) => ({
    id: b.id, source: b.source, priority: b.priority, startsAt: new Date(b.startsAt), expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
    createdAt: new Date(b.createdAt), remainingMicros: b.remaining as Micros,
  }));
}

interface StateRow extends TermsRow, WindowRow {
  gate_version: number;
  ledger_version: number;
  debt_micros: number;
  allowances: string[];
  buckets: BucketRow[] | null;
  holds: { id: string; amount: number; tokens: number; expiresAt: string; model: string; provider: string; userId: string | null; createdAt: string }[] | null;
  members: MemberRow[] | null;
}

const STATE_SELECT = `SELECT ${TERMS_COLUMNS}, a.gate_version,
    b.ledger_version, b.debt_micros,
    ${ALLOWANCES_COLUMN},
    ${BUCKETS_COLUMN},
    (SELECT json_agg(json_build_object('id', h.id, 'amount', h.amount_micros, 'tokens', h.tokens, 'expiresAt', h.expires_at, 'model', h.model,
       'provider', h.provider, 'userId', h.user_id, 'createdAt', h.created_at))
     FROM holds h WHERE h.account_id = a.id AND h.status = 'open' AND h.expires_at > $2) AS holds,
    ${WINDOW_COLUMNS}, ${MEMBERS_COLUMN}
  FROM ${TERMS_FROM} JOIN account_balances b ON b.account_id = a.id
  WHERE a.id = $1`;

/**
 * Read an account's gate snapshot. With `lock`, the account row (the gate mutex) is locked
 * first, by its key alone, and the state read after it, in a statement of its own: it sees what
 * the writer it waited for committed. (Locked in the reading statement itself, a wait for a
 * plan change re-checked the new account row against the old plan's and lost the row, and the
 * state's other parts, member caps among them, came from before the wait.)
 */
export async function readGate(sql: Sql, accountId: string, now: Date, lock = false): Promise<GateSnapshot> {
  if (lock) await lockAccount(sql, accountId);
  const [row] = await sql.query<StateRow>(STATE_SELECT, [accountId, now]);
  if (!row) throw accountNotFound(accountId);
  return gateSnapshot(stateFromRow(row), now);
}

/** Take the account's gate mutex (its row, by key); the account must exist. */
export async function lockAccount(sql: Sql, accountId: string): Promise<void> {
  const [row] = await sql.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
  if (!row) throw accountNotFound(accountId);
}

const STATES_SELECT = STATE_SELECT.replace('WHERE a.id = $1', 'WHERE a.id = ANY ($1::text[])');

/** The states of several accounts, in one statement (no lock). Unknown ids are left out. */
export async function readStates(sql: Sql, accountIds: readonly string[], now: Date): Promise<Map<string, AccountState>> {
  const rows = await sql.query<StateRow>(STATES_SELECT, [[...new Set(accountIds)], now]);
  return new Map(rows.map((row) => [row.id, stateFromRow(row)]));
}

function stateFromRow(row: StateRow): AccountState {
  return {
    termsRow: row,
    versions: { gate: row.gate_version, ledger: row.ledger_version, terms: row.terms_version, catalog: row.catalog_version },
    debtMicros: row.debt_micros,
    allowances: row.allowances,
    buckets: bucketsFromRow(row.buckets),
    holds: (row.holds ?? []).map((h) => ({
      id: h.id, amountMicros: h.amount as Micros, tokens: h.tokens, expiresAt: new Date(h.expiresAt), model: h.model, provider: h.provider,
      userId: h.userId, createdAt: new Date(h.createdAt),
    })),
    windows: windowsFromRow(row),
    members: membersFromRow(row.members),
  };
}

/** What a refusal may offer, read only when refusing: packs and dearer plans on sale, and an auto-recharge that turned itself off. */
export async function readOffers(sql: Sql, terms: Terms): Promise<Offers> {
  const [row] = await sql.query<{
    packs: boolean; dearer_plans: Pick<Plan, 'limits' | 'models'>[]; off_code: NonNullable<Offers['rechargeOff']>['code'] | null; off_message: string | null;
  }>(
    `SELECT EXISTS (SELECT 1 FROM packs WHERE status = 'active' AND public AND (NOT requires_plan OR $1 > 0)) AS packs,
            (SELECT COALESCE(jsonb_agg(jsonb_build_object('limits', limits, 'models', models)), '[]') FROM plans
             WHERE status = 'active' AND public AND price_cents > $1) AS dearer_plans,
            r.off_code, r.off_message
     FROM (SELECT 1) one LEFT JOIN auto_recharge r ON r.account_id = $2 AND r.enabled AND r.off_code IS NOT NULL`,
    [terms.plan.priceCents, terms.account.id],
  );
  const { packs, dearer_plans: dearerPlans, off_code: code, off_message: message } = row!;
  return { packs, dearerPlans, rechargeOff: code ? { code, message: message ?? '' } : undefined };
}
