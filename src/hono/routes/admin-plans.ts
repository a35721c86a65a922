/** Plans, for admins: list, read, create, change. A change to a plan's terms is a new version, for new subscribers (engine/catalog/plan-versions.ts). */
import { z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { planFilterSchema } from '../../engine/catalog/catalog.ts';
import { limitSchema, PLAN_STATUSES, planInputSchema, planPatchSchema } from '../../core/plan.ts';
import type { Api } from '../api.ts';
import { Micros } from '../schemas.ts';
import { registerCatalog } from './catalog.ts';

export const PlanSchema = z
  .strictObject({
    id: z.number().int(),
    slug: z.string(),
    name: z.string(),
    status: z.enum(PLAN_STATUSES),
    priceCents: z.number().int().openapi({ description: 'The monthly price.' }),
    surchargeCents: z.number().int().openapi({ description: 'The part of the price that is not usage.' }),
    includedMicrosOverride: Micros.nullable().openapi({ description: 'Usage value included each period when set explicitly; null: price − surcharge.' }),
    limits: z.array(limitSchema),
    overage: z.enum(['block', 'credits']).openapi({ description: 'credits: usage beyond the allowance draws on credit packs; block: it is refused.' }),
    models: z.array(z.string()).openapi({ description: 'Model patterns allowed ("claude-*"); empty allows every model.' }),
    processorPrices: z.record(z.string(), z.string()),
    public: z.boolean().openapi({ description: 'Shown in the pricing table.' }),
    sort: z.number().int(),
  })
  .openapi('Plan');

export function registerAdminPlans(api: Api, billing: Billing) {
  registerCatalog(api, {
    path: '/admin/plans', noun: 'plan',
    schemas: {
      item: PlanSchema, list: z.strictObject({ data: z.array(PlanSchema) }).openapi('PlanList'),
      filter: planFilterSchema, create: planInputSchema.meta({ id: 'PlanCreate' }), patch: planPatchSchema.meta({ id: 'PlanPatch' }),
    },
    list: billing.parsed.admin.listPlans, get: billing.parsed.admin.getPlan, create: billing.parsed.admin.createPlan, update: billing.parsed.admin.updatePlan,
  });
}
