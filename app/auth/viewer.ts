/**
 * Who is looking, on every page: the logged-in user, the accounts they may bill to (their own,
 * and each team they belong to, with their role there), and the one they are working in now
 * (the account switcher's choice, kept in a cookie and checked against their teams on every
 * request). Each of them is a Tollgate account: `user_<id>` or `team_<id>`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Role } from '../tollgate/tollgate.ts';
import type { Auth } from './auth.ts';

export interface ViewerAccount {
  /** The Tollgate account's id. */
  id: string;
  kind: 'personal' | 'team';
  name: string;
  /** The viewer's role there: a personal account's user is its owner. */
  role: Role;
  /** The better-auth team behind a team account. */
  teamId?: string;
}

export interface Viewer {
  user: { id: string; name: string; email: string };
  accounts: ViewerAccount[];
  /** The account the viewer works in now: the chat charges it, Billing opens it. */
  current: ViewerAccount;
  /** The request's headers, for better-auth calls made on the viewer's behalf. */
  headers: Headers;
}

export type AppEnv = { Variables: { viewer: Viewer | undefined } };

export const personalAccountId = (userId: string) => `user_${userId}`;
export const teamAccountId = (teamId: string) => `team_${teamId}`;

const ACCOUNT_COOKIE = 'app_account';

/** The viewer, from a context typed by routes that know nothing of the app's (the chat's). */
export const viewerOf = (c: Context): Viewer | undefined => c.get('viewer');

/** Remembers the account the viewer switched to. */
export function switchAccount(c: Context, accountId: string): void {
  setCookie(c, ACCOUNT_COOKIE, accountId, { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: 365 * 24 * 3600 });
}

/** Reads the session (if any) and the viewer's accounts; sets `viewer`, or leaves it undefined. */
export function loadViewer(auth: Auth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const headers = c.req.raw.headers;
    const session = await auth.api.getSession({ headers });
    if (!session) {
      c.set('viewer', undefined);
      return next();
    }
    const { user } = session;
    const teams = await auth.api.listOrganizations({ headers });
    const roles = await Promise.all(
      teams.map(async (team) => (await auth.api.getActiveMemberRole({ query: { organizationId: team.id }, headers })).role as Role),
    );
    const accounts: ViewerAccount[] = [
      { id: personalAccountId(user.id), kind: 'personal', name: user.name, role: 'owner' },
      ...teams.map((team, i): ViewerAccount => ({ id: teamAccountId(team.id), kind: 'team', name: team.name, role: roles[i]!, teamId: team.id })),
    ];
    const chosen = getCookie(c, ACCOUNT_COOKIE);
    const current = accounts.find((a) => a.id === chosen) ?? accounts[0]!;
    c.set('viewer', { user: { id: user.id, name: user.name, email: user.email }, accounts, current, headers });
    return next();
  };
}
