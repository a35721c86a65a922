/**
 * A team's caps on its members: a day's and a month's usage of one user, in value or tokens,
 * within the team's pool (migration 0012). A capped member's caps and usage counters are part
 * of the account's state (account-state.ts), read in the same statement as the rest of it and
 * weighed in the same decision as the team's balance and limits: concurrent calls of one
 * member, in any process, cannot pass a cap together. The counters are the account's own kind
 * (core/usage-windows.ts), over the account's day and billing period, and a charge writes them
 * in its one statement, under the ledger version guard that writes the account's.
 *
 * Setting, changing or removing a cap moves the account's terms version (a trigger) and its
 * ledger version (here), so neither a decision nor a charge made on state read before it is
 * written. An account without caps has no rows: its reads find none and its charges write none.
 * A cap may carry the member's name (migration 0029), for the pages that list caps; the gate
 * has no use for it and never reads it.
 */
import { z } from 'zod';
import type { Amounts, MemberGate } from '../../core/gate.ts';
import { BillingError } from '../../core/errors.ts';
import { text } from '../../core/input.ts';
import { limitSchema, type Limit } from '../../core/plan.ts';
import { NO_USAGE, usedIn, type UsageWindows, type WindowCount } from '../../core/usage-windows.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import { lockGate, type Terms } from '../terms.ts';

/** A capped member as the account's state holds it. */
export interface MemberState {
  userId: string;
  limits: readonly Limit[];
  /** The member's usage counters, as the account's (core/usage-windows.ts). */
  windows: UsageWindows;
}

/** The capped members of the account `a.id`, as a column of the statements that read its state. */
export const MEMBERS_COLUMN = `(SELECT json_agg(json_build_object('userId', m.user_id, 'limits', m.limits, 'usage', m.usage))
   FROM member_limits m WHERE m.account_id = a.id) AS members`;

export type MemberRow = { userId: string; limits: Limit[]; usage: WindowsJson };

type CountJson = { startsAt: string; valueMicros: number; tokens: number } | null;
type WindowsJson = { day: { current: CountJson; previous: CountJson }; month: { current: CountJson; previous: CountJson }; usageAt: string | null };

export function membersFromRow(rows: readonly MemberRow[] | null): MemberState[] {
  return (rows ?? []).map((m) => ({ userId: m.userId, limits: m.limits, windows: windowsFromJson(m.usage) }));
}

function windowsFromJson(json: WindowsJson): UsageWindows {
  const count = (c: CountJson): WindowCount | null => c && { startsAt: new Date(c.startsAt), valueMicros: c.valueMicros, tokens: c.tokens };
  return {
    day: { current: count(json.day.current), previous: count(json.day.previous) },
    month: { current: count(json.month.current), previous: count(json.month.previous) },
    usageAt: json.usageAt === null ? null : new Date(json.usageAt),
  };
}

/** What the gate weighs of each capped member at `now`: their caps, their usage in the account's windows, their open holds. */
export function memberGates(
  members: readonly MemberState[], openHolds: readonly { userId: string | null; amountMicros: number; tokens: number }[], terms: Pick<Terms, 'day' | 'period'>, now: Date,
): Map<string, MemberGate> {
  return new Map(members.map((m): [string, MemberGate] => {
    const mine = openHolds.filter((h) => h.userId === m.userId);
    const held: Amounts = { valueMicros: mine.reduce((sum, h) => sum + h.amountMicros, 0), tokens: mine.reduce((sum, h) => sum + h.tokens, 0) };
    const used = { day: usedIn(m.windows, 'day', terms.day.start, now), month: usedIn(m.windows, 'month', terms.period.start, now) };
    return [m.userId, { userId: m.userId, limits: m.limits, used, held }];
  }));
}

/** A member's caps: [] removes them. */
export const memberLimitsSchema = z
  .array(limitSchema, { error: 'must be an array of limits ({ window, unit, amount })' })
  .max(8, 'at most 8 caps per member')
  .meta({ description: 'The member\'s caps within the team\'s pool; [] removes them.' });

/**
 * A member's name as the host app shows it, so that the pages that list caps say who is capped,
 * not the host app's user id alone. The pattern (no control characters) is in the document too.
 */
