/**
 * Plan versions (migration 0022): a change to what a plan sells makes a new version for new
 * subscribers, and an account keeps the version it bought until the admin moves it here, one
 * account or every account on an older version, now or at its renewal.
 *
 * Now: the account's terms are the current version's at once (its limits, models, overage); the
 * allowance of the period it paid for stays as granted, and its next period opens at the current
 * version's price and allowance. An account whose subscription is at a real processor is not
 * moved now: its processor would go on charging the price it subscribed at.
 *
 * At renewal (migration 0024): the account stays on its version to the end of the period it paid
 * for, and is on the current one from then (terms.ts reads it so, in every process at once). At a
 * real processor the subscription's price is changed now to the current version's (the catalog
 * synced first, which makes that price if it is missing), with nothing billed, so the customer
 * pays the new price from the next invoice; the period at it opens when the processor says it is
 * paid. A move waiting can be called off until then, at the processor too. The processor is asked
 * before the move (or its call-off) is written: a crash between the two is repaired by the
 * renewal, which opens on the version sold at the price it paid (grants/subscriptions.ts).
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { formatCents } from '../../core/money.ts';
import { accountIdSchema, plain } from '../../core/input.ts';
import type { Micros } from '../../core/money.ts';
import { includedMicros, type Plan } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import { checkoutRequest } from '../grants/checkout.ts';
import { activeSubscription } from '../grants/subscriptions.ts';
import { assertUnclaimed } from '../grants/subscription-claims.ts';
import type { Processor } from '../processor.ts';
import { planColumns, planFromRow, type PlanRow } from '../rows.ts';
import { lockGate, NO_VERSION_MOVE, versionAt } from '../terms.ts';
import { findPlan } from './catalog.ts';
import { syncCatalog } from './sync.ts';

/** A plan's fields that are its terms: a change to any makes a new version (migration 0022's trigger). */
export const TERM_FIELDS = ['priceCents', 'surchargeCents', 'includedMicros', 'limits', 'overage', 'models'] as const;
export const changesTerms = (changes: readonly { field: string }[]) => changes.some((c) => (TERM_FIELDS as readonly string[]).includes(c.field));

export const MOVE_TIMES = ['now', 'renewal'] as const;
export type MoveTime = (typeof MOVE_TIMES)[number];

/** Whom to move (one account, or left out, every account on an older version of the plan), and when. */
export const planVersionMoveSchema = plain(
  z
    .object({
      accountId: accountIdSchema.optional().meta({ description: 'The account to move; left out, every account on an older version of the plan.' }),
      when: z
        .enum(MOVE_TIMES, { error: 'must be "now" or "renewal"' })
        .default('now')
        .meta({ description: 'now: the current version applies at once (not for a subscription at Stripe or Paddle); renewal: from the account\'s next period, at the processor too.' }),
    })
    .strict(),
);

/** A move waiting for the account's renewal: to which version, and from when. */
export interface VersionMoveWaiting {
  version: number;
  at: Date;
}

export interface BehindAccount {
  accountId: string;
  /** The version it is on, and what it keeps until moved: its price and the value it includes each period. */
  version: number;
  priceCents: number;
  includedMicros: Micros;
  /** The processor of its subscription; null: none. */
  processor: string | null;
  /** A move to a newer version waiting for its renewal, if one is. */
  waiting: VersionMoveWaiting | null;
}

export interface PlanVersions {
  /** The plan's current version. */
  version: number;
  behind: BehindAccount[];
}

/**
 * Accounts on the plan, on a version older than its current one at `$2`, and the processor of
 * their subscription (null: none). Not those on a free version of a plan that took a price
 * since: they bought nothing, and move by subscribing.
 */
