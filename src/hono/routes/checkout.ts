/**
 * Checkout through the account's payment processor (the fake one for now: it charges nobody
 * and succeeds at once): subscribe to a plan, buy a pack, cancel the paid plan.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Billing } from '../../engine/billing.ts';
import { cancelInputSchema, checkoutUrlsShape, type PendingCheckout } from '../../engine/grants/checkout.ts';
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

/** The plan or pack by its slug; its return pages as the library's checkout options take them (the key is the header). */
const SubscribeRequestSchema = z.strictObject({ plan: slugSchema.meta({ example: 'plus' }), ...checkoutUrlsShape }).openapi('SubscribeRequest');
const PurchaseRequestSchema = z.strictObject({ pack: slugSchema.meta({ example: 'extra-10' }), ...checkoutUrlsShape }).openapi('PurchaseRequest');

const PendingCheckoutSchema = z
  .strictObject({
    status: z.literal('pending'),
    checkoutUrl: z.string().openapi({ description: 'The processor\'s checkout page: send the customer there. Nothing is granted until the processor says the money came in.' }),
    replayed: Replayed,
  })
  .openapi('PendingCheckout');

/** A checkout's answer: completed at once (the fake processor), or a page the customer pays on (202). */
const checkoutAnswer = <R extends { replayed: boolean }, S extends 200 | 201>(c: Context, result: R | (PendingCheckout & { replayed: boolean }), completed: S) =>
  'checkoutUrl' in result ? answer(c, result, 202) : answer(c, result as R, completed);
const CancelRequestSchema = cancelInputSchema.meta({ id: 'CancelRequest' });

export function registerCheckout(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/subscription', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Put the account on a plan: a new period starts now and its allowance opens',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, ...body(SubscribeRequestSchema) },
      responses: {
        200: json(SubscriptionSchema, 'The account\'s plan now (a processor that completes at once, as the fake one does).'),
        202: json(PendingCheckoutSchema, 'The customer pays on the processor\'s page; the plan starts when the processor says it is paid.'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { plan, ...urls } = c.req.valid('json');
      return checkoutAnswer(c, await billing.parsed.subscribe(c.req.valid('param').accountId, plan, { ...keyOf(c), ...urls }), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/subscription/cancel', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Cancel the paid plan, at the end of the paid period or at once',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, body: { content: { 'application/json': { schema: CancelRequestSchema } }, required: false } },
      responses: { 200: json(SubscriptionSchema, 'The plan, with when it ends.'), ...errorResponses },
    }),
    async (c) => answer(c, await billing.parsed.cancel(c.req.valid('param').accountId, c.req.valid('json')?.immediately ?? false, keyOf(c)), 200),
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/purchases', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: 'Buy a credit pack: its value is added at once, once per Idempotency-Key',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, ...body(PurchaseRequestSchema) },
      responses: {
        201: json(PurchaseSchema, 'Bought (a processor that completes at once, as the fake one does).'),
        202: json(PendingCheckoutSchema, 'The customer pays on the processor\'s page; the pack\'s value is added when the processor says it is paid.'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { pack, ...urls } = c.req.valid('json');
      return checkoutAnswer(c, await billing.parsed.purchase(c.req.valid('param').accountId, pack, { ...keyOf(c), ...urls }), 201);
    },
  );
}
