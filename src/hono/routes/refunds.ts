/**
 * Refunds: value a usage event drew, given back to the buckets it came from (or off the debt
 * it left), once per Idempotency-Key.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { rowId } from '../../core/input.ts';
import { refundShape } from '../../engine/grants/refunds.ts';
import type { Api } from '../api.ts';
import { answer, keyOf } from '../effects.ts';
import { body, errorResponses, json, Micros, MoneyKeyHeader, Replayed } from '../schemas.ts';

/** The refund's usage event, and the library's refund input (refunds.ts). */
const RefundRequestSchema = z
  .strictObject({ usageEventId: rowId.meta({ description: 'The usage event to refund: a charge\'s usageEventId.', example: 1 }), ...refundShape })
  .openapi('RefundRequest');

const RefundSchema = z
  .strictObject({
    usageEventId: z.number().int(),
    refundedMicros: Micros,
    toBuckets: z.array(z.strictObject({ bucketId: z.number().int(), amountMicros: Micros })).openapi({ description: 'Value put back, bucket by bucket (a new refund bucket where the original has expired).' }),
    debtForgivenMicros: Micros.openapi({ description: 'The part that was never paid, taken off the debt.' }),
    replayed: Replayed,
  })
  .openapi('Refund');

export function registerRefunds(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/refunds', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Give back value a usage event drew, all of it or a part',
      request: { headers: MoneyKeyHeader, ...body(RefundRequestSchema) },
      responses: { 201: json(RefundSchema, 'Refunded.'), ...errorResponses },
    }),
    async (c) => {
      const { usageEventId, ...refund } = c.req.valid('json');
      return answer(c, await billing.parsed.refund(usageEventId, refund, keyOf(c)), 201);
    },
  );
}
