/** Credit packs, for admins: list, read, create, change. Value already bought keeps its terms. */
import { z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { packFilterSchema } from '../../engine/catalog/catalog.ts';
import { PACK_STATUSES, packInputSchema, packPatchSchema } from '../../core/pack.ts';
import type { Api } from '../api.ts';
import { Micros } from '../schemas.ts';
import { registerCatalog } from './catalog.ts';

export const PackSchema = z
  .strictObject({
    id: z.number().int(),
    slug: z.string(),
    name: z.string(),
    status: z.enum(PACK_STATUSES),
    priceCents: z.number().int(),
    valueMicrosOverride: Micros.nullable().openapi({ description: 'Usage value granted when set explicitly; null: the price.' }),
    expiresAfterDays: z.number().int().nullable().openapi({ description: 'Days the value lasts from the purchase; null: it never expires.' }),
    requiresPlan: z.boolean().openapi({ description: 'Sold only as an add-on to a paid plan.' }),
    processorPrices: z.record(z.string(), z.string()),
    public: z.boolean().openapi({ description: 'Shown in the pricing table.' }),
    sort: z.number().int(),
  })
  .openapi('Pack');

export function registerAdminPacks(api: Api, billing: Billing) {
  registerCatalog(api, {
    path: '/admin/packs', noun: 'pack',
    schemas: {
      item: PackSchema, list: z.strictObject({ data: z.array(PackSchema) }).openapi('PackList'),
      filter: packFilterSchema, create: packInputSchema.meta({ id: 'PackCreate' }), patch: packPatchSchema.meta({ id: 'PackPatch' }),
    },
    list: billing.parsed.admin.listPacks, get: billing.parsed.admin.getPack, create: billing.parsed.admin.createPack, update: billing.parsed.admin.updatePack,
  });
}
