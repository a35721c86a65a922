/**
 * The money view: over a range of UTC days, across every account, the money collected through the
 * processors and what usage charged, side by side. Everything a page, a chart, a CSV or the API
 * shows comes from one call, which reads each side once, grouped by day and model (usage) or by
 * day, processor and kind (payments), and adds the days, the models, the sources and the total
 * up from those same rows: no two of them can disagree.
 *
 * Each figure is named once, here:
 *   - money collected = payments received (packs, subscriptions, recharges), less refunds and
 *     disputes, each on the day it happened: a payment on the day it was paid, a refund or a
 *     dispute on the day it applied. In cents, as the processors charge. A dispute won gives
 *     back, on its day, what it says was won, at most what the payment's disputes took (the
 *     value taken from the account stays taken: that is the ledger's, not the money's).
 *   - usage value charged = what usage events charged, net of the usage refunds given back on
 *     them, on the day of the usage. In micro-dollars.
 *   - provider cost = the provider's cost of that usage, at the price of its day.
 *   - margin = usage value charged − provider cost.
 */
import { z } from 'zod';
import { instant, plain } from '../../core/input.ts';
import type { Micros } from '../../core/money.ts';
import type { Context } from '../context.ts';
import { saturatedSum } from './reads.ts';

/** At most this many days in one range: a chart of more says nothing a month-by-month view would not. */
export const MAX_MONEY_DAYS = 1_000;
const DAY_MS = 86_400_000;

export const moneyRangeSchema = plain(
  z
    .object({
      from: instant.meta({ description: 'The range\'s start (a UTC day or a moment), included.', example: '2026-03-01' }),
      to: instant.meta({ description: 'The range\'s end, excluded.', example: '2026-04-01' }),
    })
    .strict()
    .refine((q) => q.from < q.to, { message: 'from must be before to', path: ['from'] })
    .refine((q) => q.to.getTime() - q.from.getTime() <= MAX_MONEY_DAYS * DAY_MS, { message: `the range must be at most ${MAX_MONEY_DAYS} days`, path: ['to'] }),
);
export type MoneyRange = z.input<typeof moneyRangeSchema>;

/** What a payment was for: a pack bought, a subscription's period, or a pack auto-recharge bought. */
export type PaymentKind = 'pack' | 'subscription' | 'recharge';

/** Money through the processors, in cents. */
export interface Collected {
  /** Payments received. */
  payments: number;
  paidCents: number;
  refundedCents: number;
  /** What disputes took, less what disputes won gave back. */
  disputedCents: number;
  /** paid − refunded − disputed: what was kept. */
  netCents: number;
}

/** Usage, across accounts. */
export interface UsageMoney {
  events: number;
  inputTokens: number;
  outputTokens: number;
  /** What the usage charged before usage refunds. */
  chargedMicros: Micros;
  /** Usage refunds given back on it. */
  refundedMicros: Micros;
  /** Usage value charged: charged − refunded. */
  valueMicros: Micros;
  costMicros: Micros;
  /** value − cost. */
  marginMicros: Micros;
}

export interface MoneyDay {
  /** YYYY-MM-DD, UTC. */
  day: string;
  collected: Collected;
  usage: UsageMoney;
}

export interface MoneyView {
  from: Date;
  to: Date;
  /** Every UTC day of the range, oldest first, days without anything as zeros. */
  days: MoneyDay[];
  /** Money collected by processor and kind, most kept first. */
  sources: (Collected & { processor: string; kind: PaymentKind })[];
  /** Usage by model, most value first. */
  models: (UsageMoney & { model: string })[];
  total: { collected: Collected; usage: UsageMoney };
}

const noCollected = (): Collected => ({ payments: 0, paidCents: 0, refundedCents: 0, disputedCents: 0, netCents: 0 });
const noUsage = (): UsageMoney => ({
  events: 0, inputTokens: 0, outputTokens: 0, chargedMicros: 0 as Micros, refundedMicros: 0 as Micros, valueMicros: 0 as Micros, costMicros: 0 as Micros, marginMicros: 0 as Micros,
});

function addCollected(into: Collected, r: { payments: number; paid: number; refunded: number; disputed: number }): void {
  into.payments += r.payments;
  into.paidCents += r.paid;
  into.refundedCents += r.refunded;
  into.disputedCents += r.disputed;
  into.netCents = into.paidCents - into.refundedCents - into.disputedCents;
}

function addUsage(into: UsageMoney, r: { events: number; input: number; output: number; charged: number; refunded: number; cost: number }): void {
  into.events += r.events;
  into.inputTokens += r.input;
  into.outputTokens += r.output;
  into.chargedMicros = (into.chargedMicros + r.charged) as Micros;
  into.refundedMicros = (into.refundedMicros + r.refunded) as Micros;
  into.costMicros = (into.costMicros + r.cost) as Micros;
  into.valueMicros = (into.chargedMicros - into.refundedMicros) as Micros;
  into.marginMicros = (into.valueMicros - into.costMicros) as Micros;
}

const dayOf = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;

