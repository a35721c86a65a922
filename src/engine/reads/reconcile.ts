/**
 * Proof that the projections agree with the append-only ledger: every bucket's remaining
 * value and the account's debt are sums of the account's entries, every bucket's first entry
 * is its grant, and every usage event's value is what its entries drew. And that the
 * account's facts refer only to its own: each entry's bucket and usage event, each usage
 * event's hold, belong to the same account, and a settled hold names the event that settled
 * it. (The hot path has no foreign keys, see migration 0004; these checks say more than they
 * did about what references what, though nothing here finds a row filed under an account id
 * that does not exist: no write takes its account from anywhere but a guarded row.)
 */
import type { Context } from '../context.ts';
import { accountNotFound } from '../terms.ts';

export interface Reconciliation {
  accountId: string;
  ok: boolean;
  problems: string[];
}

/**
 * The account's usage events whose value is not what their entries drew, or whose refunded
 * value is not what their refund entries and refund buckets gave back. Each event's entries and
 * buckets are summed once, grouped by event, never looked up once per event: an account of a
 * million events is one pass over each table, not a million lookups.
 */
export const EVENTS_AGAINST_LEDGER = `SELECT e.id, e.value_micros, e.refunded_micros, COALESCE(l.drawn, 0)::bigint AS drawn, (COALESCE(l.refunded, 0) + COALESCE(r.returned, 0))::bigint AS returned
   FROM usage_events e
   LEFT JOIN (SELECT usage_event_id, -sum(amount_micros) FILTER (WHERE kind = 'usage') AS drawn, sum(amount_micros) FILTER (WHERE kind = 'refund') AS refunded
              FROM ledger_entries WHERE account_id = $1 AND usage_event_id IS NOT NULL GROUP BY usage_event_id) l ON l.usage_event_id = e.id
   LEFT JOIN (SELECT split_part(reference, ':', 2) AS event_id, sum(amount_micros) AS returned
              FROM buckets WHERE account_id = $1 AND reference LIKE 'refund:%:%' GROUP BY 1) r ON r.event_id = e.id::text
   WHERE e.account_id = $1
     AND (e.value_micros <> COALESCE(l.drawn, 0) OR e.refunded_micros <> COALESCE(l.refunded, 0) + COALESCE(r.returned, 0))
   ORDER BY e.id`;

/**
 * What each of the account's payments' refunds say they took (value off its bucket, and what they
 * made owed), against what the ledger's entries naming it took, less what failed refunds gave
 * back in buckets of their own (refund-reversals.ts; what they gave back otherwise is in those
 * entries). The account's entries are summed by payment in one pass, not read again for each payment.
 */
export const PAYMENT_REFUNDS_AGAINST_LEDGER = `WITH r AS (
     SELECT payment_id, sum(CASE WHEN status = 'applied' THEN removed_micros + CASE WHEN used_value = 'debt' THEN used_micros ELSE 0 END ELSE 0 END)::bigint AS said
     FROM payment_refunds WHERE account_id = $1 AND payment_id IS NOT NULL AND status IN ('applied', 'reversed') GROUP BY payment_id)
   SELECT r.payment_id, r.said, (COALESCE(l.took, 0) - COALESCE(g.gave, 0))::bigint AS ledger
   FROM r
   LEFT JOIN (SELECT payment_id, -sum(amount_micros) AS took FROM ledger_entries
              WHERE account_id = $1 AND payment_id IS NOT NULL AND kind = 'payment_refund' GROUP BY payment_id) l ON l.payment_id = r.payment_id
   LEFT JOIN (SELECT v.payment_id, sum(b.amount_micros) AS gave FROM payment_refunds v JOIN buckets b ON b.account_id = $1 AND b.reference = 'refund-reversal:' || v.id
              WHERE v.payment_id IN (SELECT payment_id FROM r) GROUP BY v.payment_id) g ON g.payment_id = r.payment_id
   ORDER BY r.payment_id`;

