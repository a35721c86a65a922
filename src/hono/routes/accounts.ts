/**
 * Accounts: create or update (PUT, idempotent by nature), read, the balance, and the proof that
 * its balances equal its ledger.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { accountFieldsShape, accountIdInput } from '../../engine/accounts.ts';
import { memberLimitsSchema, memberNameSchema } from '../../engine/gate/members.ts';
import { BUCKET_SOURCES } from '../../core/bucket.ts';
import { idSchema } from '../../core/input.ts';
import { limitSchema, limitShape } from '../../core/plan.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, DateTime, errorResponses, json, Micros } from '../schemas.ts';
import { PlanSchema } from './admin-plans.ts';
import { AutoRechargeSchema } from './auto-recharge.ts';

export const AccountSchema = z
  .strictObject({
    id: z.string(),
    kind: z.enum(['personal', 'team']),
    name: z.string(),
    timeZone: z.string(),
    planId: z.number().int(),
    planAnchorAt: DateTime.nullable().openapi({ description: 'When the paid plan\'s months are counted from; null on a free plan (calendar months).' }),
    planEndsAt: DateTime.nullable().openapi({ description: 'When a canceled plan ends.' }),
    paidThrough: DateTime.nullable().openapi({
      description: 'A plan at a real processor: the end of the last period it said is paid (past it, the default plan\'s terms apply until the next is); null where the clock runs the periods.',
    }),
    pastDue: z
      .strictObject({ through: DateTime.openapi({ description: 'The end of the period whose payment failed.' }), since: DateTime.openapi({ description: 'When it first failed: the grace counts from it.' }) })
      .nullable()
      .openapi({ description: 'A renewal whose payment failed and is not paid yet; null if none.' }),
    processor: z.string().openapi({ description: 'The payment processor checkout goes through.' }),
    disputedAt: DateTime.nullable().openapi({ description: 'When the account first disputed a payment (a chargeback); null if never.' }),
    createdAt: DateTime,
  })
  .openapi('Account');

/** The account as PUT takes it: its id from the path (trimmed, as upsertAccount trims it), the rest from the body. */
const AccountPutParam = z.object({ accountId: accountIdInput.meta({ param: { name: 'accountId', in: 'path' }, example: 'team_42' }) });
const AccountUpsertSchema = z.strictObject(accountFieldsShape).openapi('AccountUpsert');

const LimitViewSchema = z.strictObject({
  ...limitShape,
  used: z.number().int().openapi({ description: 'Used in the current window, in the limit\'s unit.' }),
  held: z.number().int().openapi({ description: 'Reserved by open holds, in the limit\'s unit.' }),
  resetsAt: DateTime,
});

const MemberNameRead = z.string().nullable().openapi({ description: 'The name the caps were last set with; null if never given.' });

const BalanceSchema = z
  .strictObject({
    accountId: z.string(),
    plan: PlanSchema,
    period: z.strictObject({ start: DateTime, end: DateTime }).openapi({ description: 'The current billing period.' }),
    availableMicros: Micros.openapi({ description: 'Value a new call may still reserve: usable buckets less open holds less debt.' }),
    heldMicros: Micros.openapi({ description: 'Value reserved by open holds.' }),
    debtMicros: Micros.openapi({ description: 'Usage that went beyond what was left: refused until a grant pays it.' }),
    buckets: z.array(
      z.strictObject({
        id: z.number().int().nullable().openapi({ description: 'null: this period\'s allowance, which opens on the account\'s next call.' }),
        source: z.enum(BUCKET_SOURCES),
        amountMicros: Micros,
        remainingMicros: Micros,
        startsAt: DateTime,
        expiresAt: DateTime.nullable(),
        usable: z.boolean().openapi({ description: 'Whether the current plan may spend it (purchased credit needs overage = credits).' }),
      }),
    ),
    limits: z.array(LimitViewSchema),
    members: z.array(z.strictObject({ userId: z.string(), name: MemberNameRead, limits: z.array(LimitViewSchema) })).openapi({ description: 'The members whose usage the account caps, with each cap\'s use.' }),
    autoRecharge: AutoRechargeSchema.nullable().openapi({ description: 'The auto-recharge setting and its state (why it turned itself off, if it did); null if never set.' }),
  })
  .openapi('Balance');

const MemberLimitsSchema = z.strictObject({ limits: memberLimitsSchema, name: memberNameSchema.optional() }).openapi('MemberLimits');

const MemberParams = AccountIdParam.extend({ userId: idSchema.meta({ param: { name: 'userId', in: 'path' }, example: 'u_7' }) });

const ReconciliationSchema = z
  .strictObject({
    accountId: z.string(),
    ok: z.boolean().openapi({ description: 'True when every bucket and the debt equal the sums of the ledger.' }),
    problems: z.array(z.string()),
  })
  .openapi('Reconciliation');

export function registerAccounts(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'put', path: '/accounts/{accountId}', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Create the account (on the default plan) or update its kind, name, time zone and processor',
      request: { params: AccountPutParam, ...body(AccountUpsertSchema) },
      responses: { 200: json(AccountSchema, 'The account.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.upsertAccount({ id: c.req.valid('param').accountId, ...c.req.valid('json') }), 200),
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Read an account',
      request: { params: AccountIdParam },
      responses: { 200: json(AccountSchema, 'The account.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.getAccount(c.req.valid('param').accountId), 200),
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}/balance', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'What the account has now: available, held, debt, its buckets and each limit\'s use',
      request: { params: AccountIdParam },
      responses: { 200: json(BalanceSchema, 'The balance.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.balance(c.req.valid('param').accountId), 200),
  );

  api.openapi(
    createRoute({
      method: 'put', path: '/accounts/{accountId}/members/{userId}/limits', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Cap a team member\'s usage within the team\'s pool (day and/or month, value or tokens); refused past it with member_limit',
      request: { params: MemberParams, ...body(MemberLimitsSchema) },
      responses: { 200: json(z.strictObject({ accountId: z.string(), userId: z.string(), name: MemberNameRead, limits: z.array(limitSchema) }), 'The member\'s caps.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId, userId } = c.req.valid('param');
      const { limits, name } = c.req.valid('json');
      return c.json(await billing.parsed.admin.setMemberLimits(accountId, userId, limits, { name }), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}/reconciliation', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Prove the account\'s balances equal its append-only ledger',
      request: { params: AccountIdParam },
      responses: { 200: json(ReconciliationSchema, 'The proof, and any problem found.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.reconcile(c.req.valid('param').accountId), 200),
  );
}
