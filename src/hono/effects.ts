/**
 * Routes that move money pass the request's Idempotency-Key (required by their schema) to the
 * library, which claims it in the effect's own transaction; a retry's answer is the first
 * result, marked `Idempotent-Replayed: true`, with the first status.
 */
import type { Context, TypedResponse } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JSONParsed } from 'hono/utils/types';
import type { EffectOptions } from '../engine/once.ts';

export const keyOf = (c: Context): EffectOptions => ({ idempotencyKey: c.req.header('Idempotency-Key') });

// Typed as c.json's answer, written out: the declaration emitted for the package cannot spell the inferred one.
export function answer<R extends { replayed: boolean }, S extends ContentfulStatusCode>(c: Context, result: R, status: S): Response & TypedResponse<JSONParsed<R>, S, 'json'> {
  if (result.replayed) c.header('Idempotent-Replayed', 'true');
  return c.json(result, status);
}