/**
 * A payment's kind as the owner thinks of it: a pack auto-recharge bought is a recharge (its job
 * names the payment).
 */
const paymentKind = `CASE WHEN p.kind = 'pack' AND EXISTS (
    SELECT 1 FROM recharges x WHERE x.account_id = p.account_id AND x.processor = p.processor AND x.payment_ref = p.processor_ref
  ) THEN 'recharge' ELSE p.kind END`;

/**
 * Usage over [$1, $2) by UTC day and model, across every account. The range is on the bare
 * column, so the planner can take it to usage_events_time (a BRIN index, migration 0028)
 * rather than read every event ever recorded.
 */
export const USAGE_BY_DAY_AND_MODEL = `SELECT ${dayOf('occurred_at')} AS day, model, count(*)::bigint AS events, ${saturatedSum('input_tokens')} AS input, ${saturatedSum('output_tokens')} AS output,
       ${saturatedSum('value_micros')} AS charged, ${saturatedSum('refunded_micros')} AS refunded, ${saturatedSum('cost_micros')} AS cost
     FROM usage_events WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1, 2`;

/**
 * Money collected over [$1, $2) by UTC day, processor and kind: payments on the day paid, refunds
 * and disputes on the day they applied. Each range is on a bare column with an index of its own
 * (migration 0032), so a month's view reads that month's payments, not every payment ever made.
 */
export const MONEY_BY_DAY_AND_SOURCE = `SELECT day, processor, kind, sum(payments)::bigint AS payments, sum(paid)::bigint AS paid, sum(refunded)::bigint AS refunded, sum(disputed)::bigint AS disputed
   FROM (
     SELECT ${dayOf('p.created_at')} AS day, p.processor, ${paymentKind} AS kind, 1 AS payments, p.amount_cents AS paid, 0 AS refunded, 0 AS disputed
     FROM payments p WHERE p.status <> 'failed' AND p.created_at >= $1 AND p.created_at < $2
     UNION ALL
     SELECT ${dayOf('r.applied_at')}, p.processor, ${paymentKind}, 0, 0,
       CASE WHEN r.kind = 'refund' THEN r.applied_cents ELSE 0 END,
       CASE r.kind WHEN 'dispute' THEN r.applied_cents WHEN 'dispute_won' THEN -LEAST(r.amount_cents, (
         SELECT COALESCE(sum(d.applied_cents), 0) FROM payment_refunds d WHERE d.payment_id = r.payment_id AND d.kind = 'dispute' AND d.status = 'applied'
       )) ELSE 0 END
     FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
     WHERE r.status = 'applied' AND r.applied_at >= $1 AND r.applied_at < $2
   ) m GROUP BY 1, 2, 3`;

/** Money collected and usage charged over [from, to), by UTC day, by source and by model, and in total. The range comes parsed. */
export async function moneyView(ctx: Context, { from, to }: z.output<typeof moneyRangeSchema>): Promise<MoneyView> {
  const usage = await ctx.sql.query<{ day: string; model: string; events: number; input: number; output: number; charged: number; refunded: number; cost: number }>(
    USAGE_BY_DAY_AND_MODEL,
    [from, to],
  );
  const money = await ctx.sql.query<{ day: string; processor: string; kind: PaymentKind; payments: number; paid: number; refunded: number; disputed: number }>(
    MONEY_BY_DAY_AND_SOURCE,
    [from, to],
  );

  const days = new Map<string, MoneyDay>();
  for (let t = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()); t < to.getTime(); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.set(day, { day, collected: noCollected(), usage: noUsage() });
  }
  const total = { collected: noCollected(), usage: noUsage() };
  const models = new Map<string, UsageMoney & { model: string }>();
  for (const row of usage) {
    const r = { events: Number(row.events), input: Number(row.input), output: Number(row.output), charged: Number(row.charged), refunded: Number(row.refunded), cost: Number(row.cost) };
    addUsage(days.get(row.day)!.usage, r);
    addUsage(total.usage, r);
    if (!models.has(row.model)) models.set(row.model, { model: row.model, ...noUsage() });
    addUsage(models.get(row.model)!, r);
  }
  const sources = new Map<string, Collected & { processor: string; kind: PaymentKind }>();
  for (const row of money) {
    const r = { payments: Number(row.payments), paid: Number(row.paid), refunded: Number(row.refunded), disputed: Number(row.disputed) };
    addCollected(days.get(row.day)!.collected, r);
    addCollected(total.collected, r);
    const key = `${row.processor}\u0000${row.kind}`;
    if (!sources.has(key)) sources.set(key, { processor: row.processor, kind: row.kind, ...noCollected() });
    addCollected(sources.get(key)!, r);
  }
  return {
    from,
    to,
    days: [...days.values()],
    sources: [...sources.values()].sort((a, b) => b.netCents - a.netCents || a.processor.localeCompare(b.processor) || a.kind.localeCompare(b.kind)),
    models: [...models.values()].sort((a, b) => b.valueMicros - a.valueMicros || a.model.localeCompare(b.model)),
    total,
  };
}
