/**
 * Credit outside checkout: a gift or a correction (bonus or adjustment), made once per
 * reference; and, for admins, writing off in the ledger the value left in expired buckets.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { creditInputSchema } from '../../engine/grants/grants.ts';
import type { Api } from '../api.ts';
import { answer, keyOf } from '../effects.ts';
import { AccountIdParam, body, errorResponses, IdempotencyKeyHeader, json, Micros, MoneyKeyHeader, Replayed } from '../schemas.ts';

const CreditRequestSchema = creditInputSchema.meta({ id: 'CreditRequest' });

const CreditSchema = z
  .strictObject({
    bucketId: z.number().int(),
    created: z.boolean().openapi({ description: 'False when the reference was credited already: the first credit, unchanged.' }),
    debtPaidMicros: Micros.openapi({ description: 'The part that went to pay the account\'s debt.' }),
    replayed: Replayed,
  })
  .openapi('Credit');

const ExpirySchema = z
  .strictObject({ buckets: z.number().int(), amountMicros: Micros.openapi({ description: 'Value written off.' }) })
  .openapi('Expiry');

export function registerCredits(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/credits', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Add value as a gift (bonus) or a correction (adjustment), once per reference',
      request: { params: AccountIdParam, headers: MoneyKeyHeader, ...body(CreditRequestSchema) },
      responses: {
        201: json(CreditSchema, 'Credited.'),
        200: json(CreditSchema, 'The reference was credited already, with the same credit: nothing more was added.'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const credit = await billing.parsed.credit(c.req.valid('param').accountId, c.req.valid('json'), keyOf(c));
      return credit.created ? answer(c, credit, 201) : answer(c, credit, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/admin/expire-credit', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Write off, in the ledger, value left in expired buckets of every account (run it daily)',
      request: { headers: IdempotencyKeyHeader },
      responses: { 200: json(ExpirySchema, 'What was written off.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.expireCredit(), 200),
  );
}
