/** An account's payments through its processors: packs bought and subscription periods paid, newest first. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import type { Api } from '../api.ts';
import { paymentRefundInputSchema } from '../../engine/grants/payment-refunds.ts';
import { accountIdSchema } from '../../core/input.ts';
import { answer, keyOf } from '../effects.ts';
import { AccountIdParam, body, DateTime, errorResponses, json, MoneyKeyHeader, Replayed } from '../schemas.ts';

const PaymentRefundSchema = z
  .strictObject({
    kind: z.enum(['refund', 'dispute', 'dispute_won']).openapi({ description: 'A refund, a dispute (a chargeback: refunded, and the account flagged), or a dispute won (recorded; nothing moves).' }),
    reference: z.string().openapi({ description: 'The processor\'s id of the refund or dispute.' }),
    amountCents: z.number().int().openapi({ description: 'As the processor told it.' }),
    appliedCents: z.number().int().openapi({ description: 'What applied: at most what was left of the payment.' }),
    removedMicros: z.number().int().openapi({ description: 'Unused value taken out of the payment\'s bucket.' }),
    usedMicros: z.number().int().openapi({ description: 'Value already used: owed (debt) or written off, as usedValue says.' }),
    usedValue: z.enum(['debt', 'write_off']).nullable(),
    reversedAt: DateTime.nullable().openapi({ description: 'When the processor said the refund failed after it succeeded: what it took was given back, and it no longer counts in refundedCents.' }),
    createdAt: DateTime,
  })
  .openapi('PaymentRefund');

const PaymentSchema = z
  .strictObject({
    processor: z.string(),
    reference: z.string().openapi({ description: 'The processor\'s id of the payment: a payment intent, an invoice, a transaction.' }),
    kind: z.enum(['pack', 'subscription']),
    item: z.string().nullable().openapi({ description: 'The pack bought, or the plan whose period was paid.' }),
    amountCents: z.number().int(),
    id: z.number().int().openapi({ description: 'What a refund of it names.' }),
    status: z.enum(['succeeded', 'failed', 'refunded']),
    refundedCents: z.number().int().openapi({ description: 'What refunds and disputes gave back of it so far.' }),
    disputedAt: DateTime.nullable(),
    recharge: z
      .strictObject({ debtCents: z.number().int().openapi({ description: 'Of its amount, what paid what the account owed; the rest bought the pack.' }) })
      .nullable()
      .openapi({ description: 'An auto-recharge\'s payment, or null.' }),
    refunds: z.array(PaymentRefundSchema).openapi({ description: 'Its refunds and disputes, newest first.' }),
    createdAt: DateTime,
  })
  .openapi('Payment');

const PaymentIdParam = z.object({
  accountId: accountIdSchema.meta({ param: { name: 'accountId', in: 'path' }, example: 'team_42' }),
  paymentId: z.coerce.number({ error: 'must be a payment id' }).int('must be a payment id').positive('must be a payment id').meta({ param: { name: 'paymentId', in: 'path' }, example: 7 }),
});

const PaymentRefundRequestSchema = paymentRefundInputSchema.meta({ id: 'PaymentRefundRequest' });

const PaymentRefundResultSchema = z
  .strictObject({
    paymentId: z.number().int(),
    refundRef: z.string().openapi({ description: 'The processor\'s id of the refund.' }),
    amountCents: z.number().int(),
    status: z.enum(['refunded', 'pending']).openapi({ description: 'refunded: done, its value taken back; pending: its webhook applies it when the processor has done it.' }),
    replayed: Replayed,
  })
  .openapi('PaymentRefundResult');

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
      return c.json({ data: data.map((p) => ({ ...p, createdAt: p.createdAt.toISOString(), disputedAt: p.disputedAt?.toISOString() ?? null, refunds: p.refunds.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })) })) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/payments/{paymentId}/refund', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Refund a payment, all of what is left or a part, through its processor',
      description:
        'The processor is asked once per Idempotency-Key (its own key for the refund). The value the payment bought comes back out of the account when the processor says the refund is done: ' +
        'at once when it answers so (status refunded), else when its webhook comes in (status pending).',
      request: { params: PaymentIdParam, headers: MoneyKeyHeader, ...body(PaymentRefundRequestSchema) },
      responses: { 201: json(PaymentRefundResultSchema, 'Asked of the processor: refunded, or pending its webhook.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId, paymentId } = c.req.valid('param');
      return answer(c, await billing.parsed.refundPayment(accountId, paymentId, c.req.valid('json'), keyOf(c)), 201);
    },
  );
}
