/**
 * What an account's ledger adds up to, and how that sum comes to what it has available: every
 * entry's sum (the buckets' value left, less the debt), less value that expired and is not
 * written off yet (expireCredit writes it off a week after, with an entry dated at the expiry),
 * less value this plan may not spend or that starts later, less what open calls hold, plus this
 * period's allowance that opens on the next call. What is available is balance()'s figure, the
 * gate's: the lines between say why it differs from the ledger's sum. A read; it writes nothing.
 */
import type { BucketSource } from '../../core/bucket.ts';
import type { Micros } from '../../core/money.ts';
import type { Context } from '../context.ts';
import { balance } from './reads.ts';

export interface PendingWriteOff {
  bucketId: number;
  source: BucketSource;
  expiresAt: Date;
  /** What the bucket had left when it expired: the write-off's amount. */
  amountMicros: Micros;
}

export interface LedgerTotals {
  /** The sum of every ledger entry of the account. */
  ledgerMicros: number;
  /** Value expired, not written off yet: each will leave with an expiry entry. */
  pendingWriteOffs: PendingWriteOff[];
  /** Value in buckets this plan may not spend (packs on a plan whose usage never draws on them) or that start later. */
  unspendableMicros: Micros;
  heldMicros: Micros;
  /** What the account owes, as balance() says: what is held is not owed. */
  debtMicros: Micros;
  /** This period's allowance, opened by the account's next call. */
  pendingAllowanceMicros: Micros;
  /** What a new call may reserve: the ledger's sum, less and plus the lines above (never below zero). */
  availableMicros: Micros;
}

export async function ledgerTotals(ctx: Context, accountId: string): Promise<LedgerTotals> {
  const now = ctx.clock();
  const [sum] = await ctx.sql.query<{ ledger: number; expired: { id: number; source: BucketSource; expiresAt: string; remaining: number }[] | null }>(
    // Saturated both ways at 2^53 − 1, as balance's sums are: past that it is no usable number, and it must not make the page fail.
    `SELECT GREATEST(LEAST(COALESCE((SELECT sum(amount_micros) FROM ledger_entries WHERE account_id = $1), 0), $3), -$3::bigint)::bigint AS ledger,
       (SELECT json_agg(json_build_object('id', id, 'source', source, 'expiresAt', expires_at, 'remaining', remaining_micros) ORDER BY expires_at, id)
        FROM buckets WHERE account_id = $1 AND remaining_micros > 0 AND expires_at <= $2) AS expired`,
    [accountId, now, Number.MAX_SAFE_INTEGER],
  );
  const view = await balance(ctx, accountId); // the account must exist
  return {
    ledgerMicros: Number(sum!.ledger),
    pendingWriteOffs: (sum!.expired ?? []).map((b) => ({ bucketId: b.id, source: b.source, expiresAt: new Date(b.expiresAt), amountMicros: b.remaining as Micros })),
    unspendableMicros: view.buckets.filter((b) => b.id !== null && !b.usable).reduce((total, b) => total + b.remainingMicros, 0) as Micros,
    heldMicros: view.heldMicros,
    debtMicros: view.debtMicros,
    pendingAllowanceMicros: view.buckets.filter((b) => b.id === null).reduce((total, b) => total + b.amountMicros, 0) as Micros,
    availableMicros: view.availableMicros,
  };
}
