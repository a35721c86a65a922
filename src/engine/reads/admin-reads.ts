/**
 * Reads the admin panel needs beyond an account's own balance and usage: the accounts with
 * what each has and used this month, one account's recent events and ledger, revenue and
 * provider cost across all accounts, and what applying a preset would change. Reads never write.
 */
import { z } from 'zod';
import { availableMicros } from '../../core/gate.ts';
import { instant, int4, parseInput, plain, text } from '../../core/input.ts';
import type { Micros } from '../../core/money.ts';
import { calendarMonthPeriod, type Period } from '../../core/periods.ts';
import type { Plan } from '../../core/plan.ts';
import type { PresetDiff } from '../../core/presets.ts';
import type { PricingMode } from '../../core/settings.ts';
import { gateSnapshot, withPendingAllowance } from '../gate/account-state.ts';
import { saturatedSum } from './reads.ts';
import { readPresetDiff } from '../catalog/presets.ts';
import type { Context } from '../context.ts';
import { readStates } from '../gate/snapshot.ts';
import { accountNotFound } from '../terms.ts';

/** A page of a list: at most 200 rows, from `offset`. */
const pageSchema = {
  limit: int4.min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
  offset: int4.min(0, 'must not be negative').default(0),
};

/** `text` as a case-insensitive LIKE pattern that matches it anywhere, its own % and _ taken literally. */
export function containsPattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}


// ---------------------------------------------------------------------------------------------
// Accounts

export interface AccountListRow {
  id: string;
  name: string;
  kind: 'personal' | 'team';
  /** The plan in force (the default plan once a canceled one has run out). */
  plan: Pick<Plan, 'slug' | 'name' | 'priceCents'>;
  /** As balance() counts it: usable buckets and this period's pending allowance, less holds and debt. */
  availableMicros: Micros;
  debtMicros: Micros;
  /** Usage this calendar month (UTC): events, value charged, provider cost. */
  month: { events: number; valueMicros: Micros; costMicros: Micros };
}

const accountListSchema = plain(z.object({ search: text(200).optional(), ...pageSchema }).strict());

/** Accounts whose id or name contains `search`, by id, with their plan, what they have, and this month's usage. */
export async function listAccounts(
  ctx: Context,
  query: z.input<typeof accountListSchema> = {},
): Promise<{ rows: AccountListRow[]; total: number; month: Period }> {
  const q = parseInput(accountListSchema, query, 'account list');
  const now = ctx.clock();
  const month = calendarMonthPeriod(now, 'UTC');
  const pattern = q.search?.trim() ? containsPattern(q.search.trim()) : null;
  const page = await ctx.sql.query<{ id: string; total: number }>(
    `SELECT id, count(*) OVER ()::bigint AS total FROM accounts
     WHERE $1::text IS NULL OR id ILIKE $1 OR name ILIKE $1 ORDER BY id LIMIT $2 OFFSET $3`,
    [pattern, q.limit, q.offset],
  );
  const ids = page.map((r) => r.id);
  if (ids.length === 0) {
    const [count] = await ctx.sql.query<{ total: number }>('SELECT count(*)::bigint AS total FROM accounts WHERE $1::text IS NULL OR id ILIKE $1 OR name ILIKE $1', [pattern]);
    return { rows: [], total: Number(count?.total ?? 0), month };
  }
  const states = await readStates(ctx.sql, ids, now);
  const usage = await ctx.sql.query<{ account_id: string; events: number; value: number; cost: number }>(
    `SELECT account_id, count(*)::bigint AS events, ${saturatedSum('value_micros')} AS value, ${saturatedSum('cost_micros')} AS cost
     FROM usage_events WHERE account_id = ANY ($1::text[]) AND occurred_at >= $2 AND occurred_at < $3 GROUP BY account_id`,
    [ids, month.start, month.end],
  );
  const used = new Map(usage.map((u) => [u.account_id, u]));
  const rows = ids.flatMap((id): AccountListRow[] => {
    const state = states.get(id);
    if (!state) return []; // created between the two reads' snapshots: on the next page load
    const snap = gateSnapshot(state, now);
    const { terms } = snap;
    // This period's allowance opens on the account's next call; until then it counts as balance() counts it.
    const { state: gate } = withPendingAllowance(snap);
    const u = used.get(id);
    return [{
      id,
      name: terms.account.name,
      kind: terms.account.kind,
      plan: { slug: terms.plan.slug, name: terms.plan.name, priceCents: terms.plan.priceCents },
      availableMicros: availableMicros(gate),
      debtMicros: gate.debtMicros as Micros,
      month: { events: Number(u?.events ?? 0), valueMicros: Number(u?.value ?? 0) as Micros, costMicros: Number(u?.cost ?? 0) as Micros },
    }];
  });
  return { rows, total: Number(page[0]!.total), month };
}

