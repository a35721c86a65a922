import type { Context } from 'hono';

/**
 * Whether a page's cookies are Secure: the browser reached it over https, as the public address
 * says (PUBLIC_URL: a proxy before this server may speak plain http to it and say nothing), or
 * the request does. One rule for the admin panel's cookies and the billing page's.
 */
export function secureCookies(c: Context, publicUrl: string | undefined): boolean {
  return publicUrl?.startsWith('https:') || new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}