const BEHIND = `SELECT a.id AS account_id, v.version, v.price_cents, v.surcharge_cents, v.included_micros,
    CASE WHEN a.plan_version_renews_at > $2 THEN a.plan_version_at_renewal END AS waiting_version,
    CASE WHEN a.plan_version_renews_at > $2 THEN a.plan_version_renews_at END AS waiting_at,
    (SELECT s.processor FROM subscriptions s WHERE s.account_id = a.id AND s.status = 'active' ORDER BY s.started_at DESC, s.id DESC LIMIT 1) AS processor
  FROM accounts a JOIN plans p ON p.id = a.plan_id JOIN plan_versions v ON v.plan_id = p.id AND v.version = ${versionAt('$2')}
  WHERE p.id = $1 AND v.version < p.version AND (v.price_cents > 0 OR p.price_cents = 0)`;

interface BehindRow {
  account_id: string;
  version: number;
  price_cents: number;
  surcharge_cents: number;
  included_micros: number | null;
  waiting_version: number | null;
  waiting_at: Date | null;
  processor: string | null;
}

const behindOf = (r: BehindRow): BehindAccount => ({
  accountId: r.account_id, version: r.version, priceCents: r.price_cents, processor: r.processor,
  includedMicros: includedMicros({ priceCents: r.price_cents, surchargeCents: r.surcharge_cents, includedMicrosOverride: r.included_micros as Micros | null }),
  waiting: r.waiting_version === null ? null : { version: r.waiting_version, at: new Date(r.waiting_at!) },
});

async function currentVersion(sql: Sql, planId: number, lock = ''): Promise<number> {
  const [{ version }] = (await sql.query<{ version: number }>(`SELECT version FROM plans WHERE id = $1 ${lock}`, [planId])) as [{ version: number }];
  return version;
}

export async function planVersions(ctx: Context, slug: string): Promise<PlanVersions> {
  const plan = await findPlan(ctx.sql, slug);
  const version = await currentVersion(ctx.sql, plan.id);
  const rows = await ctx.sql.query<BehindRow>(`${BEHIND} ORDER BY a.id`, [plan.id, ctx.clock()]);
  return { version, behind: rows.map(behindOf) };
}

/** Only the fake processor's subscriptions (and none) are moved at once: a real processor's price is the processor's to change. */
export const movableNow = (processor: string | null) => processor === null || processor === 'fake';

/** What a move did: the accounts moved (now) or whose move waits for their renewal, and those left as they were, with why. */
export interface MoveResult {
  version: number;
  when: MoveTime;
  moved: string[];
  waiting: { accountId: string; at: Date }[];
  kept: { accountId: string; processor: string | null; reason: string }[];
}

export async function moveToCurrentVersion(ctx: Context, slug: string, whom: z.output<typeof planVersionMoveSchema>): Promise<MoveResult> {
  return whom.when === 'now' ? moveNow(ctx, slug, whom.accountId) : moveAtRenewal(ctx, slug, whom.accountId);
}

function nobodyToMove(slug: string, accountId: string): BillingError {
  return new BillingError('invalid_input', `Account "${accountId}" is not on an older version of "${slug}": there is nobody to move`, {
    accountId, slug, issues: [`accountId: "${accountId}" is not on an older version of the plan "${slug}"`],
  });
}

async function moveNow(ctx: Context, slug: string, accountId: string | undefined): Promise<MoveResult> {
  return ctx.sql.transaction(async (tx) => {
    const plan = await findPlan(tx, slug);
    // The plan row first: a change to it waits, so the accounts move to the version read here.
    const version = await currentVersion(tx, plan.id, 'FOR NO KEY UPDATE');
    const behind = (await tx.query<BehindRow>(`${BEHIND} AND ($3::text IS NULL OR a.id = $3) ORDER BY a.id FOR NO KEY UPDATE OF a`, [plan.id, ctx.clock(), accountId ?? null])).map(behindOf);
    if (accountId !== undefined && behind.length === 0) throw nobodyToMove(slug, accountId);
    const atProcessor = behind.filter((b) => !movableNow(b.processor));
    if (accountId !== undefined && atProcessor.length > 0) {
      throw new BillingError(
        'subscription_active',
        `Account "${accountId}" pays "${slug}" through ${atProcessor[0]!.processor}, at the price it subscribed at: move it at its renewal (its price there changes, with nothing billed now), or leave it on its version`,
        { accountId, slug, processor: atProcessor[0]!.processor },
      );
    }
    const moved = behind.filter((b) => movableNow(b.processor)).map((b) => b.accountId);
    if (moved.length > 0) {
      await tx.query(`UPDATE accounts SET plan_version = $2, ${NO_VERSION_MOVE}, gate_version = gate_version + 1 WHERE id = ANY ($1::text[])`, [moved, version]);
    }
    const reason = 'its processor bills the price it subscribed at: move it at its renewal';
    return { version, when: 'now', moved, waiting: [], kept: atProcessor.map((b) => ({ accountId: b.accountId, processor: b.processor, reason })) };
  });
}

