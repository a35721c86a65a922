/**
 * The SDK's client. STRIPE_API_BASE, when given, is a URL whose protocol, host and port the SDK
 * talks to instead of Stripe's own (the SDK takes no path: every request goes to /v1/… there), so
 * a local fake of the API can stand in.
 */
import Stripe from 'stripe';
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
