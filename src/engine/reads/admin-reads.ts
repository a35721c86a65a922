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
import { includedMicros, type Plan } from '../../core/plan.ts';
import type { Pack } from '../../core/pack.ts';
import { PRESETS } from '../../core/presets.ts';
import { PRICING_MODES, type PricingMode } from '../../core/settings.ts';
import { gateSnapshot, withPendingAllowance } from '../gate/account-state.ts';
import { saturatedSum } from './reads.ts';
import { listPacks, listPlans } from '../catalog/catalog.ts';
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
  kind: 'grant' | 'usage' | 'refund' | 'debt_payment' | 'adjustment' | 'expiry';
  amountMicros: Micros;
  bucketId: number | null;
  /** The bucket's source; null for an entry on the debt. */
  bucketSource: string | null;
  usageEventId: number | null;
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
  }>(
    `SELECT l.id, l.created_at, l.kind, l.amount_micros, l.bucket_id, b.source, l.usage_event_id
     FROM ledger_entries l LEFT JOIN buckets b ON b.id = l.bucket_id WHERE l.account_id = $1 ORDER BY l.id DESC LIMIT $2`,
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
      usageEventId: l.usage_event_id,
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

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export interface PresetPreview {
  mode: PricingMode;
  defaultPlan: string;
  displayUnit: 'usd' | 'credits';
  plans: {
    create: { slug: string; name: string; priceCents: number; includedMicros: Micros }[];
    update: { slug: string; name: string; changes: FieldChange[] }[];
    /** Named by the preset and already as it says. */
    unchanged: { slug: string; name: string }[];
    /** Taken off sale, kept for the accounts on them. */
    legacy: { slug: string; name: string; accounts: number }[];
    archive: { slug: string; name: string }[];
    /** Neither named by the preset nor on sale: left as they are. */
    untouched: { slug: string; name: string; status: string }[];
  };
  packs: {
    create: { slug: string; name: string; priceCents: number }[];
    update: { slug: string; name: string; changes: FieldChange[] }[];
    unchanged: { slug: string; name: string }[];
    archive: { slug: string; name: string }[];
    untouched: { slug: string; name: string; status: string }[];
  };
}

/** The fields a preset sets on a plan, as they read on a Plan. */
const PLAN_FIELDS = ['name', 'status', 'priceCents', 'surchargeCents', 'includedMicros', 'limits', 'overage', 'models', 'public', 'sort'] as const;
const PACK_FIELDS = ['name', 'status', 'priceCents', 'valueMicros', 'expiresAfterDays', 'requiresPlan', 'public', 'sort'] as const;

/** What changes when `merged` (the current fields with the preset's over them) replaces `current`. */
function changes(current: Record<string, unknown>, merged: Record<string, unknown>, fields: readonly string[]): FieldChange[] {
  return fields.filter((f) => canonical(current[f]) !== canonical(merged[f])).map((f) => ({ field: f, from: current[f] ?? null, to: merged[f] ?? null }));
}

/** JSON with object keys sorted, so that jsonb's key order (shortest first) compares equal to a literal's. */
function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

const planFields = (p: Plan): Record<string, unknown> => ({
  name: p.name, status: p.status, priceCents: p.priceCents, surchargeCents: p.surchargeCents, includedMicros: p.includedMicrosOverride,
  limits: p.limits, overage: p.overage, models: p.models, public: p.public, sort: p.sort,
});
const packFields = (p: Pack): Record<string, unknown> => ({
  name: p.name, status: p.status, priceCents: p.priceCents, valueMicros: p.valueMicrosOverride, expiresAfterDays: p.expiresAfterDays,
  requiresPlan: p.requiresPlan, public: p.public, sort: p.sort,
});

/**
 * What applying the preset `mode` would do to the catalog, as applyPreset does it: its plans and
 * packs are created, or updated over what they are now (fields it does not name are kept), and
 * made active; other plans on sale become legacy when accounts are on them, else archived; other
 * packs on sale are archived; everything else is left alone. Nobody's credit is touched.
 */
export async function previewPreset(ctx: Context, mode: PricingMode): Promise<PresetPreview> {
  const preset = PRESETS[parseInput(z.enum(PRICING_MODES), mode, 'pricing mode')];
  const onPlan = new Map(
    (await ctx.sql.query<{ plan_id: number; accounts: number }>('SELECT plan_id, count(*)::bigint AS accounts FROM accounts GROUP BY plan_id')).map((r) => [r.plan_id, Number(r.accounts)]),
  );
  const plans = sortOut(preset.plans, await listPlans(ctx.sql), planFields, PLAN_FIELDS);
  const packs = sortOut(preset.packs, await listPacks(ctx.sql), packFields, PACK_FIELDS);
  const named = ({ slug, name }: { slug: string; name: string }) => ({ slug, name });
  const onSale = plans.others.filter((p) => p.status === 'active');
  return {
    mode: preset.mode,
    defaultPlan: preset.defaultPlan,
    displayUnit: preset.displayUnit,
    plans: {
      create: plans.create.map(({ slug, name, priceCents, surchargeCents = 0, includedMicros: explicit }) => ({
        slug, name, priceCents, includedMicros: includedMicros({ priceCents, surchargeCents, includedMicrosOverride: (explicit ?? null) as Micros | null }),
      })),
      update: plans.update,
      unchanged: plans.unchanged,
      legacy: onSale.filter((p) => onPlan.has(p.id)).map((p) => ({ ...named(p), accounts: onPlan.get(p.id)! })),
      archive: onSale.filter((p) => !onPlan.has(p.id)).map(named),
      untouched: plans.others.filter((p) => p.status !== 'active').map((p) => ({ ...named(p), status: p.status })),
    },
    packs: {
      create: packs.create.map(({ slug, name, priceCents }) => ({ slug, name, priceCents })),
      update: packs.update,
      unchanged: packs.unchanged,
      archive: packs.others.filter((p) => p.status === 'active').map(named),
      untouched: packs.others.filter((p) => p.status !== 'active').map((p) => ({ ...named(p), status: p.status })),
    },
  };
}

/**
 * The preset's items sorted against the catalog: those to create, those to update over what they
 * are (with what changes) or already as the preset says, and the catalog's items it does not name.
 */
function sortOut<I extends { slug: string; name: string }, C extends { slug: string; name: string }>(
  items: readonly I[],
  catalog: readonly C[],
  fieldsOf: (current: C) => Record<string, unknown>,
  fields: readonly string[],
) {
  const bySlug = new Map(catalog.map((c) => [c.slug, c]));
  const sorted = { create: [] as I[], update: [] as { slug: string; name: string; changes: FieldChange[] }[], unchanged: [] as { slug: string; name: string }[] };
  for (const item of items) {
    const current = bySlug.get(item.slug);
    if (!current) {
      sorted.create.push(item);
      continue;
    }
    const before = fieldsOf(current);
    const diff = changes(before, { ...before, ...item, status: 'active' }, fields);
    if (diff.length) sorted.update.push({ slug: item.slug, name: item.name, changes: diff });
    else sorted.unchanged.push({ slug: item.slug, name: item.name });
  }
  const named = new Set(items.map((i) => i.slug));
  return { ...sorted, others: catalog.filter((c) => !named.has(c.slug)) };
}
