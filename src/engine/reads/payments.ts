/**
 * The payments side: an account's payments (an auto-recharge's with what of it paid the account's
 * debt), the processors configured, and the webhook events each sent, newest first.
 */
import { z } from 'zod';
import { parseInput, plain } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { accountNotFound } from '../terms.ts';

export interface WebhookEventView {
  id: number;
  processor: string;
  eventId: string;
  type: string;
  accountId: string | null;
  status: 'applied' | 'ignored' | 'failed';
  error: string | null;
  attempts: number;
  /** Deliveries after the one that applied (or ignored) it: acknowledged, nothing applied again. */
  duplicates: number;
  receivedAt: Date;
  appliedAt: Date | null;
}

const querySchema = plain(z.object({ limit: z.number().int().min(1).max(500).optional(), processor: z.string().max(100).optional() }).strict()).optional();

export async function webhookEvents(ctx: Context, query?: z.input<typeof querySchema>): Promise<WebhookEventView[]> {
  const { limit = 50, processor } = parseInput(querySchema, query, 'webhook events query') ?? {};
  const rows = await ctx.sql.query<{
    id: number; processor: string; event_id: string; type: string; account_id: string | null; status: WebhookEventView['status'];
    error: string | null; attempts: number; duplicates: number; received_at: Date; applied_at: Date | null;
  }>(
    `SELECT id, processor, event_id, type, account_id, status, error, attempts, duplicates, received_at, applied_at FROM webhook_events
     WHERE $2::text IS NULL OR processor = $2 ORDER BY received_at DESC, id DESC LIMIT $1`,
    [limit, processor ?? null],
  );
  return rows.map((r) => ({
    id: r.id, processor: r.processor, eventId: r.event_id, type: r.type, accountId: r.account_id, status: r.status, error: r.error,
    attempts: r.attempts, duplicates: r.duplicates, receivedAt: r.received_at, appliedAt: r.applied_at,
  }));
}

export interface ProcessorView {
  name: string;
  /** Where it takes payments (test or live mode, sandbox or production), when it says. */
  mode: string | null;
  /** The one new accounts pay through. */
  isDefault: boolean;
  webhooks: boolean;
  /** Whether it keeps a catalog of prices to sync. */
  catalog: boolean;
}

/** The processors accounts may pay through here, and what each takes. */
export function processors(ctx: Context): ProcessorView[] {
  return [...ctx.processors.values()].map((p) => ({
    name: p.name, mode: p.mode ?? null, isDefault: p.name === ctx.defaultProcessor,
    webhooks: typeof p.parseWebhook === 'function', catalog: typeof p.syncCatalog === 'function',
  }));
}

export interface PaymentView {
  /** Tollgate's id of the payment: what a refund names. */
  id: number;
  processor: string;
  /** The processor's id of the payment (a payment intent, an invoice, a transaction). */
  reference: string;
  kind: 'pack' | 'subscription';
  /** The pack bought, or the plan whose period was paid. */
  item: string | null;
  amountCents: number;
  status: 'succeeded' | 'failed' | 'refunded';
  /** What refunds and disputes gave back of it so far, in cents. */
  refundedCents: number;
  /** When it was disputed (a chargeback), if it was. */
  disputedAt: Date | null;
  /** An auto-recharge's payment: of its amount, what paid what the account owed (the rest bought the pack). */
  recharge: { debtCents: number } | null;
  /** Its refunds, disputes and disputes won, newest first. */
  refunds: PaymentRefundView[];
  createdAt: Date;
}

export interface PaymentRefundView {
  kind: 'refund' | 'dispute' | 'dispute_won';
  /** The processor's id of the refund or dispute. */
  reference: string;
  /** As the processor told it; applied: at most what was left of the payment. */
  amountCents: number;
  appliedCents: number;
  /** Unused value taken out of the payment's bucket. */
  removedMicros: number;
  /** Value already used, owed (debt) or written off, as usedValue says. */
  usedMicros: number;
  usedValue: 'debt' | 'write_off' | null;
  /** When the processor said the refund failed after it succeeded: what it took was given back. */
  reversedAt: Date | null;
  createdAt: Date;
}

