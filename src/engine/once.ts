/**
 * A call that moves money happens once per idempotency key. The key is claimed in the effect's
 * own transaction (effect_keys, migration 0013), so it is committed exactly when the effect is:
 * a retry after any crash — before the commit, after it, or after the answer was lost on its
 * way — either runs the effect for the first time or finds it and gets the first result back.
 * A call that failed left nothing, its key included, so its retry runs again.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BillingError, type ErrorCode } from '../core/errors.ts';
import { idSchema, plain } from '../core/input.ts';
import type { Sql } from '../db/sql.ts';

export interface EffectOptions {
  /** Makes the call happen once: a retry with the key gets the first call's result, with `replayed: true`. */
  idempotencyKey?: string;
}

/** A money-moving call's result, and whether it is the first call's, given again to a retry. */
export type Once<R> = R & { replayed: boolean };

/** The options of a call that moves money (checkout's add their own): the facade parses them. */
export const effectOptionsShape = { idempotencyKey: idSchema.optional() };
export const effectOptionsSchema = plain(z.object(effectOptionsShape).strict()).optional();

/** What the call does, for its key: the operation and its (parsed) request; the account, where known. */
export interface Effect {
  operation: string;
  request: unknown;
  accountId?: string;
}

/** `work` once per `key` (parsed, as its options' schema parses it); without a key, every time. */
export async function once<R extends object>(sql: Sql, effect: Effect, key: string | undefined, work: (tx: Sql) => Promise<R>): Promise<Once<R>> {
  return sql.transaction(async (tx) => {
    if (key === undefined) return { ...(await work(tx)), replayed: false };
    const hash = requestHash(effect);
    // A concurrent call under the key waits here until the first commits (then this one finds
    // its row) or rolls back (then this one claims the key).
    const claimed = await tx.query(
      'INSERT INTO effect_keys (key, operation, request_hash, account_id) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING RETURNING key',
      [key, effect.operation, hash, effect.accountId ?? null],
    );
    if (claimed.length === 0) return (await storedResult<R>(tx, effect, key))!;
    const result = await work(tx);
    await tx.query('UPDATE effect_keys SET result = $2::jsonb WHERE key = $1', [key, encode(result)]);
    return { ...result, replayed: false };
  });
}

/**
 * The result a call under `key` committed, as once() gives it to a retry; undefined if none did.
 * It only reads: a call that asks a processor outside its transaction looks here first, so that a
 * retry of one done asks nothing again.
 */
export async function storedResult<R extends object>(sql: Sql, effect: Effect, key: string | undefined): Promise<Once<R> | undefined> {
  if (key === undefined) return undefined;
  const [first] = await sql.query<{ operation: string; request_hash: string; result: string }>(
    'SELECT operation, request_hash, result::text AS result FROM effect_keys WHERE key = $1',
    [key],
  );
  if (!first) return undefined;
  if (first.request_hash !== requestHash(effect)) throw idempotencyConflict(key, effect.operation, first.operation);
  const result = decode(first.result) as R & { [REFUSED]?: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
  const refused = result[REFUSED];
  if (refused) throw new BillingError(refused.code, refused.message, refused.details);
  return { ...result, replayed: true };
}

/**
 * Store `error` as the answer of every call under `key`, whose request is known only by its hash:
 * a key given up for good (grants/subscription-claims.ts). A result stored under it first stays.
 */
export async function refuseForGood(sql: Sql, stored: { key: string; operation: string; requestHash: string; accountId: string }, error: BillingError): Promise<void> {
  await sql.query('INSERT INTO effect_keys (key, operation, request_hash, account_id, result) VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (key) DO NOTHING', [
    stored.key, stored.operation, stored.requestHash, stored.accountId, JSON.stringify({ [REFUSED]: { code: error.code, message: error.message, details: error.details } }),
  ]);
}

const REFUSED = '$refused';

/** The refusal of `key`, used already for another request (of `firstOperation`). */
export function idempotencyConflict(key: string, operation: string, firstOperation: string): BillingError {
  return new BillingError(
    'idempotency_conflict',
    `The idempotency key "${key}" was used already, for ${firstOperation === operation ? `another ${operation}` : `a ${firstOperation}`}: ` +
      'a retry must repeat its request exactly, and a new request needs a key of its own',
    { idempotencyKey: key, operation: firstOperation },
  );
}

/** The request as a stable string: the same request hashes the same whatever its keys' order. */
export function requestHash({ operation, request }: Effect): string {
  return createHash('sha256').update(`${operation}\n${JSON.stringify(request, sortedKeys)}`).digest('hex');
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// Results keep their Dates across the round trip through jsonb.
const DATE = '$date';

function encode(result: object): string {
  return JSON.stringify(result, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    return raw instanceof Date ? { [DATE]: raw.toISOString() } : value;
  });
}

function decode(stored: string): unknown {
  return JSON.parse(stored, (_key, value) => {
    const date = value !== null && typeof value === 'object' && Object.keys(value).length === 1 ? (value as Record<string, unknown>)[DATE] : undefined;
    return typeof date === 'string' ? new Date(date) : value;
  });
}
