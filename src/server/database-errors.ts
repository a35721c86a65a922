/**
 * The server's words for its database's troubles: an error that says the database cannot be
 * reached now (down, restarting, failing over, out of connections), rather than that a statement
 * is wrong, is a passing state, answered 503 and logged in a line, not a bug's 500 and stack
 * trace; a start that cannot open it says what to set; its URL shows no password.
 */
import { BillingError } from '../core/errors.ts';
import { databaseUnreachable } from '../db/unreachable.ts';

/** The answer while it lasts: worth a retry, as a 503 says. */
export const UNREACHABLE_BODY = { error: { type: 'api_error', code: 'database_unreachable', message: 'The database does not answer; retry in a moment' } } as const;

/**
 * `url` as it may be shown: all between the user name and the last @ starred, so that a password
 * holding an unencoded @ or # (which the URL parser would cut short) shows none of it either.
 */
export function shownUrl(url: string): string {
  return url.replace(/^([^:]+:\/\/[^:/@]*):.*@/, '$1:***@');
}

/**
 * Why a start could not open the database at `url`, saying what to set; undefined for an error
 * that is no matter of where the database is or who may use it.
 */
export function startProblem(error: unknown, url: string): string | undefined {
  // A PGlite directory another process holds: its message names that process and what to do.
  if (error instanceof BillingError && error.code === 'database_in_use') return error.message;
  const migration = (error as { migration?: unknown }).migration;
  if (typeof migration === 'string') {
    // 42P07, 42710: a table or another object of that name is there already, another app's.
    const taken = ['42P07', '42710'].includes((error as { code?: string }).code ?? '');
    return `${(error as Error).message} (no migration was applied)${taken ? ": the database holds another app's tables; give Tollgate a database of its own (createdb tollgate) and set DATABASE_URL to it" : ''}`;
  }
  if (!url.startsWith('postgres')) return undefined;
  const { host, username, pathname } = new URL(url);
  const where = `PostgreSQL at ${host || 'localhost'}`;
  const message = (error as Error).message;
  const code = (error as { code?: unknown }).code;
  if (code === '28P01' || code === '28000') return `${where} refused user "${decodeURIComponent(username)}" (${message}): set DATABASE_URL's user and password to a role that may connect`;
  if (code === '3D000') {
    const name = decodeURIComponent(pathname.slice(1));
    return `${where} has no database "${name}": create it (createdb ${name}), or set DATABASE_URL to one that exists`;
  }
  if (/does not support SSL/.test(message)) return `${where} does not take SSL connections: remove sslmode from DATABASE_URL, or set sslmode=disable`;
  if (databaseUnreachable(error)) return `${where} does not answer (${message}): start it, or set DATABASE_URL to where it runs`;
  return undefined;
}
