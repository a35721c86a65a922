/**
 * The SDK's client. The SDK takes no idempotency key and makes no retries: a call it sends is
 * sent once. PADDLE_API_BASE, when given, is the URL it talks to instead of Paddle's (the SDK's
 * environment option takes a URL as well as "sandbox" or "production"), so a local fake of the
 * API can stand in; otherwise PADDLE_ENVIRONMENT picks sandbox or production.
 */
import { Environment, LogLevel, Paddle } from '@paddle/paddle-node-sdk';

export type PaddleEnvironment = 'sandbox' | 'production';

export function paddleClient(apiKey: string, place: { apiBase?: string | undefined; environment?: string | undefined }): Paddle {
  // Errors come back as ApiError, thrown to the caller; the SDK need not print them too.
  return new Paddle(apiKey, { environment: environmentOf(place), logLevel: LogLevel.none });
}

function environmentOf({ apiBase, environment }: { apiBase?: string | undefined; environment?: string | undefined }): Environment {
  if (environment !== undefined && environment !== 'sandbox' && environment !== 'production') {
    throw new Error(`PADDLE_ENVIRONMENT must be sandbox or production, not "${environment}"`);
  }
  if (apiBase === undefined) return environment === 'sandbox' ? Environment.sandbox : Environment.production;
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch {
    throw new Error(`PADDLE_API_BASE must be a URL such as http://127.0.0.1:12112, not "${apiBase}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`PADDLE_API_BASE must be an http or https URL, not "${apiBase}"`);
  if (url.search || url.hash || url.username || url.password) throw new Error(`PADDLE_API_BASE must be a URL with no query, fragment or credentials, not "${apiBase}"`);
  // The SDK appends each path ("/customers") to it as text: no trailing slash.
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}` as Environment;
}
