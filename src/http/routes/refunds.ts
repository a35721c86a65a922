/**
 * Refunds: value a usage event drew, given back to the buckets it came from (or off the debt
 * it left). Send an Idempotency-Key: without one, a retried partial refund refunds again.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../billing/billing.ts';
import { micros, rowId } from '../../core/input.ts';
import type { Api } from '../api.ts';
import { body, errorResponses, IdempotencyKeyHeader, json, Micros } from '../schemas.ts';

const RefundRequestSchema = z
  .strictObject({
    usageEventId: rowId.meta({ description: 'The usage event to refund: a charge\'s usageEventId.', example: 1 }),
    amountMicros: micros.optional().openapi({ description: 'How much to give back, in micro-dollars; left out: all that is left to refund.' }),
  })
  .openapi('RefundRequest');

const RefundSchema = z
  .strictObject({
    usageEventId: z.number().int(),
    refundedMicros: Micros,
    toBuckets: z.array(z.strictObject({ bucketId: z.number().int(), amountMicros: Micros })).openapi({ description: 'Value put back, bucket by bucket (a new refund bucket where the original has expired).' }),
    debtForgivenMicros: Micros.openapi({ description: 'The part that was never paid, taken off the debt.' }),
  })
  .openapi('Refund');

export function registerRefunds(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/refunds', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Give back value a usage event drew, all of it or a part',
      request: { headers: IdempotencyKeyHeader, ...body(RefundRequestSchema) },
      responses: { 201: json(RefundSchema, 'Refunded.'), ...errorResponses },
    }),
    async (c) => {
      const { usageEventId, amountMicros } = c.req.valid('json');
      return c.json(await billing.refund(usageEventId, amountMicros === undefined ? {} : { amountMicros }), 201);
    },
  );
}
