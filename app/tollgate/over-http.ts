/**
 * Tollgate as a separate server, over its HTTP API (TOLLGATE_URL, TOLLGATE_API_KEY): what an app
 * in another process, or on another host, does. The gate's calls come back as the library's
 * values (dates revived), so `wrap` meters through them as through the facade.
 */
import { randomUUID } from 'node:crypto';
import { BillingError, type AuthorizeResult, type Charge, type ErrorCode, type Refusal } from 'tollgate';
import type { ErrorBody } from 'tollgate/hono';
import { memberName, type Tollgate } from './tollgate.ts';

export function httpTollgate({ url, apiKey }: { url: string; apiKey: string }): Tollgate {
  const base = url.replace(/\/+$/, '');

  /** One call to /v1. A money-moving call carries its key; any other gets a fresh one, so a retry of it is safe too. */
  async function call(method: string, path: string, body?: unknown, idempotencyKey: string = randomUUID()): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${base}/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(method === 'GET' ? {} : { 'idempotency-key': idempotencyKey }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  }

  /** The answer of a call that must succeed; else Tollgate's error as the library would throw it. */
  async function ok<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const { status, json } = await call(method, path, body, idempotencyKey);
    if (status >= 400) {
      const { error } = json as ErrorBody;
      throw new BillingError(error.code as ErrorCode, error.message, { status });
    }
    return json as T;
  }

  const account = (id: string) => `/accounts/${encodeURIComponent(id)}`;

  return {
    mode: 'http',
    async authorize(accountId, input): Promise<AuthorizeResult> {
      const { status, json } = await call('POST', `${account(accountId)}/authorize`, input);
      if (status === 201) {
        const { hold } = json as { hold: { expiresAt: string } };
        return { ok: true, hold: { ...hold, expiresAt: new Date(hold.expiresAt) } } as AuthorizeResult;
      }
      const { error } = json as ErrorBody;
      if (status !== 402) throw new BillingError(error.code as ErrorCode, error.message, { status });
      // A refusal is a value, as the library returns it: its dates revived.
      const remedy = error.remedy?.at === undefined ? error.remedy : { ...error.remedy, at: new Date(error.remedy.at) };
      return {
        ok: false, code: error.code, message: error.message, reason: error.reason ?? error.message, remedy,
        ...(error.resetsAt === undefined ? {} : { resetsAt: new Date(error.resetsAt) }),
      } as Refusal;
    },
    settle: (holdId, usage, { idempotencyKey, ...options }) =>
      ok<Charge>('POST', `/holds/${encodeURIComponent(holdId)}/settle`, { usage, ...options }, idempotencyKey),
    release: (holdId) => ok('POST', `/holds/${encodeURIComponent(holdId)}/release`),

    ensureAccount: async ({ id, kind, name }) => {
      await ok('PUT', account(id), { kind, name });
    },
    balance: (accountId) => ok('GET', `${account(accountId)}/balance`),
    pricing: () => ok('GET', '/pricing'),
    setMemberLimits: async (teamId, userId, limits, name) => {
      await ok('PUT', `${account(teamId)}/members/${encodeURIComponent(userId)}/limits`, { limits, name: memberName(name) });
    },
    billingLink: async (accountId, { userId, role, returnUrl }) =>
      (await ok<{ url: string }>('POST', `${account(accountId)}/billing-sessions`, { returnUrl, userId, role })).url,
    close: async () => {},
  };
}
