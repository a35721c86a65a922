/**
 * Model prices, for admins: an override of a model's price from a moment on, and its removal.
 * Usage charged before keeps the price it was charged at; every process prices its next call
 * with what is set.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { modelPriceInputSchema, modelPriceKeySchema } from '../../engine/catalog/catalog.ts';
import type { Api } from '../api.ts';
import { body, DateTime, errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';

/** A rate as stored: dollars per million tokens as a decimal string, or tiers by the request's input tokens. */
const RateSchema = z
  .union([
    z.string(),
    z.strictObject({ base: z.string(), tiers: z.array(z.strictObject({ start: z.number().int(), price: z.string() }).readonly()).readonly() }).readonly(),
  ])
  .openapi('Rate', { description: 'Dollars per million tokens ("2.5"), or tiers: each tier\'s price applies to every token when the request\'s input tokens exceed its start.' });

const rateKeys = <T extends z.ZodType>(rate: T) => ({
  input: rate,
  output: rate,
  cacheRead: rate.optional(),
  cacheWrite: rate.optional(),
  reasoning: rate.optional(),
  requests: rate.optional().openapi({ description: 'Dollars per thousand requests: a fee on every call.' }),
});

export const PriceEntrySchema = z
  .strictObject({
    source: z.enum(['bundled', 'override', 'fallback']),
    provider: z.string(),
    model: z.string(),
    effectiveFrom: DateTime.optional(),
    rates: z.strictObject(rateKeys(RateSchema)),
  })
  .openapi('PriceEntry');

const ModelPriceRequestSchema = modelPriceInputSchema.meta({ id: 'ModelPriceRequest' });
const ModelPriceKeySchema = modelPriceKeySchema.meta({ id: 'ModelPriceKey' });

export function registerAdminPrices(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/admin/model-prices', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Set a model\'s price from a moment on (the same model, provider and moment again replaces it)',
      request: { headers: IdempotencyKeyHeader, ...body(ModelPriceRequestSchema) },
      responses: { 201: json(PriceEntrySchema, 'The price as it will be charged.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.admin.setModelPrice(c.req.valid('json')), 201),
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/admin/model-prices/remove', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Remove a price override: calls from now on are priced as if it had never been set',
      request: { headers: IdempotencyKeyHeader, ...body(ModelPriceKeySchema) },
      responses: { 200: json(z.strictObject({ removed: PriceEntrySchema }).openapi('ModelPriceRemoved'), 'The override removed.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.admin.removeModelPrice(c.req.valid('json')), 200),
  );
}
