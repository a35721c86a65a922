/**
 * The API's shared schemas: the parts of a request that are HTTP's own (path parameters, the
 * Idempotency-Key header), and responses. A request's input is parsed with the library's own
 * schemas (core/, and the engine module that owns each call), which the routes name for the
 * OpenAPI document (`/v1/openapi.json`); the route then calls billing.parsed, so the request is
 * parsed once. Response objects are strict, so the document says exactly what a response
 * holds; Dates leave as ISO 8601 strings.
 */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES } from '../core/errors.ts';
import { accountIdSchema, holdIdSchema, MAX_ID_CHARS, slugSchema, text } from '../core/input.ts';
import { REFUSAL_CODES } from '../core/refusal.ts';

/** A moment in a response: an ISO 8601 date-time in UTC, as a Date serializes. */
export const DateTime = z.iso.datetime();
/** Micro-dollars in a response (1e-6 USD). */
export const Micros = z.number().int();

export const RemedySchema = z
  .strictObject({
    kind: z.enum(['buy_pack', 'upgrade', 'wait_until', 'contact_support', 'ask_account_admin', 'update_payment_method', 'billing_portal']).openapi({
      description:
        'upgrade: a public plan that costs more would let the call through (it allows the model; the limit that refused is larger there or absent). ' +
        'ask_account_admin: a team member\'s own cap (member_limit) that the call alone is larger than; whoever manages the account can raise it. ' +
        'billing_portal: a renewal\'s payment failed; POST /v1/accounts/{id}/portal gives the page where the customer pays it or changes the payment method.',
    }),
    at: DateTime.optional().openapi({ description: 'For wait_until: when more becomes available.' }),
    plans: z.array(z.string()).optional().openapi({ description: 'For a pack no plan of the account can spend: the plans that can.' }),
  })
  .openapi('Remedy', { description: 'For refusals and refused checkouts: what the account can do.' });

export const ErrorSchema = z
  .strictObject({
    error: z.strictObject({
      type: z.enum(['invalid_request_error', 'authentication_error', 'idempotency_error', 'refusal', 'rate_limit_error', 'api_error']),
      code: z.string().openapi({
        description:
          `One of the library's error codes (${ERROR_CODES.join(', ')}), a refusal code (${REFUSAL_CODES.join(', ')}), or an HTTP-level code ` +
          '(unauthorized, not_found, invalid_json, unsupported_media_type, payload_too_large, idempotency_key_reused, idempotency_key_in_use, internal_error, ' +
          'database_unreachable; for webhooks, invalid_signature and webhook_not_applied).',
      }),
      message: z.string().openapi({ description: 'What went wrong and what to do about it, in a sentence a person can read.' }),
      reason: z.string().optional().openapi({ description: 'For refusals: what refused and why, without what to do (the message says both), for an app that offers the remedy its own way.' }),
      remedy: RemedySchema.optional(),
      resetsAt: DateTime.optional().openapi({ description: 'For a limit the account or member reached: when its window resets. Absent when the call alone is more than the whole limit, which no reset lets through.' }),
      param: z.string().optional().openapi({ description: 'The field or header at fault.' }),
      issues: z.array(z.string()).optional().openapi({ description: 'Every problem found in the input, field by field.' }),
    }),
  })
  .openapi('Error');

/**
 * A named schema or null. (`.nullable()` would carry the name over, and the document would
 * then call the nullable one by it.)
 */
export const orNull = <T extends z.ZodType>(schema: T) => z.union([schema, z.null()]);

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** What any route may answer besides its own statuses: a body too large (413) or not JSON (415), or a fault on our side (500, 503). */
const otherErrors = { default: json(ErrorSchema, 'Any other error: a body too large (413) or not sent as JSON (415), or a fault on our side (500, 503).') };

/** The error responses every authenticated route can answer, for its `responses`. */
export const errorResponses = {
  400: json(ErrorSchema, 'Invalid input: the message says which field and what to fix.'),
  401: json(ErrorSchema, 'A missing or wrong secret key.'),
  404: json(ErrorSchema, 'An account, hold, plan, pack, bucket, payment or usage event that does not exist.'),
  409: json(ErrorSchema, 'The request conflicts with what is there (a settled hold, a reused key, a taken slug).'),
  ...otherErrors,
} as const;

/** The error responses of a route that needs no key. */
export const publicErrorResponses = otherErrors;

/** A JSON request body, required. */
export const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

export const IdempotencyKeyHeader = z.object({
  'idempotency-key': z.string().min(1).max(255).optional().openapi({
    description: 'Makes a retry safe: the same key and body get the first response again (with Idempotent-Replayed: true); the same key with another body is a 409.',
  }),
});

/** A required Idempotency-Key: the effect's own key (an id, as the library takes it), so a retry, after any crash, is made once. */
const requiredKey = (what: string, example: string) => {
  const message = `${what} needs an Idempotency-Key header of 1 to ${MAX_ID_CHARS} characters: a retry with the same key is made once`;
  return z.object({
    'idempotency-key': text(MAX_ID_CHARS, 1, message).openapi({
      description: `Required: ${what.toLowerCase()} is made once per key, whatever happens to the first answer. A retry with the same key and body gets the first result again (Idempotent-Replayed: true); the key with another body is a 409.`,
      example,
    }),
  });
};

/** The Idempotency-Key of a charge (settle, record): your message or request id. */
export const ChargeKeyHeader = requiredKey('A charge', 'msg_991');

/** The Idempotency-Key of anything else that moves money: a refund, a credit, a purchase, a plan change or a cancel. */
export const MoneyKeyHeader = requiredKey('A call that moves money', 'req_7Hq2');

/** Whether a money-moving response is the first call's, given again to a retry. */
export const Replayed = z.boolean().openapi({ description: 'True when this is the first call\'s result, given again to a retry under its Idempotency-Key.' });

export const AccountIdParam = z.object({
  accountId: accountIdSchema.meta({ param: { name: 'accountId', in: 'path' }, example: 'team_42' }),
});

export const SlugParam = z.object({
  slug: slugSchema.meta({ param: { name: 'slug', in: 'path' }, example: 'plus' }),
});

export const HoldIdParam = z.object({ holdId: holdIdSchema.meta({ param: { name: 'holdId', in: 'path' } }) });
