/**
 * The frame of every page: a top bar with the app's name, the account switcher (your own
 * account and each of your teams), the account's menu (Chat, Team, Billing) and Log out.
 */
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { Viewer } from '../auth/viewer.ts';

export function Page({ title, viewer, children }: { title: string; viewer?: Viewer | undefined; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title} · Tollchat</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/app.css" />
      </head>
      <body>
        <header class="bar">
          <a class="brand" href="/">Tollchat</a>
          {viewer && <Menu viewer={viewer} />}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}

function Menu({ viewer }: { viewer: Viewer }) {
  const { current } = viewer;
  return (
    <nav class="menu">
      <form method="post" action="/switch" class="switcher">
        <label>
          <span class="sr">Account</span>
          <select name="account" aria-label="Account" onchange="this.form.submit()">
            {viewer.accounts.map((a) => (
              <option value={a.id} selected={a.id === current.id}>
                {a.kind === 'personal' ? `${a.name} (personal)` : `${a.name} (team, ${a.role})`}
              </option>
            ))}
          </select>
        </label>
        <noscript><button type="submit">Switch</button></noscript>
      </form>
      <a href="/">Account</a>
      <a href="/chat">Chat</a>
      {current.kind === 'team' && <a href="/team">Team</a>}
      <a href="/teams/new">New team</a>
      <a href="/billing-link">Billing</a>
      <form method="post" action="/logout" class="inline">
        <button type="submit" class="link">Log out</button>
      </form>
    </nav>
  );
}

/** A page's answer with its frame. */
export const render = (c: Context, title: string, viewer: Viewer | undefined, body: Child, status: 200 | 400 | 403 | 404 | 500 = 200) =>
  c.html(<Page title={title} viewer={viewer}>{body}</Page>, status);

/** A form's error, said in plain words beside it. */
export const Problem = ({ message }: { message?: string | undefined }) => (message ? <p class="error" role="alert">{message}</p> : null);
