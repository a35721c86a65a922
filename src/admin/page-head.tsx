/**
 * What the server's own pages share, the panel's and the billing page's alike: the document head
 * (htmx without eval, no favicon request) and the note a form leaves in a cookie for the page it
 * redirects to. Each keeps its own frame, assets and what its note says.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Child } from 'hono/jsx';

/** The head of a page whose assets are under `assets`: its stylesheets, htmx, then its scripts. */
export function Head({ title, assets, styles, scripts = [], children }: { title: string; assets: string; styles: string[]; scripts?: string[]; children?: Child }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}' />
      {children}
      <title>{title}</title>
      <link rel="icon" href="data:," />
      {styles.map((href) => (
        <link rel="stylesheet" href={href} />
      ))}
      <script src={`${assets}/htmx.min.js`} defer></script>
      {scripts.map((src) => (
        <script src={src} defer></script>
      ))}
    </head>
  );
}

/** Where a note lives until the next page: its cookie, under the pages' path, for `maxAge` seconds; Secure as the pages' other cookies are. */
export interface NoteCookie {
  name: string;
  path: string;
  sameSite: 'Strict' | 'Lax';
  maxAge: number;
  secure?: boolean;
}

/** Leave `text` for the next page shown (after a redirect). */
export function leaveNote(c: Context, cookie: NoteCookie, text: string): void {
  setCookie(c, cookie.name, encodeURIComponent(text), { path: cookie.path, httpOnly: true, sameSite: cookie.sameSite, secure: cookie.secure, maxAge: cookie.maxAge });
}

/** The note left for this page, once: it is gone from the browser after. */
export function takeNote(c: Context, cookie: NoteCookie): string | undefined {
  const raw = getCookie(c, cookie.name);
  if (raw === undefined) return undefined;
  deleteCookie(c, cookie.name, { path: cookie.path, secure: cookie.secure });
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
