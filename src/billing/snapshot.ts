/**
 * What the gate weighs for an account — its terms, usable value, open holds, debt and this
 * window's usage — read in ONE statement, so it is one consistent snapshot.
 */
import { allowanceReference, usableSources } from '../core/bucket.ts';
import type { GateState, Offers } from '../core/gate.ts';
import { includedMicros } from '../core/plan.ts';
import type { Sql } from '../db/sql.ts';
import { TERMS_COLUMNS, TERMS_FROM, accountNotFound, termsFromRow, type Terms, type TermsRow } from './terms.ts';

interface GateRow extends TermsRow {
  gate_version: number;
  snapshot_gate_version: number;
  debt_micros: number;
  always_micros: number;
  prepaid_micros: number;
  held_micros: number;
  held_tokens: number;
  day_starts_at: Date | null;
  day_micros: number;
  day_tokens: number;
  month_starts_at: Date | null;
  month_micros: number;
  month_tokens: number;
  last_allowance: string | null;
}

export interface GateSnapshot {
  terms: Terms;
  gateVersion: number;
  /** False when the version locked differs from the one the rest was read at: read again. */
  consistent: boolean;
  /** This period's allowance is open (or the plan includes none). */
  allowanceOpen: boolean;
  state: Omit<GateState, 'modelAllowed' | 'modelPriced'>;
}

const PREPAID = `'{pack,recharge}'::text[]`;

const GATE_SELECT = `SELECT ${TERMS_COLUMNS}, a.gate_version,
    (SELECT gate_version FROM accounts WHERE id = a.id) AS snapshot_gate_version,
    (SELECT debt_micros FROM account_balances WHERE account_id = a.id) AS debt_micros,
    COALESCE(u.always, 0)::bigint AS always_micros, COALESCE(u.prepaid, 0)::bigint AS prepaid_micros,
    COALESCE(h.micros, 0)::bigint AS held_micros, COALESCE(h.tokens, 0)::bigint AS held_tokens,
    d.starts_at AS day_starts_at, COALESCE(d.value_micros, 0) AS day_micros, COALESCE(d.tokens, 0) AS day_tokens,
    m.starts_at AS month_starts_at, COALESCE(m.value_micros, 0) AS month_micros, COALESCE(m.tokens, 0) AS month_tokens,
    (SELECT reference FROM buckets WHERE account_id = a.id AND source = 'allowance' ORDER BY created_at DESC, id DESC LIMIT 1) AS last_allowance
  FROM ${TERMS_FROM}
  LEFT JOIN LATERAL (
    SELECT sum(remaining_micros) FILTER (WHERE source <> ALL (${PREPAID})) AS always, sum(remaining_micros) FILTER (WHERE source = ANY (${PREPAID})) AS prepaid
    FROM buckets WHERE account_id = a.id AND remaining_micros > 0 AND starts_at <= $2 AND (expires_at IS NULL OR expires_at > $2)
  ) u ON true
  LEFT JOIN LATERAL (
    SELECT sum(amount_micros) AS micros, sum(tokens) AS tokens FROM holds WHERE account_id = a.id AND status = 'open' AND expires_at > $2
  ) h ON true
  LEFT JOIN LATERAL (
    SELECT starts_at, value_micros, tokens FROM usage_windows WHERE account_id = a.id AND window_kind = 'day' AND starts_at <= $2 ORDER BY starts_at DESC LIMIT 1
  ) d ON true
  LEFT JOIN LATERAL (
    SELECT starts_at, value_micros, tokens FROM usage_windows WHERE account_id = a.id AND window_kind = 'month' AND starts_at <= $2 ORDER BY starts_at DESC LIMIT 1
  ) m ON true
  WHERE a.id = $1`;

/**
 * Read the gate's snapshot. With `lock`, the account row (the gate mutex) is locked too; if
 * the lock had to wait for another writer, `consistent` says whether to read again.
 */
export async function readGate(sql: Sql, accountId: string, now: Date, lock = false): Promise<GateSnapshot> {
  const [row] = await sql.query<GateRow>(lock ? `${GATE_SELECT} FOR NO KEY UPDATE OF a` : GATE_SELECT, [accountId, now]);
  if (!row) throw accountNotFound(accountId);
  return gateFromRow(row, now);
}

const GATES_SELECT = GATE_SELECT.replace('WHERE a.id = $1', 'WHERE a.id = ANY ($1::text[])');

/** The snapshots of several accounts, in one statement (no lock). Unknown ids are left out. */
export async function readGates(sql: Sql, accountIds: readonly string[], now: Date): Promise<Map<string, GateSnapshot>> {
  const rows = await sql.query<GateRow>(GATES_SELECT, [[...new Set(accountIds)], now]);
  return new Map(rows.map((row) => [row.id, gateFromRow(row, now)]));
}

function gateFromRow(row: GateRow, now: Date): GateSnapshot {
  const terms = termsFromRow(row, now);
  const sameStart = (a: Date | null, b: Date) => a !== null && a.getTime() === b.getTime();
  const day = sameStart(row.day_starts_at, terms.day.start);
  const month = sameStart(row.month_starts_at, terms.period.start);
  return {
    terms,
    gateVersion: row.gate_version,
    consistent: row.gate_version === row.snapshot_gate_version,
    allowanceOpen: includedMicros(terms.plan) === 0 || row.last_allowance === allowanceReference(terms.plan.id, terms.period.start),
    state: {
      plan: terms.plan,
      usableMicros: row.always_micros + (usableSources(terms.plan.overage).includes('pack') ? row.prepaid_micros : 0),
      debtMicros: row.debt_micros,
      held: { valueMicros: row.held_micros, tokens: row.held_tokens },
      used: {
        day: { valueMicros: day ? row.day_micros : 0, tokens: day ? row.day_tokens : 0 },
        month: { valueMicros: month ? row.month_micros : 0, tokens: month ? row.month_tokens : 0 },
      },
      day: terms.day,
      period: terms.period,
    },
  };
}

export async function readOffers(sql: Sql, terms: Terms): Promise<Offers> {
  const [row] = await sql.query<Offers>(
    `SELECT EXISTS (SELECT 1 FROM packs WHERE status = 'active' AND public AND (NOT requires_plan OR $1 > 0)) AS packs,
            EXISTS (SELECT 1 FROM plans WHERE status = 'active' AND public AND price_cents > $1) AS upgrade`,
    [terms.plan.priceCents],
  );
  return row!;
}
