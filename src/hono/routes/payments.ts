/** An account's payments through its processors: packs bought and subscription periods paid, newest first. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, DateTime, errorResponses, json } from '../schemas.ts';

const PaymentSchema = z
  .strictObject({
    processor: z.string(),
    reference: z.string().openapi({ description: 'The processor\'s id of the payment: a payment intent, an invoice, a transaction.' }),
    kind: z.enum(['pack', 'subscription']),
    item: z.string().nullable().openapi({ description: 'The pack bought, or the plan whose period was paid.' }),
    amountCents: z.number().int(),
    status: z.enum(['succeeded', 'failed', 'refunded']),
    createdAt: DateTime,
  })
  .openapi('Payment');

export function registerPayments(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}/payments', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'The account\'s payments, newest first',
      request: { params: AccountIdParam },
      responses: { 200: json(z.strictObject({ data: z.array(PaymentSchema) }).openapi('Payments'), 'Its payments.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId } = c.req.valid('param');
      await billing.parsed.getAccount(accountId); // an account that does not exist is a 404, not an empty list
      const data = await billing.parsed.payments(accountId);
      return c.json({ data: data.map((p) => ({ ...p, createdAt: p.createdAt.toISOString() })) }, 200);
    },
  );
}
