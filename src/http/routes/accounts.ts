/** Accounts: create or update (PUT, idempotent by nature), read, and the balance. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../billing/billing.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, errorResponses, json } from '../schemas.ts';

export const AccountSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['personal', 'team']),
    name: z.string(),
    timeZone: z.string(),
    planId: z.number().int(),
    planAnchorAt: z.string().nullable(),
    planEndsAt: z.string().nullable(),
    processor: z.string(),
    createdAt: z.string(),
  })
  .openapi('Account');

const AccountUpsertSchema = z
  .object({
    kind: z.enum(['personal', 'team']),
    name: z.string().max(200).optional(),
    timeZone: z.string().max(100).optional().openapi({ description: 'IANA time zone; days are counted in it.', example: 'Europe/Paris' }),
  })
  .strict()
  .openapi('AccountUpsert');

export function registerAccounts(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'put', path: '/accounts/{accountId}', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Create the account (on the default plan) or update its kind, name and time zone',
      request: { params: AccountIdParam, ...body(AccountUpsertSchema) },
      responses: { 200: json(AccountSchema, 'The account.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.upsertAccount({ id: c.req.valid('param').accountId, ...c.req.valid('json') }), 200),
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Read an account',
      request: { params: AccountIdParam },
      responses: { 200: json(AccountSchema, 'The account.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.getAccount(c.req.valid('param').accountId), 200),
  );
}