/**
 * Each account behind (or `accountId`) moves at its renewal, in a transaction of its own that
 * holds its gate mutex while its processor changes the price: one account's refusal (a renewal
 * not paid, a plan ending) leaves the others to move. One named account that cannot is an error.
 */
async function moveAtRenewal(ctx: Context, slug: string, accountId: string | undefined): Promise<MoveResult> {
  const plan = await findPlan(ctx.sql, slug);
  const { version, behind } = await planVersions(ctx, slug);
  const candidates = behind.filter((b) => (accountId === undefined || b.accountId === accountId) && b.waiting?.version !== version);
  if (accountId !== undefined && candidates.length === 0) {
    if (behind.some((b) => b.accountId === accountId)) {
      throw new BillingError('invalid_input', `Account "${accountId}" moves to version ${version} of "${slug}" at its renewal already`, { accountId, slug });
    }
    throw nobodyToMove(slug, accountId);
  }
  // The current version's price at each real processor first, made if missing (a sync makes nothing when it is there).
  for (const name of new Set(candidates.flatMap((c) => (c.processor && !movableNow(c.processor) ? [c.processor] : [])))) {
    if (ctx.processors.get(name)?.syncCatalog) await syncCatalog(ctx, name);
  }
  const result: MoveResult = { version, when: 'renewal', moved: [], waiting: [], kept: [] };
  for (const candidate of candidates) {
    try {
      const at = await ctx.sql.transaction((tx) => scheduleMove(ctx, tx, plan.id, candidate.accountId));
      if (at) result.waiting.push({ accountId: candidate.accountId, at });
    } catch (error) {
      if (!(error instanceof BillingError) || accountId !== undefined) throw error;
      result.kept.push({ accountId: candidate.accountId, processor: candidate.processor, reason: error.message });
    }
  }
  return result;
}

/** The account moves to the plan's current version at its renewal: when that is, or undefined if it is on it already. */
async function scheduleMove(ctx: Context, tx: Sql, planId: number, accountId: string): Promise<Date | undefined> {
  // The plan as it is while the processor is asked: a change to it waits for this.
  const [row] = await tx.query<PlanRow & { version: number }>(`SELECT ${planColumns('p')}, p.version FROM plans p WHERE p.id = $1 FOR SHARE`, [planId]);
  const plan = planFromRow(row!);
  const now = ctx.clock();
  const terms = await lockGate(tx, accountId, now);
  const [on] = await tx.query<BehindRow>(`${BEHIND} AND a.id = $3`, [planId, now, accountId]);
  if (!on) return undefined; // moved meanwhile
  if (on.waiting_version === row!.version) return new Date(on.waiting_at!); // asked meanwhile: nothing more to ask of the processor
  if (terms.account.planEndsAt !== null) {
    throw new BillingError('invalid_input', `Account "${accountId}"'s plan ends at the end of its period (it was canceled): it has no renewal to move at`, { accountId });
  }
  const subscription = await activeSubscription(tx, accountId);
  let at = terms.period.end;
  if (subscription && !movableNow(subscription.processor)) {
    const processor = ctx.processors.get(subscription.processor);
    if (!processor?.changePlan) {
      throw new BillingError('processor_not_configured', `Account "${accountId}" pays through ${subscription.processor}, which cannot change its price here`, { accountId, processor: subscription.processor });
    }
    if (terms.unpaid || terms.pastDue || !terms.account.paidThrough) {
      throw new BillingError('payment_past_due', `Account "${accountId}" has a renewal not paid yet: once it is, move it`, { accountId });
    }
    at = terms.account.paidThrough;
    // A cancel or plan change at the processor under way: the move would reach it between that one's question and its application.
    await assertUnclaimed(tx, accountId, 'move to a newer version', subscription.processorRef);
    await processor.changePlan({ ...(await checkoutRequest(tx, processor, terms.account, undefined)), plan, subscriptionRef: subscription.processorRef, at: 'renewal' });
  }
  await tx.query(`UPDATE accounts SET plan_version_at_renewal = $2, plan_version_renews_at = $3, gate_version = gate_version + 1 WHERE id = $1`, [accountId, row!.version, at]);
  return at;
}

