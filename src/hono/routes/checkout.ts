/**
 * Checkout through the account's payment processor (the fake one for now: it charges nobody
 * and succeeds at once): subscribe to a plan, buy a pack, cancel the paid plan.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { slugSchema } from '../../core/input.ts';
import type { Api } from '../api.ts';
import { answer, keyOf } from '../effects.ts';
import { AccountIdParam, body, DateTime, errorResponses, json, Micros, MoneyKeyHeader, Replayed } from '../schemas.ts';
import { PlanSchema } from './admin-plans.ts';

const SubscriptionSchema = z
  .strictObject({
    accountId: z.string(),
    plan: PlanSchema,
    periodStart: DateTime,
    periodEnd: DateTime,
    endsAt: DateTime.nullable().openapi({ description: 'When a canceled plan ends (then the account is on the default plan); null: it renews.' }),
    replayed: Replayed,
  })
  .openapi('Subscription');

const PurchaseSchema = z
  .strictObject({
    paymentRef: z.string().openapi({ description: 'The processor\'s payment reference.' }),
    bucketId: z.number().int(),
    valueMicros: Micros.openapi({ description: 'Usage value the pack added.' }),
    debtPaidMicros: Micros.openapi({ description: 'The part that went to pay the account\'s debt.' }),
    replayed: Replayed,
  })
  .openapi('Purchase');

const SubscribeRequestSchema = z.strictObject({ plan: slugSchema.meta({ example: 'plus' }) }).openapi('SubscribeRequest');
const PurchaseRequestSchema = z.strictObject({ pack: slugSchema.meta({ example: 'extra-10' }) }).openapi('PurchaseRequest');
const CancelRequestSchema = z
  .strictObject({ immediately: z.boolean().optional().openapi({ description: 'End the plan now (its allowance lapses) instead of at the end of the paid period.' }) })
  .openapi('CancelRequest');

export function registerCheckout(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/subscription', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Put the account on a plan: a new period starts now and its allowance opens',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, ...body(SubscribeRequestSchema) },
      responses: { 200: json(SubscriptionSchema, 'The account\'s plan now.'), ...errorResponses },
    }),
    async (c) => answer(c, await billing.subscribe(c.req.valid('param').accountId, c.req.valid('json').plan, keyOf(c)), 200),
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/subscription/cancel', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Cancel the paid plan, at the end of the paid period or at once',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, body: { content: { 'application/json': { schema: CancelRequestSchema } }, required: false } },
      responses: { 200: json(SubscriptionSchema, 'The plan, with when it ends.'), ...errorResponses },
    }),
    async (c) => answer(c, await billing.cancel(c.req.valid('param').accountId, c.req.valid('json'), keyOf(c)), 200),
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/purchases', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Buy a credit pack: its value is added at once, once per Idempotency-Key',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, ...body(PurchaseRequestSchema) },
      responses: { 201: json(PurchaseSchema, 'Bought.'), ...errorResponses },
    }),
    async (c) => answer(c, await billing.purchase(c.req.valid('param').accountId, c.req.valid('json').pack, keyOf(c)), 201),
  );
}
