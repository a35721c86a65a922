/**
 * The `/v1` API: JSON, authenticated with the secret key as a Bearer token (the pricing table
 * and the API's own documents need none), every POST honouring `Idempotency-Key`. One file per
 * resource in routes/; each declares its routes with the library's own input schemas, which
 * parse the request (once: the route then calls billing.parsed) and make the OpenAPI 3.1
 * document at /v1/openapi.json.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { basePath } from 'hono/route';
import { limitBody } from './body-limit.ts';
import type { Billing } from '../engine/billing.ts';
import type { Credentials } from './credentials.ts';
import { answerKnownError, HttpError } from './errors.ts';
import { idempotency } from './idempotency.ts';
import { registerDocs } from './docs.ts';
import { registerAccounts } from './routes/accounts.ts';
import { registerAutoRecharge } from './routes/auto-recharge.ts';
import { registerAdminChecks } from './routes/admin-checks.ts';
import { registerAdminPacks } from './routes/admin-packs.ts';
import { registerAdminPlans } from './routes/admin-plans.ts';
import { registerAdminPresets } from './routes/admin-presets.ts';
import { registerAdminAnalytics } from './routes/admin-analytics.ts';
import { registerAdminProcessors } from './routes/admin-processors.ts';
import { registerAdminPrices } from './routes/admin-prices.ts';
import { registerAdminSettings } from './routes/admin-settings.ts';
import { registerCheckout } from './routes/checkout.ts';
import { registerPortal } from './routes/portal.ts';
import { registerBillingSessions } from './routes/billing-sessions.ts';
import { registerCredits } from './routes/credits.ts';
import { registerHolds } from './routes/holds.ts';
import { registerPricing } from './routes/pricing.ts';
import { registerRefunds } from './routes/refunds.ts';
import { registerUsage } from './routes/usage.ts';
import { registerPayments } from './routes/payments.ts';
import { registerUsageRecords } from './routes/usage-records.ts';

export type Api = OpenAPIHono;

/** The request's path within the API, wherever the host mounted it (the server: at /v1). */
export function apiPath(c: Context): string {
  const base = basePath(c);
  return base === '/' ? c.req.path : c.req.path.slice(base.length) || '/';
}

/** What needs no key: the pricing table, and the API's own documents. */
const isPublic = (path: string) => path === '/pricing' || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');

/** The largest body a request may send: a batch of 1,000 usages with generous metadata fits. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Routes whose effect is made once by the request's Idempotency-Key itself, claimed in the
 * effect's own transaction: a charge (settle, record: the key is the charge's), and every other
 * call that moves money (refund, credit, purchase, plan change, cancel: once.ts). A retry after
 * any crash gets the first result, marked `Idempotent-Replayed: true`; the key reused for
 * another request is `idempotency_conflict`. For them a stored response would add nothing.
 */
const effectByKey = (path: string) =>
  /^\/(holds\/[^/]+\/settle|accounts\/[^/]+\/(usage-records|credits|purchases|subscription|subscription\/cancel|payments\/[^/]+\/refund|buckets\/[^/]+\/take-back)|refunds)$/.test(path);

/** Input a route's schema refused: the one error shape, naming each field. */
function invalidInput(issues: readonly { path: PropertyKey[]; message: string }[]): HttpError {
  const problems = issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`);
  return new HttpError(400, {
    type: 'invalid_request_error', code: 'invalid_input', message: `Invalid request: ${problems.join('; ')}`,
    param: problems[0]?.split(':')[0], issues: problems,
  });
}

export function createApi(billing: Billing, credentials: Credentials, { publicUrl }: { publicUrl?: string } = {}): Api {
  const api = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw invalidInput(result.error.issues);
    },
  });
  // Its own errors answered here, so that a host that mounts it gets them in its shape; a bug
  // goes on to the host's handler (the server's logs it, and answers a 500 in the same shape).
  api.onError((error, c) => {
    const known = answerKnownError(error, c);
    if (known) return known;
    throw error;
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'SecretKey', { type: 'http', scheme: 'bearer', description: 'The server\'s secret key (TOLLGATE_SECRET_KEY).' });

  api.use('*', async (c, next) => {
    if (isPublic(apiPath(c))) return next();
    const header = c.req.header('Authorization') ?? '';
    const key = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!key || !credentials.checkApiKey(key)) {
      throw new HttpError(401, { type: 'authentication_error', code: 'unauthorized', message: 'Send the secret key as "Authorization: Bearer <key>"' });
    }
    return next();
  });
  api.use(
    '*',
    limitBody({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new HttpError(413, {
          type: 'invalid_request_error', code: 'payload_too_large',
          message: `The body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB: send fewer items per request`,
        });
      },
    }),
  );
  api.use('*', idempotency(billing.sql, { ownKey: (c) => effectByKey(apiPath(c)) }));

  registerPricing(api, billing);
  registerAccounts(api, billing);
  registerAutoRecharge(api, billing);
  registerUsage(api, billing);
  registerPayments(api, billing);
  registerCredits(api, billing);
  registerCheckout(api, billing);
  registerPortal(api, billing);
  registerBillingSessions(api, billing, publicUrl);
  registerHolds(api, billing);
  registerUsageRecords(api, billing);
  registerRefunds(api, billing);
  registerAdminPlans(api, billing);
  registerAdminPacks(api, billing);
  registerAdminSettings(api, billing);
  registerAdminPrices(api, billing);
  registerAdminPresets(api, billing);
  registerAdminChecks(api, billing);
  registerAdminProcessors(api, billing);
  registerAdminAnalytics(api, billing);
  registerDocs(api);
  // A path under the API that no route serves: answered here, in the API's shape, for a host's
  // notFound is its own (a sub-app's is never called).
  api.all('*', (c) => {
    throw new HttpError(404, { type: 'invalid_request_error', code: 'not_found', message: `No route ${c.req.method} ${c.req.path}: see ${basePath(c).replace(/\/$/, '')}/docs` });
  });
  return api;
}
