/**
 * A claim on an account's subscription at its processor. A cancel and a plan change ask the
 * processor outside any transaction (checkout.ts), so the gate mutex no longer keeps two of them
 * in one order at the processor and here: the claim does. It is taken under the mutex, in the
 * call's first look, and given up once the processor's answer is applied, so a second change of
 * the same subscription meanwhile is refused, never sent to the processor between the first's
 * question and its application. The processor's own events (webhooks) take no claim: each says
 * what the subscription is, and is applied as it comes.
 *
 * Each call holds its own claim; a second call under the same idempotency key is refused while
 * the first is under way (a double submit). A call that failed without knowing what the
 * processor did (no answer, or none applied) keeps its claim for its key: only its retry, the
 * same request under the same key, takes it, and the processor answers that retry as it answered
 * the first, so no other change comes between. A claim lapses when held no longer: a call's,
 * after longer than the slowest answers its processor's SDK waits for (Stripe: three tries of
 * 80 s for each of its requests; Paddle: 300 s), so that only a process that died leaves one
 * behind; one kept for a retry, after ten minutes. Lapses run on the database's clock.
 */
import { randomUUID } from 'node:crypto';
import { BillingError } from '../../core/errors.ts';
import type { Sql } from '../../db/sql.ts';
import { requestHash, type Effect } from '../once.ts';

const HELD = `interval '30 minutes'`;
const KEPT = `interval '10 minutes'`;

/** What a claim is for, as a refused call says it. */
export type ClaimedFor = 'cancel' | 'plan change';

export interface Claim {
  accountId: string;
  token: string;
  idempotencyKey: string | undefined;
}

/**
 * Claim the account's subscription for `effect` (gate mutex held), or refuse if another call
 * holds it. A claim kept for this call's key and request (its first attempt's) is taken over.
 */
export async function claimSubscription(tx: Sql, accountId: string, effect: Effect, operation: ClaimedFor, idempotencyKey: string | undefined): Promise<Claim> {
  const token = randomUUID();
  const hash = idempotencyKey === undefined ? null : requestHash(effect);
  const [taken] = await tx.query(
    `INSERT INTO subscription_claims (account_id, token, operation, idempotency_key, request_hash, kept, held_until)
     VALUES ($1, $2, $3, $4, $5, false, clock_timestamp() + ${HELD})
     ON CONFLICT (account_id) DO UPDATE SET token = EXCLUDED.token, operation = EXCLUDED.operation, idempotency_key = EXCLUDED.idempotency_key,
       request_hash = EXCLUDED.request_hash, kept = false, held_until = EXCLUDED.held_until
     WHERE subscription_claims.held_until <= clock_timestamp()
       OR (subscription_claims.kept AND subscription_claims.idempotency_key = EXCLUDED.idempotency_key AND subscription_claims.request_hash = EXCLUDED.request_hash)
     RETURNING 1`,
    [accountId, token, operation, idempotencyKey ?? null, hash],
  );
  if (!taken) throw await claimed(tx, accountId, operation, { idempotencyKey, hash });
  return { accountId, token, idempotencyKey };
}

/** Is a claim kept for this call's retry: the same request under the same key, whose first attempt the processor left unanswered? */
export async function claimKeptFor(tx: Sql, accountId: string, effect: Effect, idempotencyKey: string | undefined): Promise<boolean> {
  if (idempotencyKey === undefined) return false;
  const kept = await tx.query(
    'SELECT 1 FROM subscription_claims WHERE account_id = $1 AND kept AND idempotency_key = $2 AND request_hash = $3 AND held_until > clock_timestamp()',
    [accountId, idempotencyKey, requestHash(effect)],
  );
  return kept.length > 0;
}

/** Refuse a change to the account's subscription at the processor while a claim is held on it (gate mutex held). */
export async function assertUnclaimed(tx: Sql, accountId: string, operation: string): Promise<void> {
  const [held] = await tx.query('SELECT 1 FROM subscription_claims WHERE account_id = $1 AND held_until > clock_timestamp()', [accountId]);
  if (held) throw await claimed(tx, accountId, operation);
}

/** Give the claim up: its call's answer was applied, or nothing was changed at the processor. */
export async function releaseClaim(sql: Sql, claim: Claim): Promise<void> {
  await sql.query('DELETE FROM subscription_claims WHERE account_id = $1 AND token = $2', [claim.accountId, claim.token]);
}

/**
 * Keep the claim for a retry under its call's key: what the processor did is not known here. A
 * call without a key has no retry to keep it for, and gives it up.
 */
export async function keepClaim(sql: Sql, claim: Claim): Promise<void> {
  if (claim.idempotencyKey === undefined) return releaseClaim(sql, claim);
  await sql.query(`UPDATE subscription_claims SET kept = true, held_until = clock_timestamp() + ${KEPT} WHERE account_id = $1 AND token = $2`, [claim.accountId, claim.token]);
}

async function claimed(tx: Sql, accountId: string, operation: string, caller?: { idempotencyKey: string | undefined; hash: string | null }): Promise<BillingError> {
  const [other] = await tx.query<{ operation: string; kept: boolean; held_until: Date; idempotency_key: string | null; request_hash: string | null }>(
    'SELECT operation, kept, held_until, idempotency_key, request_hash FROM subscription_claims WHERE account_id = $1',
    [accountId],
  );
  const what = other?.operation ?? 'change';
  const until = other ? ` (at the latest after ${other.held_until.toISOString()})` : '';
  // The same request under the same key, sent again while the first is at the processor (a double submit).
  const sameRequest = caller?.idempotencyKey !== undefined && other?.idempotency_key === caller.idempotencyKey && other.request_hash === caller.hash;
  const message = sameRequest
    ? `Account "${accountId}" has this ${operation} under way at its processor already, under idempotency key "${caller!.idempotencyKey}": ask again once it is answered, and its result is given back${until}`
    : other?.kept
      ? `Account "${accountId}" has a ${what} of its subscription that its processor has not answered: this ${operation} changed nothing; retry that ${what} under its idempotency key first, or ask again later${until}`
      : `Account "${accountId}" has a ${what} of its subscription under way at its processor: this ${operation} changed nothing; ask again once that one is answered${until}`;
  return new BillingError('change_in_progress', message, { accountId, operation: other?.operation ?? null, awaitingRetry: other?.kept ?? false, sameRequest });
}