export const memberNameSchema = text(100)
  .trim()
  .min(1, 'must not be empty')
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'must not contain control characters (line breaks, tabs, NUL…)')
  .meta({ description: 'The member\'s name, shown beside their caps (trimmed, 1–100 characters, no control characters); left out, the name stored stays.', example: 'Ada Lovelace' });

/** What else setMemberLimits takes: the member's name, kept as stored when left out. */
export const memberOptionsSchema = z.strictObject({ name: memberNameSchema.optional() });

export interface MemberLimits {
  accountId: string;
  userId: string;
  /** The member's name as last given; null if never given (or the caps were removed). */
  name: string | null;
  /** Empty: the member is no longer capped. */
  limits: Limit[];
}

/**
 * Cap a team member's usage (an empty list removes the caps, on any account). A new cap counts the member's
 * usage so far in the account's current day and period, from its usage events; a changed one
 * keeps its counters. Taken under the account's gate and ledger mutexes, in that order. The
 * user id (idSchema), the limits (memberLimitsSchema) and the name (memberNameSchema) come parsed
 * from the facade; a name left out keeps the one stored.
 */
export async function setMemberLimits(ctx: Context, accountId: string, userId: string, limits: Limit[], name?: string): Promise<MemberLimits> {
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const terms = await lockGate(tx, accountId, now);
    // Lifting is refused nowhere: caps set while the account was a team still hold once it is personal.
    if (terms.account.kind !== 'team' && limits.length > 0) {
      throw new BillingError('invalid_input', `Account "${accountId}" is a personal account: members are capped on team accounts only`, {
        issues: ['account: must be a team account'],
      });
    }
    // The ledger mutex, and its version moved: a charge prepared on counters read before this is not written.
    await tx.query('UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1', [accountId]);
    if (limits.length === 0) {
      await tx.query('DELETE FROM member_limits WHERE account_id = $1 AND user_id = $2', [accountId, userId]);
      return { accountId, userId, name: null, limits };
    }
    const [kept] = await tx.query<{ name: string | null }>(
      'UPDATE member_limits SET limits = $3, updated_at = $4, name = COALESCE($5, name) WHERE account_id = $1 AND user_id = $2 RETURNING name',
      [accountId, userId, JSON.stringify(limits), now, name ?? null],
    );
    if (!kept) {
      await tx.query('INSERT INTO member_limits (account_id, user_id, limits, usage, updated_at, name) VALUES ($1, $2, $3, $4, $5, $6)', [
        accountId, userId, JSON.stringify(limits), JSON.stringify(await usageSoFar(tx, terms, userId)), now, name ?? null,
      ]);
    }
    return { accountId, userId, name: kept ? kept.name : (name ?? null), limits };
  });
}

/** A member's usage in the account's current day and period, counted from its usage events. */
async function usageSoFar(tx: Sql, terms: Terms, userId: string): Promise<UsageWindows> {
  const [row] = await tx.query<{ day_value: number; day_tokens: number; month_value: number; month_tokens: number; usage_at: Date | null }>(
    `SELECT COALESCE(sum(value_micros) FILTER (WHERE occurred_at >= $3), 0)::bigint AS day_value,
       COALESCE(sum(input_tokens + output_tokens) FILTER (WHERE occurred_at >= $3), 0)::bigint AS day_tokens,
       COALESCE(sum(value_micros) FILTER (WHERE occurred_at >= $4), 0)::bigint AS month_value,
       COALESCE(sum(input_tokens + output_tokens) FILTER (WHERE occurred_at >= $4), 0)::bigint AS month_tokens,
       max(occurred_at) AS usage_at
     FROM usage_events WHERE account_id = $1 AND user_id = $2 AND occurred_at >= LEAST($3::timestamptz, $4::timestamptz)`,
    [terms.account.id, userId, terms.day.start, terms.period.start],
  );
  if (!row || row.usage_at === null) return NO_USAGE;
  const saturated = (n: number) => Math.min(Number(n), Number.MAX_SAFE_INTEGER);
  return {
    day: { current: { startsAt: terms.day.start, valueMicros: saturated(row.day_value), tokens: saturated(row.day_tokens) }, previous: null },
    month: { current: { startsAt: terms.period.start, valueMicros: saturated(row.month_value), tokens: saturated(row.month_tokens) }, previous: null },
    usageAt: row.usage_at,
  };
}
