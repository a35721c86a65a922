/**
 * A claim on an account's subscription at its processor. A cancel and a plan change ask the
 * processor outside any transaction (checkout.ts), so the gate mutex no longer keeps two of them
 * in one order at the processor and here: the claim does. It is taken under the mutex, in the
 * call's first look, and given up once the processor's answer is applied (or failed), so a second
 * change of the same subscription meanwhile is refused, never sent to the processor between the
 * first's question and its application. The processor's own events (webhooks) take no claim:
 * each says what the subscription is, and is applied as it comes.
 *
 * A retry under the same idempotency key takes its own claim again (the processor answers it as
 * the first). A claim whose process died lapses when it is held no longer: longer than the
 * slowest answer a processor's SDK waits for (Stripe: three tries of 80 s; Paddle: 300 s).
 */
import { randomUUID } from 'node:crypto';
import { BillingError } from '../../core/errors.ts';
import type { Sql } from '../../db/sql.ts';

export const CLAIM_HELD_MS = 10 * 60_000;

/** What a claim is for, as a refused call says it: the other call's operation. */
export type ClaimedFor = 'cancel' | 'plan change';

export interface Claim {
  accountId: string;
  token: string;
}

/**
 * Claim the account's subscription for `operation` (gate mutex held), or refuse if another call
 * holds it. `key` is the call's idempotency key: its retry takes its claim again.
 */
export async function claimSubscription(tx: Sql, accountId: string, operation: ClaimedFor, key: string | undefined, now: Date): Promise<Claim> {
  const token = key ?? randomUUID();
  const [taken] = await tx.query(
    `INSERT INTO subscription_claims (account_id, token, operation, held_until) VALUES ($1, $2, $3, $4)
     ON CONFLICT (account_id) DO UPDATE SET token = EXCLUDED.token, operation = EXCLUDED.operation, held_until = EXCLUDED.held_until
       WHERE subscription_claims.held_until <= $5 OR subscription_claims.token = EXCLUDED.token
     RETURNING 1`,
    [accountId, token, operation, new Date(now.getTime() + CLAIM_HELD_MS), now],
  );
  if (!taken) throw await claimed(tx, accountId, operation);
  return { accountId, token };
}

/** Refuse a change to the account's subscription at the processor while a claim is held on it (gate mutex held). */
export async function assertUnclaimed(tx: Sql, accountId: string, operation: string, now: Date): Promise<void> {
  const [held] = await tx.query('SELECT 1 FROM subscription_claims WHERE account_id = $1 AND held_until > $2', [accountId, now]);
  if (held) throw await claimed(tx, accountId, operation);
}

/** Give the claim up: its call's answer was applied, or it failed. */
export async function releaseClaim(sql: Sql, claim: Claim): Promise<void> {
  await sql.query('DELETE FROM subscription_claims WHERE account_id = $1 AND token = $2', [claim.accountId, claim.token]);
}

async function claimed(tx: Sql, accountId: string, operation: string): Promise<BillingError> {
  const [other] = await tx.query<{ operation: string }>('SELECT operation FROM subscription_claims WHERE account_id = $1', [accountId]);
  return new BillingError(
    'change_in_progress',
    `Account "${accountId}" has a ${other?.operation ?? 'change'} of its subscription under way at its processor: this ${operation} changed nothing; ask again once that one is answered`,
    { accountId, operation: other?.operation ?? null },
  );
}
