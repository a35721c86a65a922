/** Read-only views of an account: what it has now, and what it used. Reads never write. */
import { autoRechargeOf, type AutoRechargeView } from '../grants/auto-recharge.ts';
import { z } from 'zod';
import { usableSources, type BucketSource } from '../../core/bucket.ts';
import { availableMicros, limitUse, type MemberGate } from '../../core/gate.ts';
import type { Micros } from '../../core/money.ts';
import type { Period } from '../../core/periods.ts';
import type { Limit, Plan } from '../../core/plan.ts';
import { hasStarted } from '../../core/time.ts';
import { instant, plain } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { withPendingAllowance } from '../gate/account-state.ts';
import { readGate } from '../gate/snapshot.ts';
import { accountNotFound, type Terms } from '../terms.ts';

export interface BucketView {
  /** null for this period's allowance that opens on the account's next call. */
  id: number | null;
  source: BucketSource;
  amountMicros: Micros;
  remainingMicros: Micros;
  startsAt: Date;
  expiresAt: Date | null;
  /** Whether the current plan may spend it (purchased credit needs overage = credits). */
  usable: boolean;
}

export interface LimitView extends Limit {
  used: number;
  held: number;
  resetsAt: Date;
}

/** A member the account caps, and each cap's use. */
export interface MemberView {
  userId: string;
  /** The name the caps were last set with (setMemberLimits); null if never given. */
  name: string | null;
  limits: LimitView[];
}

export interface Balance {
  accountId: string;
  plan: Plan;
  period: Period;
  /** Value a new call may still reserve: usable buckets less open holds less debt. */
  availableMicros: Micros;
  heldMicros: Micros;
  debtMicros: Micros;
  buckets: BucketView[];
  limits: LimitView[];
  /** The members whose usage the account caps (team accounts), with each cap's use. */
  members: MemberView[];
  /** The account's auto-recharge setting and its state (why it turned itself off, if it did); null if never set. */
  autoRecharge: AutoRechargeView | null;
}

export async function balance(ctx: Context, accountId: string): Promise<Balance> {
  const now = ctx.clock();
  const snap = await readGate(ctx.sql, accountId, now);
  const { terms, state, members } = snap;
  const usable = new Set(usableSources(terms.plan.overage));
  const rows = await ctx.sql.query<{ id: number; source: BucketSource; amount_micros: number; remaining_micros: number; starts_at: Date; expires_at: Date | null }>(
    `SELECT id, source, amount_micros, remaining_micros, starts_at, expires_at FROM buckets
     WHERE account_id = $1 AND remaining_micros > 0 AND (expires_at IS NULL OR expires_at > $2) ORDER BY priority, expires_at NULLS LAST, created_at, id`,
    [accountId, now],
  );
  const buckets: BucketView[] = rows.map((b) => ({
    id: b.id, source: b.source, amountMicros: b.amount_micros as Micros, remainingMicros: b.remaining_micros as Micros,
    startsAt: b.starts_at, expiresAt: b.expires_at, usable: usable.has(b.source) && hasStarted(b.starts_at, now),
  }));
  const { state: opened, pendingMicros: pending } = withPendingAllowance(snap);
  if (pending > 0) {
    // Opening it will pay any debt first, as the next call will.
    buckets.unshift({ id: null, source: 'allowance', amountMicros: pending, remainingMicros: pending, startsAt: terms.period.start, expiresAt: terms.period.end, usable: true });
  }
  return {
    accountId,
    plan: terms.plan,
    period: terms.period,
    availableMicros: availableMicros(opened),
    heldMicros: state.held.valueMicros as Micros,
    debtMicros: opened.debtMicros as Micros,
    buckets,
    limits: limitViews(terms.plan.limits, state, terms),
    members: await memberViews(ctx, accountId, members, terms),
    autoRecharge: await autoRechargeOf(ctx.sql, accountId, now),
  };
}

/** The capped members with their names, read apart from the gate's state, which has no use for them: none for most accounts. */
async function memberViews(ctx: Context, accountId: string, members: ReadonlyMap<string, MemberGate>, terms: Pick<Terms, 'day' | 'period'>): Promise<MemberView[]> {
  if (members.size === 0) return [];
  const rows = await ctx.sql.query<{ user_id: string; name: string | null }>('SELECT user_id, name FROM member_limits WHERE account_id = $1', [accountId]);
  const names = new Map(rows.map((r) => [r.user_id, r.name]));
  return [...members.values()].map((m) => ({ userId: m.userId, name: names.get(m.userId) ?? null, limits: limitViews(m.limits, m, terms) }));
}

