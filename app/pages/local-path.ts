/**
 * A path on this app from a value a browser sent (`next` after logging in, `back` from billing),
 * or "/": a browser reads `/\evil.example` or `/<tab>/evil.example` as another site's address,
 * which a check of the first characters lets through, so the value is parsed as a browser does.
 */
const HERE = 'http://app.invalid';

export function localPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) return '/';
  const url = new URL(value, HERE);
  return url.origin === HERE ? `${url.pathname}${url.search}${url.hash}` : '/';
}
