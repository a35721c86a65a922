/**
 * The SDK's client. STRIPE_API_BASE, when given, is a URL whose protocol, host and port the SDK
 * talks to instead of Stripe's own (the SDK takes no path: every request goes to /v1/… there), so
 * a local fake of the API can stand in.
 */
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import type { CheckoutRequest } from '../../engine/processor.ts';
import type { Outage } from '../outage.ts';

export function stripeClient(secretKey: string, apiBase?: string): Stripe {
  // Every call that makes something carries an idempotency key, so the SDK's retries are safe.
  return new Stripe(secretKey, { ...addressOf(apiBase), maxNetworkRetries: 2, appInfo: { name: 'Tollgate' } });
}

/**
 * What kept Stripe from answering, once the SDK's own retries are spent: unreachable, failing
 * (a 5xx), or limiting the rate of requests (a 429). Its refusals and declines are answers.
 */
export const stripeOutage: Outage = (error) => {
  if (error instanceof Stripe.errors.StripeConnectionError) return 'unreachable';
  if (error instanceof Stripe.errors.StripeRateLimitError) return 'too many requests';
  if (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500) return `error ${error.statusCode}`;
  return undefined;
};

/** The call's idempotency key as Stripe's own: a retry of the call is the same request at Stripe. */
export function keyOf(request: CheckoutRequest): Stripe.RequestOptions | undefined {
  return request.idempotencyKey === undefined ? undefined : { idempotencyKey: request.idempotencyKey };
}

/**
 * A failure Stripe gave from what it keeps for the request's idempotency key: Stripe keeps the
 * first answer to a key for a day, a 500 too, and gives it again to every request under the key
 * (the SDK's own retries among them).
 */
export function keptFailure(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500 && error.headers?.['idempotent-replayed'] === 'true';
}

/**
 * Stripe refusing a call's key as one it keeps for another request (the key sent before for
 * something else, or a request under it still being answered): the engine's idempotency_conflict,
 * which says what to do, not the SDK's error.
 */
export async function keyConflictSaid<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
    throw new BillingError(
      'idempotency_conflict',
      `Stripe keeps this call's idempotency key for another request (asked under it before, or still being answered): nothing was changed here; a new request needs a key of its own`,
      { processor: 'stripe' },
    );
  }
}

/**
 * A call whose repeat does no harm (a customer, a checkout page, a price, a cancel), under `key`;
 * given a failure Stripe keeps for the key, asked once more under a key of this attempt's own, so
 * that one failure at Stripe does not refuse it for a day.
 */
export async function retriedAfresh<T>(key: string | undefined, call: (options?: Stripe.RequestOptions) => Promise<T>): Promise<T> {
  try {
    return await call(key === undefined ? undefined : { idempotencyKey: key });
  } catch (error) {
    if (key === undefined || !keptFailure(error)) throw error;
    return call({ idempotencyKey: `${key}:${randomUUID()}` });
  }
}

/**
 * A call that moves money (`what`: "the refund"), whose failure Stripe keeps for its key: what
 * Stripe did is not known, so it is said as it is, with what to do, and never asked again under
 * another key here (that could move the money twice).
 */
export async function keptFailureSaid<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (!keptFailure(error)) throw error;
    throw new BillingError(
      'processor_error',
      `Stripe failed ${what} and gives that answer to its idempotency key for a day: nothing was changed here; ` +
        `see in Stripe's dashboard whether it was done before asking again, under another idempotency key`,
      { processor: 'stripe' },
    );
  }
}

function addressOf(apiBase: string | undefined): { host?: string; port?: string | number; protocol?: 'http' | 'https' } {
  if (apiBase === undefined) return {};
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch {
    throw new Error(`STRIPE_API_BASE must be a URL such as http://127.0.0.1:12111, not "${apiBase}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`STRIPE_API_BASE must be an http or https URL, not "${apiBase}"`);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error(`STRIPE_API_BASE must be a scheme, host and port only (the SDK sends every path from /v1), not "${apiBase}"`);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}

/**
 * Whether Stripe takes the key, asked once at start: a key revoked, rolled or mistyped would
 * otherwise start a server whose first checkout fails. Reading a customer that does not exist
 * asks nothing of the account, and a restricted key may read customers. The reason Stripe
 * refused it, or undefined when it took it or could not be reached (the start goes on).
 */
export async function refusedKey(secretKey: string, apiBase?: string): Promise<{ refused?: string; unreachable?: string }> {
  try {
    // Asked once, promptly: no retries, and no more than ten seconds.
    await stripeClient(secretKey, apiBase).customers.retrieve('cus_tollgate_key_check', {}, { maxNetworkRetries: 0, timeout: 10_000 });
    return {};
  } catch (error) {
    if (error instanceof Stripe.errors.StripeAuthenticationError) return { refused: `Stripe refused STRIPE_SECRET_KEY (${error.message}): set a key Stripe's dashboard lists under Developers → API keys` };
    if (error instanceof Stripe.errors.StripeConnectionError) return { unreachable: error.message };
    return {}; // No such customer, or a restricted key that may not read one: the key itself is Stripe's.
  }
}