/**
 * Call off the move waiting for the account's renewal: it stays on the version it is on. At a
 * real processor the subscription's price goes back to that version's, with nothing billed.
 */
export async function callOffVersionMove(ctx: Context, slug: string, accountId: string): Promise<{ version: number }> {
  return ctx.sql.transaction(async (tx) => {
    const plan = await findPlan(tx, slug);
    const now = ctx.clock();
    const terms = await lockGate(tx, accountId, now);
    const [on] = await tx.query<BehindRow>(`${BEHIND} AND a.id = $3`, [plan.id, now, accountId]);
    if (!on?.waiting_version) {
      throw new BillingError('invalid_input', `Account "${accountId}" has no move to a newer version of "${slug}" waiting: there is nothing to call off`, { accountId, slug });
    }
    const subscription = await activeSubscription(tx, accountId);
    if (subscription && !movableNow(subscription.processor)) {
      const processor = ctx.processors.get(subscription.processor);
      const kept = await versionPlan(tx, plan.id, on.version);
      await assertUnclaimed(tx, accountId, 'call-off of a move', subscription.processorRef);
      await priceBack(processor, accountId, kept, () => checkoutRequest(tx, processor!, terms.account, undefined), subscription.processorRef);
    }
    await tx.query(`UPDATE accounts SET ${NO_VERSION_MOVE}, gate_version = gate_version + 1 WHERE id = $1`, [accountId]);
    return { version: on.version };
  });
}

/** The plan as version `version` sold it: its terms and the processor prices it was sold at. */
async function versionPlan(tx: Sql, planId: number, version: number): Promise<Plan> {
  const [row] = await tx.query<PlanRow>(`SELECT ${planColumns('v')} FROM plans p JOIN plan_versions v ON v.plan_id = p.id WHERE p.id = $1 AND v.version = $2`, [planId, version]);
  return planFromRow(row!);
}

/** The subscription's price back to the version's, nothing billed; a price no longer on sale there is said plainly. */
async function priceBack(processor: Processor | undefined, accountId: string, plan: Plan, request: () => ReturnType<typeof checkoutRequest>, subscriptionRef: string) {
  if (!processor?.changePlan) {
    throw new BillingError('processor_not_configured', `Account "${accountId}"'s processor is not configured here: its price cannot be put back`, { accountId });
  }
  try {
    await processor.changePlan({ ...(await request()), plan, subscriptionRef, at: 'renewal' });
  } catch (error) {
    if (error instanceof BillingError && error.code === 'processor_not_configured') {
      throw new BillingError(
        'processor_not_configured',
        `The ${formatCents(plan.priceCents)} price account "${accountId}" is on is no longer on sale at ${processor.name}, so its subscription cannot go back to it: the move stays (${error.message})`,
        { accountId, processor: processor.name },
      );
    }
    throw error;
  }
}
