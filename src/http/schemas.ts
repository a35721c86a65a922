/**
 * The API's shared schemas: request bodies as JSON carries them, and responses. They produce
 * the OpenAPI document (`/v1/openapi.json`); the facade behind each route then applies the
 * library's own rules (core/input.ts), so a bound lives in one place.
 */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES } from '../core/errors.ts';
import { REFUSAL_CODES } from '../core/refusal.ts';

export const ErrorSchema = z
  .object({
    error: z.object({
      type: z.enum(['invalid_request_error', 'authentication_error', 'idempotency_error', 'refusal', 'rate_limit_error', 'api_error']),
      code: z.string().openapi({ description: `One of the library's error codes (${ERROR_CODES.join(', ')}), a refusal code (${REFUSAL_CODES.join(', ')}), or an HTTP-level code (unauthorized, not_found, invalid_json, idempotency_key_reused, idempotency_key_in_use, internal_error).` }),
      message: z.string().openapi({ description: 'What went wrong and what to do about it, in a sentence a person can read.' }),
      remedy: z.unknown().optional().openapi({ description: 'For refusals and refused checkouts: what the account can do (buy_pack, upgrade, wait_until, contact_support).' }),
      resetsAt: z.string().optional().openapi({ description: 'For limit refusals: when the window resets (ISO 8601).' }),
      param: z.string().optional().openapi({ description: 'The field or header at fault.' }),
      issues: z.array(z.string()).optional().openapi({ description: 'Every problem found in the input, field by field.' }),
    }),
  })
  .openapi('Error');

/** The error responses every authenticated route can answer, for its `responses`. */
export const errorResponses = {
  400: { description: 'Invalid input: the message says which field and what to fix.', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'A missing or wrong secret key.', content: { 'application/json': { schema: ErrorSchema } } },
  404: { description: 'An account, hold, plan, pack or usage event that does not exist.', content: { 'application/json': { schema: ErrorSchema } } },
  409: { description: 'The request conflicts with what is there (a settled hold, a reused key, a taken slug).', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** A JSON request body, required. */
export const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

export const IdempotencyKeyHeader = z.object({
  'idempotency-key': z.string().min(1).max(255).optional().openapi({
    description: 'Makes a retry safe: the same key and body get the first response again; the same key with another body is a 409.',
  }),
});

export const AccountIdParam = z.object({
  accountId: z.string().min(1).max(200).openapi({ param: { name: 'accountId', in: 'path' }, example: 'team_42' }),
});
