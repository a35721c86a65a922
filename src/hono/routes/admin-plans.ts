/** Plans, for admins: list, read, create, change. Accounts on a plan feel a change from their next call. */
import { z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { cents, int4, micros, modelSchema, slugSchema, text } from '../../core/input.ts';
import { PLAN_STATUSES } from '../../core/plan.ts';
import type { Api } from '../api.ts';
import { Micros } from '../schemas.ts';
import { registerCatalog } from './catalog.ts';

export const LimitSchema = z
  .strictObject({
    window: z.enum(['day', 'month']),
    unit: z.enum(['usd', 'tokens']),
    amount: micros.meta({ description: 'usd: micro-dollars of usage value; tokens: input + output tokens.' }),
  })
  .openapi('Limit');

export const ProcessorPrices = z.record(text(100, 1), text(200)).openapi({ description: 'What each processor calls it (its price id), by processor.' });

export const PlanSchema = z
  .strictObject({
    id: z.number().int(),
    slug: z.string(),
    name: z.string(),
    status: z.enum(PLAN_STATUSES),
    priceCents: z.number().int().openapi({ description: 'The monthly price.' }),
    surchargeCents: z.number().int().openapi({ description: 'The part of the price that is not usage.' }),
    includedMicrosOverride: Micros.nullable().openapi({ description: 'Usage value included each period when set explicitly; null: price − surcharge.' }),
    limits: z.array(LimitSchema),
    overage: z.enum(['block', 'credits']).openapi({ description: 'credits: usage beyond the allowance draws on credit packs; block: it is refused.' }),
    models: z.array(z.string()).openapi({ description: 'Model patterns allowed ("claude-*"); empty allows every model.' }),
    processorPrices: z.record(z.string(), z.string()),
    public: z.boolean().openapi({ description: 'Shown in the pricing table.' }),
    sort: z.number().int(),
  })
  .openapi('Plan');

const planFields = {
  name: text(100, 1),
  status: z.enum(PLAN_STATUSES),
  priceCents: cents.meta({ description: 'The monthly price, in cents.', example: 2000 }),
  surchargeCents: cents.meta({ description: 'The part of the price that is not usage (default 0).' }),
  includedMicros: micros.nullable().openapi({ description: 'Usage value included each period; null or left out: price − surcharge.' }),
  limits: z.array(LimitSchema),
  overage: z.enum(['block', 'credits']),
  models: z.array(modelSchema).openapi({ description: 'Model patterns allowed ("gpt-4o-mini", "claude-*"); empty allows every model.' }),
  processorPrices: ProcessorPrices,
  public: z.boolean(),
  sort: int4,
};

const PlanCreateSchema = z
  .strictObject({ slug: slugSchema.meta({ example: 'plus' }), ...planFields })
  .partial({ status: true, surchargeCents: true, includedMicros: true, limits: true, overage: true, models: true, processorPrices: true, public: true, sort: true })
  .openapi('PlanCreate');

const PlanPatchSchema = z.strictObject(planFields).partial().openapi('PlanPatch');

export function registerAdminPlans(api: Api, billing: Billing) {
  registerCatalog(api, {
    path: '/admin/plans', noun: 'plan', statuses: PLAN_STATUSES,
    schemas: { item: PlanSchema, list: z.strictObject({ data: z.array(PlanSchema) }).openapi('PlanList'), create: PlanCreateSchema, patch: PlanPatchSchema },
    list: billing.admin.listPlans, get: billing.admin.getPlan, create: billing.admin.createPlan, update: billing.admin.updatePlan,
  });
}
