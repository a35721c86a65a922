/**
 * Credit outside checkout: a gift or a correction (bonus or adjustment), made once per
 * reference, and taken back when it was a mistake; and, for admins, writing off in the ledger
 * the value left in expired buckets.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { creditInputSchema } from '../../engine/grants/grants.ts';
import { takeBackInputSchema } from '../../engine/grants/take-back.ts';
import { accountIdSchema } from '../../core/input.ts';
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

const BucketIdParam = z.object({
  accountId: accountIdSchema.meta({ param: { name: 'accountId', in: 'path' }, example: 'team_42' }),
  bucketId: z.coerce.number({ error: 'must be a bucket id' }).int('must be a bucket id').positive('must be a bucket id').meta({ param: { name: 'bucketId', in: 'path' }, example: 12 }),
});

const TakeBackRequestSchema = takeBackInputSchema.meta({ id: 'TakeBackRequest' });

const TakeBackSchema = z
  .strictObject({
    accountId: z.string(),
    bucketId: z.number().int(),
    takenMicros: Micros.openapi({ description: 'Value taken out of the bucket: a negative adjustment in the ledger.' }),
    remainingMicros: Micros.openapi({ description: 'What the bucket has left unspent after it.' }),
    replayed: Replayed,
  })
  .openapi('TakeBack');

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
      method: 'post', path: '/accounts/{accountId}/buckets/{bucketId}/take-back', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Take back a bonus or adjustment granted by mistake, all it has left unspent or a part',
      description: 'A negative adjustment in the ledger, never more than the bucket has left unspent (take_back_exceeds_remaining); a paid bucket\'s value leaves with its payment\'s refund instead (take_back_not_allowed).',
      request: { params: BucketIdParam, headers: MoneyKeyHeader, ...body(TakeBackRequestSchema) },
      responses: { 201: json(TakeBackSchema, 'Taken back.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId, bucketId } = c.req.valid('param');
      return answer(c, await billing.parsed.takeBack(accountId, bucketId, c.req.valid('json'), keyOf(c)), 201);
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