export interface UsageEventView {
  id: number;
  occurredAt: Date;
  model: string;
  provider: string;
  userId: string | null;
  idempotencyKey: string;
  inputTokens: number;
  outputTokens: number;
  costMicros: Micros;
  valueMicros: Micros;
  refundedMicros: Micros;
}

export interface LedgerEntryView {
  id: number;
  createdAt: Date;
  kind: 'grant' | 'usage' | 'refund' | 'debt_payment' | 'adjustment' | 'expiry' | 'payment_refund';
  amountMicros: Micros;
  bucketId: number | null;
  /** The bucket's source; null for an entry on the debt. */
  bucketSource: string | null;
  usageEventId: number | null;
  /** The processor's reference of the payment an entry names (a payment's refund or dispute). */
  paymentRef: string | null;
}

const activitySchema = plain(z.object({ limit: pageSchema.limit }).strict()).optional();

/** An account's latest usage events and ledger entries, newest first. */
export async function accountActivity(
  ctx: Context,
  accountId: string,
  query?: z.input<typeof activitySchema>,
): Promise<{ usageEvents: UsageEventView[]; ledger: LedgerEntryView[] }> {
  const { limit } = parseInput(activitySchema, query, 'activity query') ?? { limit: 50 };
  const [account] = await ctx.sql.query('SELECT 1 FROM accounts WHERE id = $1', [accountId]);
  if (!account) throw accountNotFound(accountId);
  const events = await ctx.sql.query<{
    id: number; occurred_at: Date; model: string; provider: string; user_id: string | null; idempotency_key: string;
    input_tokens: number; output_tokens: number; cost_micros: number; value_micros: number; refunded_micros: number;
  }>(
    `SELECT id, occurred_at, model, provider, user_id, idempotency_key, input_tokens, output_tokens, cost_micros, value_micros, refunded_micros
     FROM usage_events WHERE account_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2`,
    [accountId, limit],
  );
  const entries = await ctx.sql.query<{
    id: number; created_at: Date; kind: LedgerEntryView['kind']; amount_micros: number; bucket_id: number | null; source: string | null; usage_event_id: number | null;
    payment_ref: string | null;
  }>(
    `SELECT l.id, l.created_at, l.kind, l.amount_micros, l.bucket_id, b.source, l.usage_event_id, p.processor_ref AS payment_ref
     FROM ledger_entries l LEFT JOIN buckets b ON b.id = l.bucket_id LEFT JOIN payments p ON p.id = l.payment_id
     WHERE l.account_id = $1 ORDER BY l.id DESC LIMIT $2`,
    [accountId, limit],
  );
  return {
    usageEvents: events.map((e) => ({
      id: e.id, occurredAt: e.occurred_at, model: e.model, provider: e.provider, userId: e.user_id, idempotencyKey: e.idempotency_key,
      inputTokens: e.input_tokens, outputTokens: e.output_tokens, costMicros: e.cost_micros as Micros, valueMicros: e.value_micros as Micros,
      refundedMicros: e.refunded_micros as Micros,
    })),
    ledger: entries.map((l) => ({
      id: l.id, createdAt: l.created_at, kind: l.kind, amountMicros: l.amount_micros as Micros, bucketId: l.bucket_id, bucketSource: l.source,
      usageEventId: l.usage_event_id, paymentRef: l.payment_ref,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Analytics

export interface AnalyticsRow {
  /** The day (YYYY-MM-DD, UTC) or the model. */
  key: string;
  events: number;
  inputTokens: number;
  outputTokens: number;
  /** Provider cost. */
  costMicros: Micros;
  /** Usage value charged: the revenue. */
  valueMicros: Micros;
  refundedMicros: Micros;
  /** What is kept: value charged, less refunds, less provider cost. */
  marginMicros: Micros;
}

/** At most this many days in one range: a chart of more says nothing a month-by-month view would not. */
export const MAX_ANALYTICS_DAYS = 1_000;
const DAY_MS = 86_400_000;

const analyticsSchema = plain(
  z
    .object({ from: instant, to: instant })
    .strict()
    .refine((q) => q.from < q.to, { message: 'from must be before to', path: ['from'] })
    .refine((q) => q.to.getTime() - q.from.getTime() <= MAX_ANALYTICS_DAYS * DAY_MS, { message: `the range must be at most ${MAX_ANALYTICS_DAYS} days`, path: ['to'] }),
);

/**
 * Revenue (usage value charged), refunds, provider cost and margin over every account, for usage
 * from `from` up to `to`: by UTC day (every day of the range, those without usage as zeros), by
 * model (highest revenue first), and in total.
 */
export async function analytics(ctx: Context, query: z.input<typeof analyticsSchema>): Promise<{ byDay: AnalyticsRow[]; byModel: AnalyticsRow[]; total: AnalyticsRow }> {
  const { from, to } = parseInput(analyticsSchema, query, 'analytics range');
  const figures = `count(*)::bigint AS events, ${saturatedSum('input_tokens')} AS input, ${saturatedSum('output_tokens')} AS output,
    ${saturatedSum('cost_micros')} AS cost, ${saturatedSum('value_micros')} AS value, ${saturatedSum('refunded_micros')} AS refunded`;
  type Row = { key: string; events: number; input: number; output: number; cost: number; value: number; refunded: number };
  const toRow = (r: Row): AnalyticsRow => ({
    key: r.key, events: Number(r.events), inputTokens: Number(r.input), outputTokens: Number(r.output), costMicros: Number(r.cost) as Micros,
    valueMicros: Number(r.value) as Micros, refundedMicros: Number(r.refunded) as Micros,
    marginMicros: (Number(r.value) - Number(r.refunded) - Number(r.cost)) as Micros,
  });
  const day = `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
  const days = await ctx.sql.query<Row>(
    `SELECT ${day} AS key, ${figures} FROM usage_events WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1 ORDER BY 1`,
    [from, to],
  );
  const models = await ctx.sql.query<Row>(
    `SELECT model AS key, ${figures} FROM usage_events WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1 ORDER BY value DESC, 1`,
    [from, to],
  );
  const byDate = new Map(days.map((r) => [r.key, toRow(r)]));
  const byDay: AnalyticsRow[] = [];
  for (let t = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()); t < to.getTime(); t += DAY_MS) {
    const key = new Date(t).toISOString().slice(0, 10);
    byDay.push(byDate.get(key) ?? toRow({ key, events: 0, input: 0, output: 0, cost: 0, value: 0, refunded: 0 }));
  }
  const byModel = models.map(toRow);
  const total = byModel.reduce(
    (t, r) => toRow({
      key: 'total', events: t.events + r.events, input: t.inputTokens + r.inputTokens, output: t.outputTokens + r.outputTokens,
      cost: t.costMicros + r.costMicros, value: t.valueMicros + r.valueMicros, refunded: t.refundedMicros + r.refundedMicros,
    }),
    toRow({ key: 'total', events: 0, input: 0, output: 0, cost: 0, value: 0, refunded: 0 }),
  );
  return { byDay, byModel, total };
}

// ---------------------------------------------------------------------------------------------
// Presets

/** What applying the preset `mode` would do to the catalog: the diff that applyPreset applies. */
export function previewPreset(ctx: Context, mode: PricingMode): Promise<PresetDiff> {
  return readPresetDiff(ctx.sql, mode);
}
