/**
 * A claim on an account's subscription at its processor. A cancel and a plan change ask the
 * processor outside any transaction (checkout.ts), so the gate mutex no longer keeps two of them
 * in one order at the processor and here: the claim does. It is taken under the mutex, in the
 * call's first look, for the subscription the call changes, and given up once the processor's
 * answer is applied, so a second change of that subscription meanwhile is refused, never sent to
 * the processor between the first's question and its application. The processor's own events
 * (webhooks) take no claim: each says what the subscription is, and is applied as it comes.
 *
 * Each call holds its own claim; a second call under the same idempotency key is refused while
 * the first is under way (a double submit). A call that failed without knowing what the
 * processor did (no answer, or none applied) keeps its claim for its key: only its retry, the
 * same request under the same key on the same subscription, takes it, and the processor answers
 * that retry as it answered the first, so no other change comes between. A claim lapses when held
 * no longer: a call's after longer than the slowest answers its processor's SDK waits for
 * (Stripe: three tries of 80 s for each of its requests; Paddle: 300 s); one kept for a retry,
 * after ten minutes. Lapses run on the database's clock.
 *
 * A claim left behind (kept, or its process gone) gives its key up for good once another call
 * takes it over, once its subscription is no longer the account's, or when its retry comes after
 * it lapsed: the processor would answer a retry under it as it answered the first, whatever
 * changed since (an admin's move to a newer version takes no claim), and the engine would apply
 * that stale answer. So a retry under that key is refused, the refusal stored under the key as
 * once.ts stores results.
 */
import { randomUUID } from 'node:crypto';
import { BillingError } from '../../core/errors.ts';
import type { Sql } from '../../db/sql.ts';
import { refuseForGood, requestHash, type Effect } from '../once.ts';

const HELD = `interval '30 minutes'`;
const KEPT = `interval '10 minutes'`;

/** What a claim is for, as a refused call says it; and the effect's operation (once.ts) for each. */
export type ClaimedFor = 'cancel' | 'plan change';
const OPERATIONS: Record<ClaimedFor, string> = { cancel: 'cancel', 'plan change': 'subscribe' };

export interface Claim {
  accountId: string;
  token: string;
  idempotencyKey: string | undefined;
}

interface ClaimRow {
  operation: ClaimedFor;
  idempotency_key: string | null;
  request_hash: string | null;
  subscription_ref: string | null;
  kept: boolean;
  lapsed: boolean;
  held_until: Date;
}

/**
 * Claim the account's subscription `subscriptionRef` for `effect` (gate mutex held), or refuse if
 * another call holds it. A claim kept for this call's key and request on the same subscription
 * (its first attempt's) is taken over.
 */
export async function claimSubscription(
  tx: Sql, accountId: string, effect: Effect, operation: ClaimedFor, idempotencyKey: string | undefined, subscriptionRef: string | null,
): Promise<Claim> {
  const hash = idempotencyKey === undefined ? null : requestHash(effect);
  const [old] = await tx.query<ClaimRow>(
    `SELECT operation, idempotency_key, request_hash, subscription_ref, kept, held_until <= clock_timestamp() AS lapsed, held_until
     FROM subscription_claims WHERE account_id = $1 FOR UPDATE`,
    [accountId],
  );
  if (old) {
    const mine = idempotencyKey !== undefined && old.idempotency_key === idempotencyKey && old.request_hash === hash;
    const live = !old.lapsed && old.subscription_ref === subscriptionRef;
    if (mine) {
      // Its retry, while the claim kept for it holds: taken over.
      if (old.kept && live) return takeClaim(tx, accountId, operation, idempotencyKey, hash, subscriptionRef);
      // Sent again while the first is at the processor (a double submit).
      if (live) throw claimed(accountId, operation, old, true);
      // Its claim lapsed, or the account left that subscription: the processor would answer it as the first, whatever moved since.
      // The caller stores the refusal under its key, once this transaction has rolled back (checkout.ts).
      throw givenUp(accountId, old, old.subscription_ref === subscriptionRef ? 'was left unanswered longer than its claim held' : `was for subscription ${old.subscription_ref ?? '(none)'}, which the account has left since`);
    }
    if (live) throw claimed(accountId, operation, old, false);
    if (old.idempotency_key !== null) {
      // Left behind by a call that never finished, now taken over by another: that call's key is given up.
      const error = givenUp(accountId, old, 'was left unanswered, and another change was asked since');
      await refuseForGood(tx, { key: old.idempotency_key, operation: OPERATIONS[old.operation], requestHash: old.request_hash!, accountId }, error);
    }
  }
  return takeClaim(tx, accountId, operation, idempotencyKey, hash, subscriptionRef);
}

