/**
 * The gate over HTTP: authorize (a hold, or a 402 carrying the refusal), settle (the charge;
 * the `Idempotency-Key` header is also the charge's own key, so a retry never charges twice)
 * and release.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { authorizeInputSchema } from '../../engine/gate/authorize.ts';
import { settleOptionsShape } from '../../engine/charge/charge.ts';
import { tokenUsageSchema } from '../../core/usage.ts';
import type { Api } from '../api.ts';
import { refusalBody } from '../errors.ts';
import { AccountIdParam, body, ChargeKeyHeader, DateTime, ErrorSchema, errorResponses, HoldIdParam, IdempotencyKeyHeader, json, Micros } from '../schemas.ts';

export const AuthorizeRequestSchema = authorizeInputSchema.meta({ id: 'AuthorizeRequest' });

export const HoldSchema = z
  .strictObject({
    id: z.string().openapi({ description: 'Opaque: pass it back to settle or release.' }),
    accountId: z.string(),
    model: z.string(),
    provider: z.string(),
    amountMicros: Micros.openapi({ description: 'Value reserved, in micro-dollars.' }),
    tokens: z.number().int().openapi({ description: 'Tokens held against token limits: inputTokens + maxOutputTokens, a count not given held at 1,000,000,000.' }),
    expiresAt: DateTime.openapi({ description: 'When the hold lapses if neither settled nor released.' }),
  })
  .openapi('Hold');

export const ChargeSchema = z
  .strictObject({
    usageEventId: z.number().int().openapi({ description: 'Refund it by this id.' }),
    accountId: z.string(),
    holdId: z.string().nullable(),
    model: z.string(),
    provider: z.string(),
    costMicros: Micros.openapi({ description: 'Provider cost, in micro-dollars.' }),
    valueMicros: Micros.openapi({ description: 'Usage value charged (cost with margin), in micro-dollars.' }),
    debtMicros: Micros.openapi({ description: 'The part the buckets could not cover, now owed.' }),
    replayed: z.boolean().openapi({ description: 'True when the charge answers an earlier one with the same key.' }),
  })
  .openapi('Charge');

/** The usage, and the library's settle options but the key (the header). */
const { idempotencyKey: _settleKey, ...settleFields } = settleOptionsShape;
const SettleRequestSchema = z.strictObject({ usage: tokenUsageSchema, ...settleFields }).openapi('SettleRequest');

export function registerHolds(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/authorize', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Authorize an AI call: a hold for its worst case, or a refusal',
      request: { params: AccountIdParam, headers: IdempotencyKeyHeader, ...body(AuthorizeRequestSchema) },
      responses: {
        201: json(z.strictObject({ hold: HoldSchema }).openapi('Authorization'), 'The call may go ahead: its worst case is held.'),
        402: json(ErrorSchema, 'Refused: the error carries the refusal code, a message, a remedy and when a limit resets.'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const result = await billing.parsed.authorize(c.req.valid('param').accountId, c.req.valid('json'));
      return result.ok ? c.json({ hold: result.hold }, 201) : c.json(refusalBody(result), 402);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/holds/{holdId}/settle', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Charge what an authorized call really used; the rest of its hold is freed',
      request: { params: HoldIdParam, headers: ChargeKeyHeader, ...body(SettleRequestSchema) },
      responses: { 200: json(ChargeSchema, 'Charged (or, for a retry, the first charge again).'), ...errorResponses },
    }),
    async (c) => {
      const { usage, ...options } = c.req.valid('json');
      const charge = await billing.parsed.settle(c.req.valid('param').holdId, usage, { idempotencyKey: c.req.valid('header')['idempotency-key'], ...options });
      if (charge.replayed) c.header('Idempotent-Replayed', 'true');
      return c.json(charge, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/holds/{holdId}/release', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Free a hold whose call did not happen',
      request: { params: HoldIdParam, headers: IdempotencyKeyHeader },
      responses: { 200: json(z.strictObject({ holdId: z.string(), status: z.literal('released') }).openapi('Release'), 'Released (a hold released already is released again).'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.release(c.req.valid('param').holdId), 200),
  );
}