export async function reconcile(ctx: Context, accountId: string): Promise<Reconciliation> {
  return ctx.sql.transaction(async (tx) => {
    const [exists] = await tx.query('SELECT 1 FROM accounts WHERE id = $1', [accountId]);
    if (!exists) throw accountNotFound(accountId);
    const problems: string[] = [];
    const buckets = await tx.query<{ id: number; amount_micros: number; remaining_micros: number; ledger: number; granted: number }>(
      `SELECT b.id, b.amount_micros, b.remaining_micros,
         COALESCE(sum(l.amount_micros), 0)::bigint AS ledger,
         COALESCE(sum(l.amount_micros) FILTER (WHERE l.kind = 'grant'), 0)::bigint AS granted
       FROM buckets b LEFT JOIN ledger_entries l ON l.account_id = $1 AND l.bucket_id = b.id WHERE b.account_id = $1 GROUP BY b.id ORDER BY b.id`,
      [accountId],
    );
    for (const b of buckets) {
      if (b.remaining_micros !== b.ledger) problems.push(`bucket ${b.id}: remaining ${b.remaining_micros} ≠ ledger sum ${b.ledger}`);
      if (b.amount_micros !== b.granted) problems.push(`bucket ${b.id}: amount ${b.amount_micros} ≠ granted ${b.granted}`);
    }
    const [debt] = await tx.query<{ debt_micros: number; ledger: number }>(
      `SELECT b.debt_micros, COALESCE((SELECT -sum(amount_micros) FROM ledger_entries WHERE account_id = $1 AND bucket_id IS NULL), 0)::bigint AS ledger
       FROM account_balances b WHERE b.account_id = $1`,
      [accountId],
    );
    if (debt && debt.debt_micros !== debt.ledger) problems.push(`debt ${debt.debt_micros} ≠ ledger sum ${debt.ledger}`);
    const events = await tx.query<{ id: number; value_micros: number; drawn: number; refunded_micros: number; returned: number }>(
      EVENTS_AGAINST_LEDGER,
      [accountId],
    );
    for (const e of events) {
      if (e.value_micros !== e.drawn) problems.push(`usage event ${e.id}: value ${e.value_micros} ≠ drawn ${e.drawn}`);
      if (e.refunded_micros !== e.returned) problems.push(`usage event ${e.id}: refunded ${e.refunded_micros} ≠ returned ${e.returned}`);
    }
    const refunded = await tx.query<{ payment_id: number; said: number; ledger: number }>(
      PAYMENT_REFUNDS_AGAINST_LEDGER,
      [accountId],
    );
    for (const r of refunded) if (r.said !== r.ledger) problems.push(`payment ${r.payment_id}: its refunds took ${r.said} ≠ ledger ${r.ledger}`);
    const strays = await tx.query<{ what: string; id: number | null; ref: string }>(
      `SELECT 'ledger entry' AS what, l.id, 'bucket ' || l.bucket_id AS ref FROM ledger_entries l LEFT JOIN buckets b ON b.id = l.bucket_id
       WHERE l.account_id = $1 AND l.bucket_id IS NOT NULL AND b.account_id IS DISTINCT FROM $1
       UNION ALL
       SELECT 'ledger entry', l.id, 'usage event ' || l.usage_event_id FROM ledger_entries l LEFT JOIN usage_events e ON e.id = l.usage_event_id
       WHERE l.account_id = $1 AND l.usage_event_id IS NOT NULL AND e.account_id IS DISTINCT FROM $1
       UNION ALL
       SELECT 'usage event', e.id, 'hold ' || e.hold_id FROM usage_events e LEFT JOIN holds h ON h.id = e.hold_id
       WHERE e.account_id = $1 AND e.hold_id IS NOT NULL AND h.account_id IS DISTINCT FROM $1
       UNION ALL
       SELECT 'hold', NULL, h.id || ' settled by usage event ' || h.usage_event_id FROM holds h LEFT JOIN usage_events e ON e.id = h.usage_event_id
       WHERE h.account_id = $1 AND h.usage_event_id IS NOT NULL AND (e.account_id IS DISTINCT FROM $1 OR e.hold_id IS DISTINCT FROM h.id)
       ORDER BY 1, 2`,
      [accountId],
    );
    for (const s of strays) {
      problems.push(s.id === null ? `${s.what} ${s.ref}, which is missing, another account's or another hold's` : `${s.what} ${s.id}: ${s.ref} is missing or another account's`);
    }
    return { accountId, ok: problems.length === 0, problems };
  });
}