function limitViews(limits: readonly Limit[], use: Pick<MemberGate, 'used' | 'held'>, terms: Pick<Terms, 'day' | 'period'>): LimitView[] {
  return limits.map((limit) => ({ ...limit, ...limitUse(limit, use), resetsAt: limit.window === 'day' ? terms.day.end : terms.period.end }));
}

/** What a usage report may be grouped by: the query and the report (and the API's document) share it. */
export const usageGroupSchema = z.enum(['model', 'day', 'user']);

export const usageQuerySchema = plain(
  z
    .object({
      from: instant.meta({ description: 'The range\'s start, included.', example: '2026-03-01' }),
      to: instant.meta({ description: 'The range\'s end, excluded.', example: '2026-04-01' }),
      groupBy: usageGroupSchema.default('model').meta({ description: 'By model, by day in the account\'s time zone, or by the member who made the call.' }),
    })
    .strict()
    .refine((q) => q.from <= q.to, { message: 'from must not be after to', path: ['from'] }),
);
export type UsageQuery = z.input<typeof usageQuerySchema>;

export interface UsageRow {
  /** The model id, the day (YYYY-MM-DD in the account's time zone), or the user id ('' for usage that named no user). */
  key: string;
  events: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: Micros;
  valueMicros: Micros;
  refundedMicros: Micros;
}

/** A sum of a column, as numeric (no overflow), saturated at 2^53 − 1 so that it reads back as a safe integer. */
export const saturatedSum = (column: string) => `LEAST(COALESCE(sum(${column}), 0), ${Number.MAX_SAFE_INTEGER})::bigint`;

/**
 * Usage by model, by day or by user, and its total (the rollup's row). Each figure is a sum over usage
 * events and saturates at 2^53 − 1: beyond that it is not a usable number anyway. The query
 * comes parsed from the facade.
 */
export async function usage(ctx: Context, accountId: string, q: z.output<typeof usageQuerySchema>): Promise<{ rows: UsageRow[]; total: UsageRow }> {
  const [account] = await ctx.sql.query<{ time_zone: string }>('SELECT time_zone FROM accounts WHERE id = $1', [accountId]);
  if (!account) throw accountNotFound(accountId);
  const key = { model: 'model', user: `COALESCE(user_id, '')`, day: `to_char(occurred_at AT TIME ZONE $4, 'YYYY-MM-DD')` }[q.groupBy];
  const rows = await ctx.sql.query<Record<string, number | string | boolean>>(
    `SELECT ${key} AS key, GROUPING(${key}) = 1 AS total, count(*)::bigint AS events,
       ${saturatedSum('input_tokens')} AS input, ${saturatedSum('output_tokens')} AS output,
       ${saturatedSum('cache_read_tokens')} AS cache_read, ${saturatedSum('cache_write_tokens')} AS cache_write,
       ${saturatedSum('reasoning_tokens')} AS reasoning, ${saturatedSum('cost_micros')} AS cost,
       ${saturatedSum('value_micros')} AS value, ${saturatedSum('refunded_micros')} AS refunded
     FROM usage_events WHERE account_id = $1 AND occurred_at >= $2 AND occurred_at < $3
     GROUP BY ROLLUP (${key}) ORDER BY 2, 1`,
    q.groupBy === 'day' ? [accountId, q.from, q.to, account.time_zone] : [accountId, q.from, q.to],
  );
  const toRow = (r: Record<string, number | string | boolean>): UsageRow => ({
    key: r.total ? 'total' : String(r.key), events: Number(r.events), inputTokens: Number(r.input), outputTokens: Number(r.output),
    cacheReadTokens: Number(r.cache_read), cacheWriteTokens: Number(r.cache_write), reasoningTokens: Number(r.reasoning),
    costMicros: Number(r.cost) as Micros, valueMicros: Number(r.value) as Micros, refundedMicros: Number(r.refunded) as Micros,
  });
  const list = rows.map(toRow);
  return { rows: list.slice(0, -1), total: list.at(-1)! };
}
