/**
 * Holds commit without waiting for the disk (docs/design.md), so a database crash can lose
 * the last ones. A hold's id carries what its settle needs; settle and release write a lost
 * hold back from its id and then go on as if it had never been lost: the usage is charged
 * once, at the hold's price, and a release or a second settle gets the answer it would have.
 */
import type { HeldCall } from '../../core/hold-id.ts';
import type { Sql } from '../../db/sql.ts';

/**
 * Write back, open and reserving nothing (it lapsed at its start), the hold of key `key` that
 * its id describes as `call`, if its account exists and no row has it. No usage event can name
 * a hold without a row: a charge that settles a hold writes its row in the same statement.
 */
export async function restoreLostHold(sql: Sql, key: string, call: HeldCall): Promise<void> {
  await sql.query(
    `INSERT INTO holds (id, account_id, model, provider, user_id, amount_micros, tokens, expires_at, created_at)
     SELECT $1, a.id, $3, $4, $5, 0, 0, $6, $6 FROM accounts a WHERE a.id = $2
     ON CONFLICT (id) DO NOTHING`,
    [key, call.accountId, call.model, call.provider, call.userId, call.createdAt],
  );
}
