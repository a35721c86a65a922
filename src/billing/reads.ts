/** Read-only views of an account: what it has now, and what it used. Reads never write. */
import { z } from 'zod';
import { usableSources, type BucketSource } from '../core/bucket.ts';
import { availableMicros } from '../core/gate.ts';
import type { Micros } from '../core/money.ts';
import type { Period } from '../core/periods.ts';
import { includedMicros, type Limit, type Plan } from '../core/plan.ts';
import { parseInput } from '../core/usage.ts';
import type { Context } from './context.ts';
import { readGate } from './snapshot.ts';
import { accountNotFound } from './terms.ts';

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
}

export async function balance(ctx: Context, accountId: string): Promise<Balance> {
  const now = ctx.clock();
  const { terms, state, allowanceOpen } = await readGate(ctx.sql, accountId, now);
  const usable = new Set(usableSources(terms.plan.overage));
  const rows = await ctx.sql.query<{ id: number; source: BucketSource; amount_micros: number; remaining_micros: number; starts_at: Date; expires_at: Date | null }>(
    `SELECT id, source, amount_micros, remaining_micros, starts_at, expires_at FROM buckets
     WHERE account_id = $1 AND remaining_micros > 0 AND (expires_at IS NULL OR expires_at > $2) ORDER BY priority, expires_at NULLS LAST, created_at, id`,
    [accountId, now],
  );
  const buckets: BucketView[] = rows.map((b) => ({
    id: b.id, source: b.source, amountMicros: b.amount_micros as Micros, remainingMicros: b.remaining_micros as Micros,
    startsAt: b.starts_at, expiresAt: b.expires_at, usable: usable.has(b.source) && b.starts_at <= now,
  }));
  const pending = (allowanceOpen ? 0 : includedMicros(terms.plan)) as Micros;
  if (pending > 0) {
    // Opening it will pay any debt first, as the next call will.
    buckets.unshift({ id: null, source: 'allowance', amountMicros: pending, remainingMicros: pending, startsAt: terms.period.start, expiresAt: terms.period.end, usable: true });
  }
  const withPending = { ...state, usableMicros: state.usableMicros + pending };
  return {
    accountId,
    plan: terms.plan,
    period: terms.period,
    availableMicros: availableMicros(withPending),
    heldMicros: state.held.valueMicros as Micros,
    debtMicros: Math.max(0, state.debtMicros - pending) as Micros,
    buckets,
    limits: terms.plan.limits.map((limit) => {
      const key = limit.unit === 'usd' ? 'valueMicros' : 'tokens';
      return { ...limit, used: state.used[limit.window][key], held: state.held[key], resetsAt: limit.window === 'day' ? terms.day.end : terms.period.end };
    }),
  };
}

const usageQuerySchema = z
  .object({
    from: z.coerce.date({ message: 'must be a date' }),
    to: z.coerce.date({ message: 'must be a date' }),
    groupBy: z.enum(['model', 'day']).default('model'),
  })
  .strict()
  .refine((q) => q.from <= q.to, { message: 'from must not be after to', path: ['from'] });

export interface UsageRow {
  /** The model id, or the day (YYYY-MM-DD in the account's time zone). */
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

export async function usage(ctx: Context, accountId: string, query: z.input<typeof usageQuerySchema>): Promise<{ rows: UsageRow[]; total: UsageRow }> {
  const q = parseInput(usageQuerySchema, query, 'usage query');
  const [account] = await ctx.sql.query<{ time_zone: string }>('SELECT time_zone FROM accounts WHERE id = $1', [accountId]);
  if (!account) throw accountNotFound(accountId);
  const key = q.groupBy === 'model' ? 'model' : `to_char(occurred_at AT TIME ZONE $4, 'YYYY-MM-DD')`;
  const rows = await ctx.sql.query<Record<string, number | string>>(
    `SELECT ${key} AS key, count(*)::bigint AS events,
       COALESCE(sum(input_tokens), 0)::bigint AS input, COALESCE(sum(output_tokens), 0)::bigint AS output,
       COALESCE(sum(cache_read_tokens), 0)::bigint AS cache_read, COALESCE(sum(cache_write_tokens), 0)::bigint AS cache_write,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning, COALESCE(sum(cost_micros), 0)::bigint AS cost,
       COALESCE(sum(value_micros), 0)::bigint AS value, COALESCE(sum(refunded_micros), 0)::bigint AS refunded
     FROM usage_events WHERE account_id = $1 AND occurred_at >= $2 AND occurred_at < $3
     GROUP BY 1 ORDER BY 1`,
    q.groupBy === 'day' ? [accountId, q.from, q.to, account.time_zone] : [accountId, q.from, q.to],
  );
  const toRow = (r: Record<string, number | string>): UsageRow => ({
    key: String(r.key), events: Number(r.events), inputTokens: Number(r.input), outputTokens: Number(r.output),
    cacheReadTokens: Number(r.cache_read), cacheWriteTokens: Number(r.cache_write), reasoningTokens: Number(r.reasoning),
    costMicros: Number(r.cost) as Micros, valueMicros: Number(r.value) as Micros, refundedMicros: Number(r.refunded) as Micros,
  });
  const list = rows.map(toRow);
  const total = list.reduce<UsageRow>(
    (t, r) => ({
      key: 'total', events: t.events + r.events, inputTokens: t.inputTokens + r.inputTokens, outputTokens: t.outputTokens + r.outputTokens,
      cacheReadTokens: t.cacheReadTokens + r.cacheReadTokens, cacheWriteTokens: t.cacheWriteTokens + r.cacheWriteTokens,
      reasoningTokens: t.reasoningTokens + r.reasoningTokens, costMicros: (t.costMicros + r.costMicros) as Micros,
      valueMicros: (t.valueMicros + r.valueMicros) as Micros, refundedMicros: (t.refundedMicros + r.refundedMicros) as Micros,
    }),
    { key: 'total', events: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costMicros: 0 as Micros, valueMicros: 0 as Micros, refundedMicros: 0 as Micros },
  );
  return { rows: list, total };
}
