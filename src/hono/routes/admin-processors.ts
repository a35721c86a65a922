/**
 * Processors, for admins: sync the catalog to one, so that its checkout has a price for every
 * plan and pack on sale. Safe to run again, and from several processes at once: what exists is
 * found, not made twice.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { processorNameSchema } from '../../engine/accounts.ts';
import type { Api } from '../api.ts';
import { DateTime, ErrorSchema, errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';

const ProcessorParam = z.object({ processor: processorNameSchema.meta({ param: { name: 'processor', in: 'path' }, example: 'stripe' }) });

const CatalogSyncSchema = z
  .strictObject({
    processor: z.string(),
    syncedAt: DateTime,
    items: z.array(
      z.strictObject({
        kind: z.enum(['plan', 'pack']),
        slug: z.string(),
        name: z.string(),
        priceCents: z.number().int(),
        priceId: z.string().openapi({ description: 'The processor\'s price, now stored on the plan or pack (processorPrices).' }),
        previousPriceId: z.string().nullable().openapi({ description: 'The price stored before the sync.' }),
        outcome: z.enum(['created', 'linked', 'unchanged']).openapi({
          description: 'created: a price made now; linked: one found at the processor (made by a sync that did not finish, or by hand) and stored now; unchanged: the one stored already.',
        }),
        archived: z.array(z.string()).openapi({ description: 'Prices archived at the processor for it: those of an earlier amount.' }),
      }),
    ),
    created: z.number().int(),
    linked: z.number().int(),
    unchanged: z.number().int(),
    archived: z.number().int(),
  })
  .openapi('CatalogSync');

export function registerAdminProcessors(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/admin/processors/{processor}/sync', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Make the prices plans and packs on sale need at a processor, and store their ids; a second run makes nothing',
      request: { params: ProcessorParam, headers: IdempotencyKeyHeader },
      responses: {
        200: json(CatalogSyncSchema, 'What the sync did, item by item.'),
        ...errorResponses,
        502: json(ErrorSchema, 'The processor failed or refused a call: nothing was stored, and a sync run again finds what it made.'),
      },
    }),
    async (c) => {
      const result = await billing.parsed.admin.syncCatalog(c.req.valid('param').processor);
      return c.json({ ...result, syncedAt: result.syncedAt.toISOString() }, 200);
    },
  );
}
