/** Credit packs, for admins: list, read, create, change. Value already bought keeps its terms. */
import { z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { cents, int4, micros, slugSchema, text } from '../../core/input.ts';
import type { Api } from '../api.ts';
import { Micros } from '../schemas.ts';
import { registerCatalog } from './catalog.ts';
import { ProcessorPrices } from './admin-plans.ts';

const PACK_STATUSES = ['active', 'archived'] as const;

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

const packFields = {
  name: text(100, 1),
  status: z.enum(PACK_STATUSES),
  priceCents: cents.meta({ description: 'The price, in cents.', example: 1000 }),
  valueMicros: micros.nullable().openapi({ description: 'Usage value granted; null or left out: the price (more is a bonus).' }),
  expiresAfterDays: z.number().int().nullable().openapi({ description: 'Days the value lasts from the purchase; null or left out: it never expires.' }),
  requiresPlan: z.boolean().openapi({ description: 'Sold only as an add-on to a paid plan (default false).' }),
  processorPrices: ProcessorPrices,
  public: z.boolean(),
  sort: int4,
};

const PackCreateSchema = z
  .strictObject({ slug: slugSchema.meta({ example: 'extra-10' }), ...packFields })
  .partial({ status: true, valueMicros: true, expiresAfterDays: true, requiresPlan: true, processorPrices: true, public: true, sort: true })
  .openapi('PackCreate');

const PackPatchSchema = z.strictObject(packFields).partial().openapi('PackPatch');

export function registerAdminPacks(api: Api, billing: Billing) {
  registerCatalog(api, {
    path: '/admin/packs', noun: 'pack', statuses: PACK_STATUSES,
    schemas: { item: PackSchema, list: z.strictObject({ data: z.array(PackSchema) }).openapi('PackList'), create: PackCreateSchema, patch: PackPatchSchema },
    list: billing.admin.listPacks, get: billing.admin.getPack, create: billing.admin.createPack, update: billing.admin.updatePack,
  });
}
