/**
 * The account's last AI calls and what each cost, newest first: a member's own only (a member
 * sees the team's pool, not what each colleague asked for). What was charged (usage value, less
 * what was refunded), never the provider's cost.
 */
import type { Billing } from '../engine/billing.ts';

export interface RecentCall {
  occurredAt: Date;
  model: string;
  userId: string | null;
  inputTokens: number;
  outputTokens: number;
  valueMicros: number;
  refundedMicros: number;
}

export async function recentCalls(billing: Billing, accountId: string, onlyUser: string | null, limit = 10): Promise<RecentCall[]> {
  const rows = await billing.sql.query<{
    occurred_at: Date; model: string; user_id: string | null; input_tokens: number; output_tokens: number; value_micros: number; refunded_micros: number;
  }>(
    `SELECT occurred_at, model, user_id, input_tokens, output_tokens, value_micros, refunded_micros FROM usage_events
     WHERE account_id = $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY occurred_at DESC, id DESC LIMIT $3`,
    [accountId, onlyUser, limit],
  );
  return rows.map((r) => ({
    occurredAt: new Date(r.occurred_at), model: r.model, userId: r.user_id, inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens),
    valueMicros: Number(r.value_micros), refundedMicros: Number(r.refunded_micros),
  }));
}
