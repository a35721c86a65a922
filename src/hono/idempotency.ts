/**
 * `Idempotency-Key` on every POST, with Stripe's semantics: the first response to a key is
 * kept; a retry with the same key and the same request gets it again (with
 * `Idempotent-Replayed: true`), one with another request is a 409. A key whose first request
 * is still being answered is a 409 too; one whose process died is taken over after a minute.
 * Neither a 500 nor input refused before anything ran (a body that is not valid JSON, a field
 * that is not, a path no route serves) is kept, so a retry runs again: with the input fixed,
 * under the same key.
 * Rows live in the database: every process of a deployment honours every key.
 */
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { textProblem } from '../core/input.ts';
import type { Sql } from '../db/sql.ts';
import { HttpError } from './errors.ts';

const ABANDONED_AFTER_SECONDS = 60;

/** Error codes of input refused before the route ran, or of a path no route serves: nothing happened under the key. */
const NOT_RUN = new Set(['invalid_input', 'invalid_json', 'unsupported_media_type', 'payload_too_large', 'not_found']);

/**
 * `ownKey`: the routes whose effect is made once by the key itself, claimed in the effect's own
 * transaction (charges, and every other call that moves money): a stored response, written after
 * the effect, could be lost in a crash between the two, and would cost two more commits a call.
 */
export function idempotency(sql: Sql, { ownKey }: { ownKey: (c: Context) => boolean }): MiddlewareHandler {
  return async (c, next) => {
    const key = c.req.header('Idempotency-Key');
    if (c.req.method !== 'POST' || key === undefined || ownKey(c)) return next();
    if (key.length === 0 || key.length > 255 || textProblem(key)) {
      throw new HttpError(400, { type: 'invalid_request_error', code: 'invalid_input', message: 'The Idempotency-Key header must be 1 to 255 characters', param: 'Idempotency-Key' });
    }
    const requestHash = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${await c.req.text()}`).digest('hex');
    const claimed = await sql.query('INSERT INTO api_idempotency (key, request_hash) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key', [key, requestHash]);
    if (claimed.length === 0) {
      const [row] = await sql.query<{ request_hash: string; status: number | null; body: unknown }>('SELECT request_hash, status, body FROM api_idempotency WHERE key = $1', [key]);
      if (row && row.request_hash !== requestHash) {
        throw new HttpError(409, {
          type: 'idempotency_error', code: 'idempotency_key_reused', param: 'Idempotency-Key',
          message: `The Idempotency-Key "${key}" was used for a different request: use a new key for a new request`,
        });
      }
      if (row && row.status !== null) {
        c.header('Idempotent-Replayed', 'true');
        return c.json(row.body as object, row.status as ContentfulStatusCode);
      }
      const takenOver = await sql.query(
        `UPDATE api_idempotency SET updated_at = now() WHERE key = $1 AND status IS NULL AND updated_at < now() - make_interval(secs => $2) RETURNING key`,
        [key, ABANDONED_AFTER_SECONDS],
      );
      if (takenOver.length === 0) {
        throw new HttpError(409, {
          type: 'idempotency_error', code: 'idempotency_key_in_use', param: 'Idempotency-Key',
          message: `A request with the Idempotency-Key "${key}" is still being answered: retry it in a moment`,
        });
      }
    }
    await next();
    const body: unknown = c.res.status >= 500 ? null : await c.res.clone().json().catch(() => null);
    const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
    if (c.res.status >= 500 || (typeof code === 'string' && NOT_RUN.has(code))) await sql.query('DELETE FROM api_idempotency WHERE key = $1', [key]);
    else {
      try {
        await sql.query('UPDATE api_idempotency SET status = $2, body = $3, updated_at = now() WHERE key = $1', [key, c.res.status, JSON.stringify(body)]);
      } catch {
        // A body jsonb cannot hold (error bodies are made storable: errors.ts). The answer still
        // goes out, as the client would retry a 500; the key is freed rather than left in use.
        await sql.query('DELETE FROM api_idempotency WHERE key = $1', [key]);
      }
    }
  };
}

/** Keys are kept a day: a retry comes within minutes, and the table must not grow for ever. */
export async function forgetOldKeys(sql: Sql): Promise<number> {
  const rows = await sql.query(`DELETE FROM api_idempotency WHERE created_at < now() - interval '24 hours' RETURNING 1`);
  return rows.length;
}
