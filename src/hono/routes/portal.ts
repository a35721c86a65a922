/** The processor's billing portal for an account: where its customer pays a failed renewal and changes the payment method. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { portalInputSchema } from '../../engine/grants/portal.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';

const PortalRequestSchema = portalInputSchema.meta({ id: 'PortalRequest' });
const PortalSchema = z
  .strictObject({ url: z.string().openapi({ description: "The processor's portal page for the account's customer: send the customer there. It expires: make one per visit." }) })
  .openapi('Portal');

export function registerPortal(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/portal', tags: ['Checkout'], security: [{ SecretKey: [] }],
      summary: "A billing portal session: the processor's page where the customer pays what is due, changes the payment method and sees invoices",
      description: "The remedy of a payment_past_due refusal. The fake processor has nothing to pay and keeps no payment methods: its portal is returnUrl itself.",
      request: { params: AccountIdParam, headers: IdempotencyKeyHeader, ...body(PortalRequestSchema) },
      responses: { 200: json(PortalSchema, 'Where to send the customer.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.portal(c.req.valid('param').accountId, c.req.valid('json')), 200),
  );
}
