/**
 * Expired value leaves its bucket through the ledger: an 'expiry' entry, dated when the
 * bucket expired, takes what was left, so the ledger tells where every micro-dollar granted
 * went (spent, refunded, owed or expired). The gate never draws on an expired bucket either
 * way; this is the bookkeeping, written by expireCredit, which an app runs daily, once a bucket
 * has been expired for EXPIRY_GRACE_MS (core/time.ts): a clock that ran ahead and was set back
 * has then written off nothing the account still had. No call of the gate writes it off.
 */
import { EXPIRY_GRACE_MS } from '../../core/time.ts';
import type { Sql } from '../../db/sql.ts';

export interface Expired {
  accountId: string;
  bucketId: number;
  amountMicros: number;
}

const ACCOUNTS_PER_TRANSACTION = 500;

/** Buckets that expired by this moment are written off at `now`. */
const writtenOffBy = (now: Date): Date => new Date(now.getTime() - EXPIRY_GRACE_MS);

/**
 * With the accounts' ledger mutexes held: write off the value left in their buckets that
 * expired by `before`, moving their ledger versions.
 */
async function expireBuckets(tx: Sql, accountIds: readonly string[], before: Date): Promise<Expired[]> {
  const rows = await tx.query<{ account_id: string; id: number; amount: number }>(
    `WITH due AS (
       SELECT id, account_id, remaining_micros AS amount, expires_at FROM buckets
       WHERE account_id = ANY ($1::text[]) AND remaining_micros > 0 AND expires_at <= $2
       FOR UPDATE
     ), zeroed AS (
       UPDATE buckets b SET remaining_micros = 0 FROM due WHERE b.id = due.id
     ), entries AS (
       INSERT INTO ledger_entries (account_id, bucket_id, amount_micros, kind, created_at)
       SELECT account_id, id, -amount, 'expiry', expires_at FROM due
     ), moved AS (
       UPDATE account_balances SET ledger_version = ledger_version + 1 WHERE account_id IN (SELECT account_id FROM due)
     )
     SELECT account_id, id, amount FROM due ORDER BY account_id, id`,
    [accountIds, before],
  );
  return rows.map((r) => ({ accountId: r.account_id, bucketId: r.id, amountMicros: r.amount }));
}

/**
 * Write off the value of buckets expired for EXPIRY_GRACE_MS by `now`, on every account, a few
 * hundred accounts per transaction.
 */
export async function expireCredit(sql: Sql, now: Date): Promise<{ buckets: number; amountMicros: number }> {
  const before = writtenOffBy(now);
  const total = { buckets: 0, amountMicros: 0 };
  for (;;) {
    const expired = await sql.transaction(async (tx) => {
      // The ledger mutexes first, in id order, as every writer of value takes them.
      const locked = await tx.query<{ account_id: string }>(
        `SELECT account_id FROM account_balances
         WHERE account_id IN (SELECT account_id FROM buckets WHERE remaining_micros > 0 AND expires_at <= $1)
         ORDER BY account_id LIMIT $2 FOR NO KEY UPDATE`,
        [before, ACCOUNTS_PER_TRANSACTION],
      );
      return locked.length > 0 ? expireBuckets(tx, locked.map((r) => r.account_id), before) : [];
    });
    if (expired.length === 0) return total;
    total.buckets += expired.length;
    total.amountMicros += expired.reduce((sum, e) => sum + e.amountMicros, 0);
  }
}
