/**
 * Holds commit without waiting for the disk (docs/design.md), so a database crash can lose
 * the last ones. A hold's id carries what its settle needs; settle and release write a lost
 * hold back from its id and then go on as if it had never been lost: the usage is charged
 * once, at the hold's price, and a release or a second settle gets the answer it would have.
 */
import { heldCallOf } from '../core/hold-id.ts';
import type { Sql } from '../db/sql.ts';

/**
 * Write back the hold `id` names, if it is an id Tollgate issued for an existing account.
 * It reserves nothing (it lapsed at its start), and it comes back settled if a usage event
 * already names it (looked for from a day before the hold, in case clocks disagree). Under the
 * account's ledger mutex, whose version every charge guards on, so no charge of it can slip
 * in between the look and the write. Returns whether the account exists.
 */
export async function restoreLostHold(sql: Sql, id: string): Promise<boolean> {
  const call = heldCallOf(id);
  if (!call) return false;
  return sql.transaction(async (tx) => {
    const [locked] = await tx.query('UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id = $1 RETURNING account_id', [call.accountId]);
    if (!locked) return false;
    await tx.query(
      `INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, status, expires_at, created_at, resolved_at, usage_event_id)
       SELECT $1, $2, $3, $4, $5, 0, 0, CASE WHEN e.id IS NULL THEN 'open' ELSE 'settled' END, $6, $6, e.occurred_at, e.id
       FROM (SELECT) AS one LEFT JOIN usage_events e ON e.account_id = $2 AND e.occurred_at >= $6::timestamptz - interval '1 day' AND e.hold_id = $1
       ON CONFLICT (id) DO NOTHING`,
      [id, call.accountId, call.model, call.provider, call.userId, call.createdAt],
    );
    return true;
  });
}
