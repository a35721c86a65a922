/**
 * An account's terms at a moment: its account row, the plan in force, the settings and the
 * current day and billing period. Loaded with one of the account's two mutexes held:
 *   - the gate mutex (the accounts row): authorize, plan changes;
 *   - the ledger mutex (the account_balances row): every movement of value.
 * Always gate before ledger, never the other way, so the two cannot deadlock. A canceled
 * plan past its end reads as the default plan here; authorize writes that switch down.
 */
import { BillingError } from '../core/errors.ts';
import { billingPeriod, dayPeriod, type Period } from '../core/periods.ts';
import type { Plan } from '../core/plan.ts';
import type { Settings } from '../core/settings.ts';
import type { Sql } from '../db/sql.ts';
import {
  ACCOUNT_COLUMNS, SETTINGS_COLUMNS, accountFromRow, planColumns, planFromRow, settingsFromRow,
  type Account, type AccountRow, type PlanRow, type SettingsRow,
} from './rows.ts';

export interface Terms {
  account: Account;
  plan: Plan;
  settings: Settings;
  /** The canceled plan has run out and the default plan applies. */
  planEnded: boolean;
  /**
   * The paid plan's period in force is not paid (its processor's renewal is due, or failed and
   * within the grace): the default plan's terms apply until it is (grants/subscriptions.ts).
   */
  unpaid: boolean;
  /** A renewal's payment failed and the grace is over: the gate refuses (payment_past_due). */
  pastDue: boolean;
  day: Period;
  period: Period;
  now: Date;
  /** The catalog version they were read at: prices are looked up in a book at least as new. */
  catalogVersion: number;
}

export type TermsRow = AccountRow &
  PlanRow &
  SettingsRow & { account_plan_id: number; plan_ended: boolean; unpaid: boolean; terms_until: Date | null; terms_version: number; catalog_version: number };

/** A paid period that ran out unpaid, or a renewal whose payment failed: the default plan's terms apply. */
const UNPAID = `(a.paid_through <= $2 OR a.past_due_through > a.paid_through)`;
const GRACE_ENDS = `a.past_due_at + s.past_due_grace_days * interval '1 day'`;

/**
 * The version of its plan account `a` (joined with its plan `p`) is on at `at`: the one a move
 * waiting for its renewal names once that renewal comes (migration 0024), else the one it bought;
 * none bought (a free plan), the current one.
 */
export const versionAt = (at: string) =>
  `CASE WHEN a.plan_version_renews_at <= ${at} THEN a.plan_version_at_renewal ELSE COALESCE(a.plan_version, p.version) END`;

/**
 * Columns and joins of an account's terms; `$2` is the moment they are read for. terms_until:
 * the next moment they change by the clock alone (a plan's end, a paid period's, a grace's).
 */
export const TERMS_COLUMNS = `${ACCOUNT_COLUMNS}, a.plan_id AS account_plan_id, ${planColumns('pv')}, ${SETTINGS_COLUMNS},
  COALESCE(a.plan_ends_at <= $2, false) AS plan_ended, COALESCE(${UNPAID}, false) AS unpaid,
  LEAST(CASE WHEN a.plan_ends_at > $2 THEN a.plan_ends_at END, CASE WHEN a.paid_through > $2 THEN a.paid_through END,
    CASE WHEN ${GRACE_ENDS} > $2 THEN ${GRACE_ENDS} END, CASE WHEN a.plan_version_renews_at > $2 THEN a.plan_version_renews_at END) AS terms_until,
  a.terms_version, s.catalog_version`;
export const TERMS_FROM = `accounts a CROSS JOIN settings s
  JOIN plans p ON p.id = CASE WHEN (a.plan_ends_at <= $2 OR ${UNPAID}) AND s.default_plan_id IS NOT NULL THEN s.default_plan_id ELSE a.plan_id END
  JOIN plan_versions pv ON pv.plan_id = p.id AND pv.version = CASE WHEN p.id = a.plan_id THEN ${versionAt('$2')} ELSE p.version END`;

/** Terms read for one moment hold for a later one until terms_until (their period and day aside, which are derived). */
export function termsHoldAt(row: Pick<TermsRow, 'terms_until'>, now: Date): boolean {
  return row.terms_until === null || now < row.terms_until;
}
export const TERMS_SELECT = `${TERMS_COLUMNS} FROM ${TERMS_FROM}`;

export function termsFromRow(row: TermsRow, now: Date): Terms {
  const account = accountFromRow({ ...row, plan_id: row.account_plan_id });
  const planEnded = row.plan_ended;
  const unpaid = !planEnded && row.unpaid;
  const settings = settingsFromRow(row);
  const graceEnds = account.pastDue && account.pastDue.since.getTime() + settings.pastDueGraceDays * 86_400_000;
  // A processor's paid period as it said; the default plan's months while unpaid; else the clock's.
  const paid = !planEnded && !unpaid && account.paidThrough && account.planAnchorAt;
  const anchor = planEnded || unpaid ? null : account.planAnchorAt;
  return {
    account,
    plan: planFromRow(row),
    settings,
    planEnded,
    unpaid,
    pastDue: !planEnded && graceEnds !== null && now.getTime() >= graceEnds,
    day: dayPeriod(now, account.timeZone),
    period: paid ? { start: account.planAnchorAt!, end: account.paidThrough! } : billingPeriod(anchor, now, account.timeZone),
    now,
    catalogVersion: row.catalog_version,
  };
}

export function accountNotFound(accountId: string): BillingError {
  return new BillingError('account_not_found', `No account "${accountId}": create it first (upsertAccount, or PUT /v1/accounts/{id} over HTTP)`, { accountId });
}

/** Lock the gate mutex and read the terms. */
export async function lockGate(tx: Sql, accountId: string, now: Date): Promise<Terms> {
  // The row by its key first, then the terms in a statement of their own, which sees what the
  // writer it may have waited for committed (see readGate in snapshot.ts).
  const [locked] = await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
  if (!locked) throw accountNotFound(accountId);
  const [row] = await tx.query<TermsRow>(`SELECT ${TERMS_SELECT} WHERE a.id = $1`, [accountId, now]);
  return termsFromRow(row!, now);
}

/** What an account on no paid plan has: no anchor, end, paid period or past due. */
export const NO_PLAN_PERIOD = 'plan_anchor_at = NULL, plan_ends_at = NULL, paid_through = NULL, past_due_through = NULL, past_due_at = NULL';

/** No move to a newer version waiting: set with any other write of the version an account is on. */
export const NO_VERSION_MOVE = 'plan_version_at_renewal = NULL, plan_version_renews_at = NULL';

/** Write down a plan that ran out: the account moves to the default plan. Gate mutex held. */
export async function applyPlanEnd(tx: Sql, terms: Terms): Promise<void> {
  if (!terms.planEnded) return;
  await tx.query(`UPDATE accounts SET plan_id = $2, plan_version = NULL, ${NO_VERSION_MOVE}, ${NO_PLAN_PERIOD}, gate_version = gate_version + 1 WHERE id = $1`, [
    terms.account.id,
    terms.plan.id,
  ]);
  await tx.query(`UPDATE subscriptions SET status = 'canceled', renews_at = NULL WHERE account_id = $1 AND status = 'active'`, [terms.account.id]);
}
