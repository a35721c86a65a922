/**
 * Usage that had no hold (a call the gate did not see), charged as it is: one record, its
 * `Idempotency-Key` header the charge's key; or a batch of up to 1,000 across accounts, each
 * item with its own key, written in one transaction, all or nothing.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { batchSchema, chargeOptionsShape, recordInputShape } from '../../engine/charge/charge.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, ChargeKeyHeader, errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';
import { ChargeSchema } from './holds.ts';

/** The most items one batch request may carry. */
export const MAX_BATCH_ITEMS = 1_000;

/** The library's record input, and its options but the key (the header). */
const { idempotencyKey: _recordKey, ...recordOptions } = chargeOptionsShape;
const RecordRequestSchema = z.strictObject({ ...recordInputShape, ...recordOptions }).openapi('RecordRequest');

/** The library's batch, each item with its key; fewer items in one request than the library takes in one call. */
const BatchRequestSchema = z
  .strictObject({ items: batchSchema.max(MAX_BATCH_ITEMS, `must hold at most ${MAX_BATCH_ITEMS.toLocaleString('en-US')} items: send more in several batches`) })
  .openapi('RecordBatchRequest');

export function registerUsageRecords(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/usage-records', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: 'Charge usage that had no hold: it happened, so it is never refused (beyond the balance it is debt)',
      request: { params: AccountIdParam, headers: ChargeKeyHeader, ...body(RecordRequestSchema) },
      responses: { 200: json(ChargeSchema, 'Charged (or, for a retry, the first charge again).'), ...errorResponses },
    }),
    async (c) => {
      const { metadata, ...input } = c.req.valid('json');
      const charge = await billing.parsed.record(c.req.valid('param').accountId, input, { idempotencyKey: c.req.valid('header')['idempotency-key'], metadata });
      if (charge.replayed) c.header('Idempotent-Replayed', 'true');
      return c.json(charge, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/usage-records/batch', tags: ['Gate'], security: [{ SecretKey: [] }],
      summary: `Charge up to ${MAX_BATCH_ITEMS.toLocaleString('en-US')} usages across accounts in one transaction, all or nothing`,
      description: 'A bad item, an unknown account or model, or a key reused for other usage fails the whole batch (the message names the item), and nothing is written. Items whose key was charged already with the same usage come back as replays.',
      request: { headers: IdempotencyKeyHeader, ...body(BatchRequestSchema) },
      responses: { 200: json(z.strictObject({ data: z.array(ChargeSchema) }).openapi('RecordBatchResult'), 'Each item\'s charge, in order.'), ...errorResponses },
    }),
    async (c) => c.json({ data: await billing.parsed.recordBatch(c.req.valid('json').items) }, 200),
  );
}
