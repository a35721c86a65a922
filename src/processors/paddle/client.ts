/**
 * The SDK's client. The SDK takes no idempotency key and makes no retries: a call it sends is
 * sent once. PADDLE_API_BASE, when given, is the URL it talks to instead of Paddle's (the SDK's
 * environment option takes a URL as well as "sandbox" or "production"), so a local fake of the
 * API can stand in; otherwise PADDLE_ENVIRONMENT picks sandbox or production.
 */
import { ApiError, Environment, LogLevel, Paddle } from '@paddle/paddle-node-sdk';
import type { Outage } from '../outage.ts';

export type PaddleEnvironment = 'sandbox' | 'production';

export function paddleClient(apiKey: string, place: { apiBase?: string | undefined; environment?: string | undefined }): Paddle {
  // Errors come back as ApiError, thrown to the caller; the SDK need not print them too.
  return new Paddle(apiKey, { environment: environmentOf(place), logLevel: LogLevel.none });
}

/**
 * What kept Paddle from answering: unreachable (fetch's own TypeError), failing (its api_error, a
 * 5xx), limiting the rate of requests (a 429), or answering with a page that is not its JSON (a
 * gateway's 502 or 503, which the SDK fails to parse). Its refusals and declines are answers.
 */
export const paddleOutage: Outage = (error) => {
  if (error instanceof ApiError) return error.type === 'api_error' ? error.code : error.code === 'too_many_requests' ? 'too many requests' : undefined;
  if (error instanceof TypeError && error.message === 'fetch failed') return 'unreachable';
  if (error instanceof SyntaxError) return 'an answer that is not its API\'s';
  return undefined;
};

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

/** How long the start waits for Paddle to say whether it takes the key. */
const KEY_CHECK_MS = 10_000;

/**
 * Whether Paddle takes the key, asked once at start: a key revoked, expired (Paddle's expire
 * after 90 days unless told otherwise) or for the other environment would otherwise start a
 * server whose first checkout fails. Reading a customer that does not exist asks nothing of the
 * account. The reason Paddle refused it, or what kept it from answering (the start goes on).
 */
export async function refusedKey(apiKey: string, place: { apiBase?: string | undefined; environment?: string | undefined }): Promise<{ refused?: string; unreachable?: string }> {
  const paddle = paddleClient(apiKey, place);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), KEY_CHECK_MS)));
  try {
    if ((await Promise.race([paddle.customers.get('ctm_01tollgatekeycheck0000000000'), late])) === 'late') return { unreachable: `no answer in ${KEY_CHECK_MS / 1000} s` };
    return {};
  } catch (error) {
    if (error instanceof ApiError && (error.code === 'invalid_token' || error.code === 'authentication_malformed')) {
      const where = place.apiBase ?? `Paddle's ${place.environment ?? 'production'} environment (PADDLE_ENVIRONMENT)`;
      return { refused: `Paddle refused PADDLE_API_KEY at ${where} (${error.detail}): set an API key made in that environment's dashboard, Developer tools → Authentication, and not expired` };
    }
    if (error instanceof ApiError) return {}; // No such customer, or a key that may not read one: the key itself is Paddle's.
    return { unreachable: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
