/**
 * The gate over HTTP: authorize (a hold, or a 402 carrying the refusal), settle (the charge;
 * the `Idempotency-Key` header is also the charge's own key, so a retry never charges twice)
 * and release.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../billing/billing.ts';
import { MAX_CALL_TOKENS } from '../../core/input.ts';
import type { Api } from '../api.ts';
import { HttpError, refusalBody } from '../errors.ts';
import { AccountIdParam, body, ErrorSchema, errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';

const tokens = z.number().int().min(0).max(MAX_CALL_TOKENS);

export const AuthorizeRequestSchema = z
  .object({
    model: z.string().min(1).max(200).openapi({ example: 'gpt-4o-mini' }),
    provider: z.string().min(1).max(100).optional().openapi({ example: 'openai' }),
    inputTokens: tokens.optional().openapi({ description: 'Tokens of the prompt, if known: the hold covers them.', example: 1200 }),
    maxOutputTokens: tokens.optional().openapi({ description: 'The most the call may write: the hold covers them.', example: 800 }),
    userId: z.string().min(1).max(200).optional().openapi({ description: 'The member of the account making the call.', example: 'u_7' }),
  })
  .strict()
  .openapi('AuthorizeRequest');

export const HoldSchema = z
  .object({
    id: z.string().openapi({ description: 'Opaque: pass it back to settle or release.' }),
    accountId: z.string(),
    model: z.string(),
    provider: z.string(),
    amountMicros: z.number().int().openapi({ description: 'Value reserved, in micro-dollars.' }),
    tokens: z.number().int(),
    expiresAt: z.string().openapi({ description: 'When the hold lapses if neither settled nor released.' }),
  })
  .openapi('Hold');

export const UsageSchema = z
  .object({
    inputTokens: tokens.openapi({ description: 'All input tokens, cache reads and writes included.' }),
    outputTokens: tokens.openapi({ description: 'All output tokens, reasoning included.' }),
    cacheReadTokens: tokens.optional(),
    cacheWriteTokens: tokens.optional(),
    reasoningTokens: tokens.optional(),
  })
  .strict()
  .openapi('TokenUsage');

export const ChargeSchema = z
  .object({
    usageEventId: z.number().int(),
    accountId: z.string(),
    holdId: z.string().nullable(),
    model: z.string(),
    provider: z.string(),
    costMicros: z.number().int().openapi({ description: 'Provider cost, in micro-dollars.' }),
    valueMicros: z.number().int().openapi({ description: 'Usage value charged (cost with margin), in micro-dollars.' }),
    debtMicros: z.number().int().openapi({ description: 'The part the buckets could not cover, now owed.' }),
    replayed: z.boolean().openapi({ description: 'True when this answers an earlier request with the same key.' }),
  })
  .openapi('Charge');

const SettleRequestSchema = z
  .object({ usage: UsageSchema, metadata: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Kept with the usage event (chat, message…); at most 8,000 characters of JSON.' }) })
  .strict()
  .openapi('SettleRequest');

const HoldIdParam = z.object({ holdId: z.string().min(1).max(4000).openapi({ param: { name: 'holdId', in: 'path' } }) });

/** The key a charge is made once under: the request's Idempotency-Key. */
export function chargeKey(header: string | undefined): string {
  if (!header) {
    throw new HttpError(400, {
      type: 'invalid_request_error', code: 'invalid_input', param: 'Idempotency-Key',
      message: 'A charge needs an Idempotency-Key header (your message or request id): a retry with the same key is charged once',
    });
  }
  return header;
}

export function registerHolds(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/authorize', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Authorize an AI call: a hold for its worst case, or a refusal',
      request: { params: AccountIdParam, headers: IdempotencyKeyHeader, ...body(AuthorizeRequestSchema) },
      responses: {
        201: json(z.object({ hold: HoldSchema }), 'The call may go ahead: its worst case is held.'),
        402: json(ErrorSchema, 'Refused: the error carries the refusal code, a message, a remedy and when a limit resets.'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const result = await billing.authorize(c.req.valid('param').accountId, c.req.valid('json'));
      return result.ok ? c.json({ hold: result.hold }, 201) : c.json(refusalBody(result), 402);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/holds/{holdId}/settle', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Charge what an authorized call really used; the rest of its hold is freed',
      request: { params: HoldIdParam, headers: IdempotencyKeyHeader, ...body(SettleRequestSchema) },
      responses: { 200: json(ChargeSchema, 'Charged (or, for a retry, the first charge again).'), ...errorResponses },
    }),
    async (c) => {
      const { usage, metadata } = c.req.valid('json');
      const charge = await billing.settle(c.req.valid('param').holdId, usage, { idempotencyKey: chargeKey(c.req.header('Idempotency-Key')), metadata });
      return c.json(charge, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/holds/{holdId}/release', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Free a hold whose call did not happen',
      request: { params: HoldIdParam, headers: IdempotencyKeyHeader },
      responses: { 200: json(z.object({ holdId: z.string(), status: z.literal('released') }), 'Released.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.release(c.req.valid('param').holdId), 200),
  );
}
