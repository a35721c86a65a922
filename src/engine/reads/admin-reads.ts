/**
 * Reads the admin panel needs beyond an account's own balance and usage: the accounts with
 * what each has and used this month, one account's recent events and ledger, what applying a
 * preset would change, and which accounts are on a plan or hold a pack's credit (the money view
 * is money.ts). Reads never write.
 */
import { z } from 'zod';
import { availableMicros } from '../../core/gate.ts';
import { int4, parseInput, plain, text } from '../../core/input.ts';
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
  /** Usage this calendar month (UTC): events, value charged less usage refunds (as the money view and billing page count it), provider cost. */
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
    // Nothing from the first row on is nothing at all: a search that matches no account reads the accounts once, not twice.
    if (q.offset === 0) return { rows: [], total: 0, month };
    const [count] = await ctx.sql.query<{ total: number }>('SELECT count(*)::bigint AS total FROM accounts WHERE $1::text IS NULL OR id ILIKE $1 OR name ILIKE $1', [pattern]);
    return { rows: [], total: Number(count?.total ?? 0), month };
  }
  const states = await readStates(ctx.sql, ids, now);
  const usage = await ctx.sql.query<{ account_id: string; events: number; value: number; cost: number }>(
    `SELECT account_id, count(*)::bigint AS events, ${saturatedSum('value_micros - refunded_micros')} AS value, ${saturatedSum('cost_micros')} AS cost
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
// Presets

/** What applying the preset `mode` would do to the catalog: the diff that applyPreset applies. */
export function previewPreset(ctx: Context, mode: PricingMode): Promise<PresetDiff> {
  return readPresetDiff(ctx.sql, mode);
}

// ---------------------------------------------------------------------------------------------
// Who an action on a plan or pack reaches

/** How many accounts an action reaches, and the first few of them by id. */
export interface Holders {
  accounts: number;
  firstIds: string[];
}

const FIRST_FEW = 5;

/**
 * Each plan's accounts counted on its index (migration 0033), and its first few ids read from it
 * in order: not every account read and each plan's ids sorted.
 */
export const PLAN_HOLDERS = `SELECT p.slug, h.accounts, ARRAY(SELECT a.id FROM accounts a WHERE a.plan_id = p.id ORDER BY a.id LIMIT ${FIRST_FEW}) AS first_ids
  FROM plans p CROSS JOIN LATERAL (SELECT count(*)::bigint AS accounts FROM accounts a WHERE a.plan_id = p.id) h
  WHERE p.slug = ANY ($1::text[]) AND h.accounts > 0`;

/** The accounts on each of the plans `slugs` names (a plan nobody is on is left out). */
export async function planHolders(ctx: Context, slugs: readonly string[]): Promise<Map<string, Holders>> {
  const rows = await ctx.sql.query<{ slug: string; accounts: number; first_ids: string[] }>(PLAN_HOLDERS, [slugs]);
  return new Map(rows.map((r) => [r.slug, { accounts: Number(r.accounts), firstIds: r.first_ids }]));
}

/** The accounts with value left unspent and unexpired in buckets the pack `slug` granted (bought or recharged), and how much. */
export async function packHolders(ctx: Context, slug: string): Promise<Holders & { unspentMicros: Micros }> {
  const [row] = await ctx.sql.query<{ accounts: number; first_ids: string[] | null; unspent: string | null }>(
    `SELECT count(DISTINCT b.account_id)::bigint AS accounts, (array_agg(DISTINCT b.account_id ORDER BY b.account_id))[1:${FIRST_FEW}] AS first_ids,
            sum(b.remaining_micros)::text AS unspent
       FROM buckets b JOIN packs k ON k.id = b.pack_id
      WHERE k.slug = $1 AND b.remaining_micros > 0 AND (b.expires_at IS NULL OR b.expires_at > $2)`,
    [slug, ctx.clock()],
  );
  return { accounts: Number(row?.accounts ?? 0), firstIds: row?.first_ids ?? [], unspentMicros: Number(row?.unspent ?? 0) as Micros };
}
