/**
 * A link to the customer billing page (/billing), made for one account by the host app's server:
 * short-lived, opened once, unguessable. Its token is random and only its SHA-256 is stored
 * (billing_sessions), so any process can open it and a copy of the table opens nothing. Opening
 * it is the page's part (billing-page/session.ts): it becomes a cookie session on that account.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { accountIdSchema, idSchema, parseInput, plain } from '../../core/input.ts';
import type { Billing } from '../../engine/billing.ts';
import { returnUrlSchema } from '../../engine/grants/checkout.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, DateTime, errorResponses, json } from '../schemas.ts';

/** A link must be opened within ten minutes: long enough for a redirect, too short to be worth stealing. */
export const LINK_SECONDS = 10 * 60;

export const billingSessionInputSchema = plain(
  z
    .object({
      returnUrl: returnUrlSchema.meta({ description: 'The host app\'s page the billing page\'s "Back to app" link goes to.', example: 'https://app.example/settings' }),
      userId: idSchema.optional().meta({ description: 'The member opening it: the page shows their own cap beside the team\'s pool.', example: 'user_7' }),
      role: z
        .enum(['owner', 'admin', 'member'], { error: 'must be owner, admin or member' })
        .default('member')
        .meta({ description: 'owner or admin may buy, change the plan and set auto-recharge; a member only sees. Default member.' }),
    })
    .strict(),
);
export type BillingSessionInput = z.input<typeof billingSessionInputSchema>;
export type BillingRole = z.output<typeof billingSessionInputSchema>['role'];

export interface BillingLink {
  /** Where to send the customer's browser: opens once, before expiresAt. */
  url: string;
  expiresAt: Date;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The link on parsed input: the account must exist. */
async function createParsed(billing: Billing, accountId: string, input: z.output<typeof billingSessionInputSchema>, baseUrl: string): Promise<BillingLink> {
  await billing.parsed.getAccount(accountId);
  const token = randomBytes(32).toString('base64url');
  const now = billing.now();
  const expiresAt = new Date(now.getTime() + LINK_SECONDS * 1000);
  await billing.sql.query(
    `INSERT INTO billing_sessions (account_id, user_id, role, return_url, link_sha256, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [accountId, input.userId ?? null, input.role, input.returnUrl, sha256(token), expiresAt, now],
  );
  return { url: `${baseUrl.replace(/\/+$/, '')}/billing/open/${token}`, expiresAt };
}

/** Where browsers reach the server that serves /billing: a web address, or a link would lead nowhere. */
const baseUrlSchema = z.url({ protocol: /^https?$/, error: 'must be an http or https URL, where browsers reach the server (https://billing.example.com)' });

/**
 * A billing page link for an account, for an app that runs Tollgate in its own process: the
 * same link the API makes. `baseUrl` is where browsers reach the server that serves /billing.
 */
export async function createBillingSession(billing: Billing, accountId: string, input: BillingSessionInput, { baseUrl }: { baseUrl: string }): Promise<BillingLink> {
  return createParsed(
    billing, parseInput(accountIdSchema, accountId, 'account id'), parseInput(billingSessionInputSchema, input, 'billing session'), parseInput(baseUrlSchema, baseUrl, 'baseUrl'),
  );
}

const BillingSessionRequestSchema = billingSessionInputSchema.meta({ id: 'BillingSessionRequest' });
const BillingSessionSchema = z
  .strictObject({
    url: z.string().openapi({ description: 'Send the customer\'s browser here (a link or a redirect). It opens once, within ten minutes, and then keeps them signed in to the page for an hour.' }),
    expiresAt: DateTime.openapi({ description: 'The link must be opened before this.' }),
  })
  .openapi('BillingSession');

/** Where the browser reaches this server, when no public address is set: the address the API was called at (https when a proxy says so). */
export function originOf(url: string, forwardedProto: string | undefined): string {
  const origin = new URL(url);
  if (forwardedProto === 'https') origin.protocol = 'https:';
  return origin.origin;
}

/** `publicUrl`: where browsers reach this server (PUBLIC_URL), when it is not the address the API is called at. */
export function registerBillingSessions(api: Api, billing: Billing, publicUrl?: string) {
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts/{accountId}/billing-sessions', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'A link to the hosted billing page for the account: balance, usage, plan, packs, auto-recharge and payments',
      description: 'The link is on the server\'s public address (PUBLIC_URL) when it is set, else on the address this API was called at. No key reaches the browser.',
      request: { params: AccountIdParam, ...body(BillingSessionRequestSchema) },
      responses: { 201: json(BillingSessionSchema, 'The link.'), ...errorResponses },
    }),
    async (c) => {
      const link = await createParsed(billing, c.req.valid('param').accountId, c.req.valid('json'), publicUrl ?? originOf(c.req.url, c.req.header('X-Forwarded-Proto')));
      return c.json({ url: link.url, expiresAt: link.expiresAt.toISOString() }, 201);
    },
  );
}
