/**
 * Plan versions (migration 0022): a change to what a plan sells makes a new version for new
 * subscribers, and an account keeps the version it bought until the admin moves it here, one
 * account or every account on an older version. A move puts the account's terms on the current
 * version at once (its limits, models, overage); the allowance of the period it paid for stays as
 * granted, and its next period opens at the current version's price and allowance.
 *
 * An account whose subscription is at a real processor is not moved: its processor would go on
 * charging the price it subscribed at. It moves by changing its plan there (the customer pays
 * the new price), or stays on the version it bought.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { idSchema, plain } from '../../core/input.ts';
import type { Micros } from '../../core/money.ts';
import { includedMicros } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { findPlan } from './catalog.ts';

/** Whom to move: one account, or left out, every account on an older version of the plan. */
export const planVersionMoveSchema = plain(z.object({ accountId: idSchema.optional() }).strict());

export interface PlanVersions {
  /** The plan's current version. */
  version: number;
  /** Accounts on an older version, and what they keep until moved: its price and the value it includes each period. */
  behind: { accountId: string; version: number; priceCents: number; includedMicros: Micros; processor: string | null }[];
}

/**
 * Accounts on the plan, on a version older than its current one, and the processor of their
 * subscription (null: none). Not those on a free version of a plan that took a price since:
 * they bought nothing, and move by subscribing.
 */
const BEHIND = `SELECT a.id AS account_id, a.plan_version AS version, v.price_cents, v.surcharge_cents, v.included_micros,
    (SELECT s.processor FROM subscriptions s WHERE s.account_id = a.id AND s.status = 'active' ORDER BY s.started_at DESC, s.id DESC LIMIT 1) AS processor
  FROM accounts a JOIN plans p ON p.id = a.plan_id JOIN plan_versions v ON v.plan_id = p.id AND v.version = a.plan_version
  WHERE p.id = $1 AND a.plan_version < p.version AND (v.price_cents > 0 OR p.price_cents = 0)`;

export async function planVersions(sql: Sql, slug: string): Promise<PlanVersions> {
  const plan = await findPlan(sql, slug);
  const [{ version }] = (await sql.query<{ version: number }>('SELECT version FROM plans WHERE id = $1', [plan.id])) as [{ version: number }];
  const rows = await sql.query<{ account_id: string; version: number; price_cents: number; surcharge_cents: number; included_micros: number | null; processor: string | null }>(
    `${BEHIND} ORDER BY a.id`,
    [plan.id],
  );
  return {
    version,
    behind: rows.map((r) => ({
      accountId: r.account_id, version: r.version, priceCents: r.price_cents, processor: r.processor,
      includedMicros: includedMicros({ priceCents: r.price_cents, surchargeCents: r.surcharge_cents, includedMicrosOverride: r.included_micros as Micros | null }),
    })),
  };
}

/** Only the fake processor's subscriptions are moved here: a real processor's price is the processor's to change. */
const movable = (processor: string | null) => processor === null || processor === 'fake';

/**
 * Move accounts on an older version of the plan to its current one: `accountId`, or every one
 * that can be. What was moved, and what was kept (their processor bills the old price).
 */
export async function moveToCurrentVersion(
  sql: Sql,
  slug: string,
  whom: z.output<typeof planVersionMoveSchema>,
): Promise<{ version: number; moved: string[]; kept: { accountId: string; processor: string }[] }> {
  return sql.transaction(async (tx) => {
    const plan = await findPlan(tx, slug);
    // The plan row first: a change to it waits, so the accounts move to the version read here.
    const [{ version }] = (await tx.query<{ version: number }>('SELECT version FROM plans WHERE id = $1 FOR NO KEY UPDATE', [plan.id])) as [{ version: number }];
    const behind = await tx.query<{ account_id: string; processor: string | null }>(`${BEHIND} AND ($2::text IS NULL OR a.id = $2) ORDER BY a.id FOR NO KEY UPDATE OF a`, [
      plan.id, whom.accountId ?? null,
    ]);
    if (whom.accountId !== undefined && behind.length === 0) {
      throw new BillingError('invalid_input', `Account "${whom.accountId}" is not on an older version of "${slug}": there is nobody to move`, {
        accountId: whom.accountId, slug, issues: [`accountId: "${whom.accountId}" is not on an older version of the plan "${slug}"`],
      });
    }
    const kept = behind.filter((r) => !movable(r.processor)).map((r) => ({ accountId: r.account_id, processor: r.processor! }));
    if (whom.accountId !== undefined && kept.length > 0) {
      throw new BillingError(
        'subscription_active',
        `Account "${whom.accountId}" pays "${slug}" through ${kept[0]!.processor}, at the price it subscribed at: change its plan there (the customer agrees to the new price), or leave it on its version`,
        { accountId: whom.accountId, slug, processor: kept[0]!.processor },
      );
    }
    const moved = behind.filter((r) => movable(r.processor)).map((r) => r.account_id);
    if (moved.length > 0) {
      await tx.query('UPDATE accounts SET plan_version = $2, gate_version = gate_version + 1 WHERE id = ANY ($1::text[])', [moved, version]);
    }
    return { version, moved, kept };
  });
}
