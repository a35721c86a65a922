/**
 * The SDK's client. STRIPE_API_BASE, when given, is a URL whose protocol, host and port the SDK
 * talks to instead of Stripe's own (the SDK takes no path: every request goes to /v1/… there), so
 * a local fake of the API can stand in.
 */
import Stripe from 'stripe';
import type { CheckoutRequest } from '../../engine/processor.ts';

export function stripeClient(secretKey: string, apiBase?: string): Stripe {
  // Every call that makes something carries an idempotency key, so the SDK's retries are safe.
  return new Stripe(secretKey, { ...addressOf(apiBase), maxNetworkRetries: 2, appInfo: { name: 'Tollgate' } });
}

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