/** An account's payments, newest first, each with its refunds and disputes, newest first. */
export async function accountPayments(ctx: Context, accountId: string): Promise<PaymentView[]> {
  const rows = await ctx.sql.query<{
    id: number; processor: string; processor_ref: string; kind: PaymentView['kind']; item: string | null; amount_cents: number; status: PaymentView['status'];
    refunded_cents: number; disputed_at: Date | null; created_at: Date;
  }>(
    `SELECT p.id, p.processor, p.processor_ref, p.kind, coalesce(k.slug, pl.slug) AS item, p.amount_cents, p.status, p.refunded_cents, p.disputed_at, p.created_at
     FROM payments p LEFT JOIN packs k ON k.id = p.pack_id LEFT JOIN plans pl ON pl.id = p.plan_id
     WHERE p.account_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT 500`,
    [accountId],
  );
  // The recharges that paid them, read apart: joined in, the account's recharges were read again
  // for each payment (the plan, made once for any account, expects an account to have one or two).
  const recharges = await ctx.sql.query<{ processor: string; payment_ref: string; debt_cents: number | null }>(
    `SELECT processor, payment_ref, debt_cents FROM recharges WHERE account_id = $1 AND status = 'succeeded' AND payment_ref = ANY ($2::text[])`,
    [accountId, rows.map((r) => r.processor_ref)],
  );
  const paidBy = (processor: string, reference: string) => `${processor}\u0000${reference}`;
  const rechargeOf = new Map(recharges.flatMap((r) => (r.debt_cents === null ? [] : [[paidBy(r.processor, r.payment_ref), { debtCents: r.debt_cents }] as const])));
  const refunds = await ctx.sql.query<{
    payment_id: number; kind: PaymentRefundView['kind']; reference: string; amount_cents: number; applied_cents: number; removed_micros: number; used_micros: number;
    used_value: PaymentRefundView['usedValue']; reversed_at: Date | null; created_at: Date;
  }>(
    `SELECT payment_id, kind, reference, amount_cents, applied_cents, removed_micros, used_micros, used_value, reversed_at, created_at FROM payment_refunds
     WHERE payment_id = ANY ($1::bigint[]) ORDER BY created_at DESC, id DESC`,
    [rows.map((r) => r.id)],
  );
  return rows.map((r) => ({
    id: r.id, processor: r.processor, reference: r.processor_ref, kind: r.kind, item: r.item, amountCents: r.amount_cents, status: r.status,
    refundedCents: r.refunded_cents, disputedAt: r.disputed_at,
    recharge: rechargeOf.get(paidBy(r.processor, r.processor_ref)) ?? null,
    refunds: refunds.filter((f) => f.payment_id === r.id).map((f) => ({
      kind: f.kind, reference: f.reference, amountCents: f.amount_cents, appliedCents: f.applied_cents, removedMicros: f.removed_micros,
      usedMicros: f.used_micros, usedValue: f.used_value, reversedAt: f.reversed_at, createdAt: f.created_at,
    })),
    createdAt: r.created_at,
  }));
}

export interface AccountSubscriptionView {
  /** The processor the account pays through, and its customer there once one was made. */
  processor: string;
  customerId: string | null;
  /** Its latest subscription at any processor: the one in force, or the last that ended; null if it never had one. */
  subscription: {
    processor: string;
    /** The processor's id of it. */
    reference: string;
    plan: string;
    status: 'active' | 'canceled';
    startedAt: Date;
    /** When it ends (canceled at the period's end) or ended. */
    cancelAt: Date | null;
  } | null;
}

/** Who the account pays through, and its latest subscription. */
export async function accountSubscription(ctx: Context, accountId: string): Promise<AccountSubscriptionView> {
  const [account] = await ctx.sql.query<{ processor: string; processor_customer_id: string | null }>('SELECT processor, processor_customer_id FROM accounts WHERE id = $1', [accountId]);
  if (!account) throw accountNotFound(accountId);
  const [row] = await ctx.sql.query<{ processor: string; processor_ref: string; plan: string; status: 'active' | 'canceled'; started_at: Date; cancel_at: Date | null }>(
    `SELECT s.processor, s.processor_ref, p.slug AS plan, s.status, s.started_at, s.cancel_at FROM subscriptions s JOIN plans p ON p.id = s.plan_id
     WHERE s.account_id = $1 ORDER BY s.status = 'active' DESC, s.started_at DESC, s.id DESC LIMIT 1`,
    [accountId],
  );
  return {
    processor: account.processor,
    customerId: account.processor_customer_id,
    subscription: row ? { processor: row.processor, reference: row.processor_ref, plan: row.plan, status: row.status, startedAt: row.started_at, cancelAt: row.cancel_at } : null,
  };
}
