/**
 * The `/v1` API: JSON, authenticated with the secret key as a Bearer token (the pricing table
 * and the API's own documents need none), every POST honouring `Idempotency-Key`. One file per
 * resource in routes/; each declares its routes with zod schemas, which also make the OpenAPI
 * 3.1 document at /v1/openapi.json.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Billing } from '../billing/billing.ts';
import type { Credentials } from '../server/credentials.ts';
import { HttpError } from './errors.ts';
import { idempotency } from './idempotency.ts';
import { registerDocs } from './docs.ts';
import { registerAccounts } from './routes/accounts.ts';
import { registerHolds } from './routes/holds.ts';

export type Api = OpenAPIHono;

/** What needs no key: the pricing table, and the API's own documents. */
const isPublic = (path: string) => path === '/v1/pricing' || path === '/v1/openapi.json' || path === '/v1/docs' || path.startsWith('/v1/docs/');

/** Input a route's schema refused: the one error shape, naming each field. */
function invalidInput(issues: readonly { path: PropertyKey[]; message: string }[]): HttpError {
  const problems = issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`);
  return new HttpError(400, {
    type: 'invalid_request_error', code: 'invalid_input', message: `Invalid request: ${problems.join('; ')}`,
    param: problems[0]?.split(':')[0], issues: problems,
  });
}

export function createApi(billing: Billing, credentials: Credentials): Api {
  const api = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw invalidInput(result.error.issues);
    },
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'SecretKey', { type: 'http', scheme: 'bearer', description: 'The server\'s secret key (TOLLGATE_SECRET_KEY).' });

  api.use('*', async (c, next) => {
    if (isPublic(c.req.path)) return next();
    const header = c.req.header('Authorization') ?? '';
    const key = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!key || !credentials.checkApiKey(key)) {
      throw new HttpError(401, { type: 'authentication_error', code: 'unauthorized', message: 'Send the secret key as "Authorization: Bearer <key>"' });
    }
    return next();
  });
  api.use('*', idempotency(billing.sql));

  registerAccounts(api, billing);
  registerHolds(api, billing);
  registerDocs(api);
  return api;
}