async function takeClaim(tx: Sql, accountId: string, operation: ClaimedFor, idempotencyKey: string | undefined, hash: string | null, subscriptionRef: string | null): Promise<Claim> {
  const token = randomUUID();
  await tx.query(
    `INSERT INTO subscription_claims (account_id, token, operation, idempotency_key, request_hash, subscription_ref, kept, held_until)
     VALUES ($1, $2, $3, $4, $5, $6, false, clock_timestamp() + ${HELD})
     ON CONFLICT (account_id) DO UPDATE SET token = EXCLUDED.token, operation = EXCLUDED.operation, idempotency_key = EXCLUDED.idempotency_key,
       request_hash = EXCLUDED.request_hash, subscription_ref = EXCLUDED.subscription_ref, kept = false, held_until = EXCLUDED.held_until`,
    [accountId, token, operation, idempotencyKey ?? null, hash, subscriptionRef],
  );
  return { accountId, token, idempotencyKey };
}

/** Is a claim kept for this call's retry on `subscriptionRef`, and holding: the same request under the same key, whose first attempt the processor left unanswered? */
export async function claimKeptFor(tx: Sql, accountId: string, effect: Effect, idempotencyKey: string | undefined, subscriptionRef: string): Promise<boolean> {
  if (idempotencyKey === undefined) return false;
  const kept = await tx.query(
    'SELECT 1 FROM subscription_claims WHERE account_id = $1 AND kept AND idempotency_key = $2 AND request_hash = $3 AND subscription_ref = $4 AND held_until > clock_timestamp()',
    [accountId, idempotencyKey, requestHash(effect), subscriptionRef],
  );
  return kept.length > 0;
}

/** Refuse a change to the account's subscription at the processor while a claim on it is held (gate mutex held). */
export async function assertUnclaimed(tx: Sql, accountId: string, operation: string, subscriptionRef: string): Promise<void> {
  const [held] = await tx.query<ClaimRow>(
    `SELECT operation, idempotency_key, request_hash, subscription_ref, kept, false AS lapsed, held_until
     FROM subscription_claims WHERE account_id = $1 AND subscription_ref = $2 AND held_until > clock_timestamp()`,
    [accountId, subscriptionRef],
  );
  if (held) throw claimed(accountId, operation, held, false);
}

/** Give the claim up: its call's answer was applied, or nothing was changed at the processor. */
export async function releaseClaim(sql: Sql, claim: Claim): Promise<void> {
  await sql.query('DELETE FROM subscription_claims WHERE account_id = $1 AND token = $2', [claim.accountId, claim.token]);
}

/**
 * Give up a claim kept for this call's key and request; true if there was one. Its retry was
 * answered: from its stored result, or refused at its first look.
 */
export async function releaseKeptFor(sql: Sql, accountId: string, effect: Effect, idempotencyKey: string | undefined): Promise<boolean> {
  if (idempotencyKey === undefined) return false;
  const released = await sql.query('DELETE FROM subscription_claims WHERE account_id = $1 AND kept AND idempotency_key = $2 AND request_hash = $3 RETURNING 1', [
    accountId, idempotencyKey, requestHash(effect),
  ]);
  return released.length > 0;
}

/**
 * Keep the claim for a retry under its call's key: what the processor did is not known here. A
 * call without a key has no retry to keep it for, and gives it up.
 */
export async function keepClaim(sql: Sql, claim: Claim): Promise<void> {
  if (claim.idempotencyKey === undefined) return releaseClaim(sql, claim);
  await sql.query(`UPDATE subscription_claims SET kept = true, held_until = clock_timestamp() + ${KEPT} WHERE account_id = $1 AND token = $2`, [claim.accountId, claim.token]);
}

/** The refusal of every call under the key of a claim left behind, given up for good. */
function givenUp(accountId: string, old: ClaimRow, why: string): BillingError {
  return new BillingError(
    'idempotency_conflict',
    `The ${old.operation} of account "${accountId}"'s subscription under idempotency key "${old.idempotency_key}" ${why}: it is given up, whatever the processor did with it ` +
      '(its dashboard says); ask again under a new key',
    { idempotencyKey: old.idempotency_key, operation: OPERATIONS[old.operation], givenUp: true },
  );
}

function claimed(accountId: string, operation: string, other: ClaimRow, sameRequest: boolean): BillingError {
  const what = other.operation;
  const until = ` (at the latest after ${other.held_until.toISOString()})`;
  const message = sameRequest
    ? `Account "${accountId}" has this ${operation} under way at its processor already, under idempotency key "${other.idempotency_key}": ask again once it is answered, and its result is given back${until}`
    : other.kept
      ? `Account "${accountId}" has a ${what} of its subscription that its processor has not answered: this ${operation} changed nothing; retry that ${what} under its idempotency key first, or ask again later${until}`
      : `Account "${accountId}" has a ${what} of its subscription under way at its processor: this ${operation} changed nothing; ask again once that one is answered${until}`;
  return new BillingError('change_in_progress', message, { accountId, operation: what, awaitingRetry: other.kept, sameRequest });
}
