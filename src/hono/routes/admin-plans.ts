/**
 * Plans, for admins: list, read, create, change. A change to a plan's terms is a new version, for
 * new subscribers; its subscribers on older versions are listed, moved now or at their renewal,
 * and a move waiting is called off (engine/catalog/plan-versions.ts).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { planFilterSchema } from '../../engine/catalog/catalog.ts';
import { MOVE_TIMES, planVersionMoveSchema } from '../../engine/catalog/plan-versions.ts';
import { accountIdSchema, plain } from '../../core/input.ts';
import { limitSchema, PLAN_STATUSES, planInputSchema, planPatchSchema } from '../../core/plan.ts';
import type { Api } from '../api.ts';
import { body, DateTime, errorResponses, json, Micros, SlugParam } from '../schemas.ts';
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
  registerPlanVersions(api, billing);
  registerCatalog(api, {
    path: '/admin/plans', noun: 'plan',
    schemas: {
      item: PlanSchema, list: z.strictObject({ data: z.array(PlanSchema) }).openapi('PlanList'),
      filter: planFilterSchema, create: planInputSchema.meta({ id: 'PlanCreate' }), patch: planPatchSchema.meta({ id: 'PlanPatch' }),
    },
    list: billing.parsed.admin.listPlans, get: billing.parsed.admin.getPlan, create: billing.parsed.admin.createPlan, update: billing.parsed.admin.updatePlan,
  });
}

const WaitingSchema = z
  .strictObject({ version: z.number().int(), at: DateTime.openapi({ description: 'When it happens: the end of the period the account paid for.' }) })
  .openapi('VersionMoveWaiting', { description: 'A move to a newer version waiting for the account\'s renewal.' });

const PlanVersionsSchema = z
  .strictObject({
    version: z.number().int().openapi({ description: 'The plan\'s current version.' }),
    behind: z.array(
      z.strictObject({
        accountId: z.string(),
        version: z.number().int().openapi({ description: 'The version it is on, kept until moved.' }),
        priceCents: z.number().int(),
        includedMicros: Micros,
        processor: z.string().nullable().openapi({ description: 'The processor of its subscription; null: none.' }),
        waiting: WaitingSchema.nullable(),
      }),
    ),
  })
  .openapi('PlanVersions');

const MoveResultSchema = z
  .strictObject({
    version: z.number().int().openapi({ description: 'The version moved to.' }),
    when: z.enum(MOVE_TIMES),
    moved: z.array(z.string()).openapi({ description: 'Accounts on it now.' }),
    waiting: z.array(z.strictObject({ accountId: z.string(), at: DateTime })).openapi({ description: 'Accounts on it from their renewal.' }),
    kept: z.array(z.strictObject({ accountId: z.string(), processor: z.string().nullable(), reason: z.string() })).openapi({ description: 'Accounts left on their version, and why.' }),
  })
  .openapi('PlanVersionMove');

const CallOffSchema = plain(z.object({ accountId: accountIdSchema.meta({ description: 'The account whose move waiting is called off.' }) }).strict()).meta({ id: 'PlanVersionCallOff' });

export function registerPlanVersions(api: Api, billing: Billing) {
  const security = [{ SecretKey: [] }];
  api.openapi(
    createRoute({
      method: 'get', path: '/admin/plans/{slug}/versions', tags: ['Admin'], security,
      summary: 'A plan\'s current version, and the accounts on older ones (what they keep until moved, and a move waiting)',
      request: { params: SlugParam },
      responses: { 200: json(PlanVersionsSchema, 'The plan\'s versions.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.admin.planVersions(c.req.valid('param').slug), 200),
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/admin/plans/{slug}/versions/move', tags: ['Admin'], security,
      summary: 'Move one account, or every account on an older version, to the plan\'s current version: now, or at each one\'s renewal',
      description:
        'now: the current version\'s terms apply at once; an account paying through Stripe or Paddle is left on its version (kept), or refused when named. ' +
        'renewal: the account keeps its version to the end of the period it paid for; at Stripe or Paddle its subscription\'s price changes now, with nothing billed, and it pays the new price from its next invoice.',
      request: { params: SlugParam, ...body(planVersionMoveSchema.meta({ id: 'PlanVersionMoveRequest' })) },
      responses: { 200: json(MoveResultSchema, 'Who moved, who waits for the renewal, and who was left as they were.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.admin.moveToCurrentVersion(c.req.valid('param').slug, c.req.valid('json')), 200),
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/admin/plans/{slug}/versions/move/call-off', tags: ['Admin'], security,
      summary: 'Call off an account\'s move waiting for its renewal: it stays on its version (at Stripe or Paddle, its price goes back, with nothing billed)',
      request: { params: SlugParam, ...body(CallOffSchema) },
      responses: { 200: json(z.strictObject({ version: z.number().int().openapi({ description: 'The version it stays on.' }) }).openapi('PlanVersionCalledOff'), 'Called off.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.admin.callOffVersionMove(c.req.valid('param').slug, c.req.valid('json').accountId), 200),
  );
}
