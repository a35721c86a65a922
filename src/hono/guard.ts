/**
 * A route guard for Hono: before a route does any AI work, ask the gate whether the account
 * (and member) may start (engine/gate/can-start.ts), and answer a refusal as the server's 402
 * (code, message, remedy and resetsAt: errors.ts). A check, not a hold: it places nothing,
 * so it keeps out the requests that would be refused anyway, cheaply and before any work, and
 * the model calls the route then makes are still metered one by one by the middleware.
 *
 *   app.post('/chat', guard(billing), handler)      // c.get('accountId'), c.get('userId') set by the app's auth
 *   app.post('/chat', guard(billing, { accountId: (c) => c.req.header('x-team') }), handler)
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Refusal } from '../core/refusal.ts';
import { refusalBody } from './errors.ts';
import type { CanStartInput } from '../engine/gate/can-start.ts';

type FromRequest<T> = (c: Context) => T | Promise<T>;

export interface GuardOptions {
  /** The account the request bills (default: the request's `accountId` variable, as an auth middleware sets it). */
  accountId?: FromRequest<string | undefined>;
  /** The member it is for (default: the `userId` variable), to weigh the member's caps. */
  userId?: FromRequest<string | undefined>;
  /** The model the route will call, when it is known before the work starts. */
  model?: FromRequest<string | undefined>;
}

type CanStart = (accountId: string, input?: CanStartInput) => Promise<{ ok: true } | Refusal>;

const variable = (name: string) => (c: Context) => {
  const value: unknown = c.get(name as never);
  return typeof value === 'string' ? value : undefined;
};

export function guard(billing: { canStart: CanStart }, options: GuardOptions = {}): MiddlewareHandler {
  const canStart = (accountId: string, input?: CanStartInput) => billing.canStart(accountId, input);
  const accountOf = options.accountId ?? variable('accountId');
  const userOf = options.userId ?? variable('userId');
  const modelOf = options.model ?? (() => undefined);
  return async (c, next) => {
    const accountId = await accountOf(c);
    if (accountId === undefined) {
      throw new Error('The billing guard found no account for this request: set the "accountId" variable before it, or pass guard({ accountId })');
    }
    const [userId, model] = await Promise.all([userOf(c), modelOf(c)]);
    const answer = await canStart(accountId, { ...(userId === undefined ? {} : { userId }), ...(model === undefined ? {} : { model }) });
    if (!answer.ok) return c.json(refusalBody(answer), 402);
    await next();
  };
}
