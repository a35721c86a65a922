/**
 * The account's last AI calls and what each cost, newest first: a member's own only (a member
 * sees the team's pool, not what each colleague asked for). What was charged (usage value, less
 * what was refunded), never the provider's cost. Only calls since the start of the range the page
 * shows: a member with no call of their own then reads that range of the account's events, not
 * every event the account (or, as the planner judged it, every account) ever recorded.
 */
import type { Billing } from '../engine/billing.ts';

export interface RecentCall {
  occurredAt: Date;
  model: string;
  userId: string | null;
  /** The member's name, where the account caps them under one (setMemberLimits). */
  userName: string | null;
  inputTokens: number;
  outputTokens: number;
  valueMicros: number;
  refundedMicros: number;
}

export async function recentCalls(billing: Billing, accountId: string, onlyUser: string | null, since: Date, limit = 10): Promise<RecentCall[]> {
  // A statement for the account's calls and one for a member's, not one with `$4 IS NULL OR`: planned
  // once for any parameters, that one expected a row or two and sorted the whole range to keep ten,
  // where the account's calls read newest first stop at the tenth.
  const rows = await billing.sql.query<{
    occurred_at: Date; model: string; user_id: string | null; user_name: string | null; input_tokens: number; output_tokens: number; value_micros: number; refunded_micros: number;
  }>(
    `SELECT e.occurred_at, e.model, e.user_id, m.name AS user_name, e.input_tokens, e.output_tokens, e.value_micros, e.refunded_micros
     FROM usage_events e LEFT JOIN member_limits m ON m.account_id = e.account_id AND m.user_id = e.user_id
     WHERE e.account_id = $1 AND e.occurred_at >= $2 ${onlyUser === null ? '' : 'AND e.user_id = $4'} ORDER BY e.occurred_at DESC, e.id DESC LIMIT $3`,
    onlyUser === null ? [accountId, since, limit] : [accountId, since, limit, onlyUser],
  );
  return rows.map((r) => ({
    occurredAt: new Date(r.occurred_at), model: r.model, userId: r.user_id, userName: r.user_name, inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens),
    valueMicros: Number(r.value_micros), refundedMicros: Number(r.refunded_micros),
  }));
}
