/**
 * Who may use the panel. A session is a row of `admin_sessions` named by a random token in a
 * cookie (HttpOnly, SameSite=Strict, scoped to /admin, Secure over HTTPS); only the token's
 * SHA-256 is stored, so every process knows every session, logout ends it everywhere, and a
 * new admin password ends them all. Each session has a CSRF token that every form and htmx
 * request carries; the login form has one of its own (bound to a nonce cookie, so no other site
 * can log a browser in). Failed logins are counted per client address in the database, for the
 * whole deployment, before any password is hashed; and a process hashes few at once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { CookieOptions } from 'hono/utils/cookie';
import type { Sql } from '../db/sql.ts';
import type { Credentials } from '../hono/credentials.ts';
import { secureCookies } from '../hono/secure-cookies.ts';

const SESSION_COOKIE = 'tollgate_admin';
const LOGIN_COOKIE = 'tollgate_login';
/** A session lasts a working day; then the admin logs in again. */
export const SESSION_SECONDS = 12 * 3600;
/** A session's last use is written when the one stored is older than this, not on every request. */
const TOUCH_SECONDS = 60;
const TOKEN = /^[\w-]{43}$/;

export interface Session {
  /** The row's id: not secret, it names the session on the sessions page. */
  id: string;
  tokenHash: Buffer;
}

/** A session as the sessions page lists it. */
export interface SessionRow {
  id: string;
  createdAt: Date;
  createdAddress: string;
  userAgent: string;
  lastUsedAt: Date;
  lastAddress: string;
  expiresAt: Date;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The address the request came from (the socket's: a forwarded header could be anyone's). */
export function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/**
 * The address failed logins are counted under: an IPv4 address as it is (written IPv4-mapped
 * too), an IPv6 address by its /64, the least a single client is usually given.
 */
export function attemptKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.toLowerCase().split('::');
  const first = head ? head.split(':') : [];
  const last = tail ? tail.split(':') : [];
  const groups = [...first, ...Array(tail === undefined ? 0 : Math.max(0, 8 - first.length - last.length)).fill('0'), ...last];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** The SQL condition a session still counts by: not expired, and opened under the admin password's stored hash. */
const VALID = (secretParam: string) => `expires_at > now() AND password_fingerprint = (SELECT sha256(value) FROM secrets WHERE name = ${secretParam})`;

export class Sessions {
  constructor(
    private readonly sql: Sql,
    private readonly credentials: Pick<Credentials, 'sessionKey' | 'adminPasswordSecret'>,
    /** The public address (PUBLIC_URL), when set: https makes the cookies Secure (`secureCookies`). */
    private readonly publicUrl?: string,
  ) {}

  #mac(purpose: string, value: string): string {
    return createHmac('sha256', this.credentials.sessionKey).update(`${purpose}\u0000${value}`).digest('base64url');
  }

  #equal(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }

  #options(c: Context, maxAge?: number): CookieOptions {
    return { path: '/admin', httpOnly: true, sameSite: 'Strict', secure: secureCookies(c, this.publicUrl), ...(maxAge === undefined ? {} : { maxAge }) };
  }

  /**
   * Start a session bound to `fingerprint` (the password hash the login matched): a row, and a
   * cookie naming its token. Sessions that expired or belong to an older password go first.
   */
  async start(c: Context, fingerprint: Buffer): Promise<void> {
    await this.sql.query(`DELETE FROM admin_sessions WHERE NOT (${VALID('$1')})`, [this.credentials.adminPasswordSecret]);
    const token = randomBytes(32).toString('base64url');
    const address = clientAddress(c);
    await this.sql.query(
      `INSERT INTO admin_sessions (token_sha256, password_fingerprint, expires_at, created_address, user_agent, last_address)
       VALUES ($1, $2, now() + $3::int * interval '1 second', $4, $5, $4)`,
      [sha256(token), fingerprint, SESSION_SECONDS, address, (c.req.header('User-Agent') ?? '').slice(0, 512)],
    );
    setCookie(c, SESSION_COOKIE, token, this.#options(c, SESSION_SECONDS));
    deleteCookie(c, LOGIN_COOKIE, this.#options(c));
  }

  /** The request's session, when its cookie names one that still counts; its last use is written at most once a minute. */
  async read(c: Context): Promise<Session | undefined> {
    const token = getCookie(c, SESSION_COOKIE);
    if (!token || !TOKEN.test(token)) return undefined;
    const tokenHash = sha256(token);
    const [row] = await this.sql.query<{ id: string; stale: boolean }>(
      `SELECT id::text, last_used_at < now() - $3::int * interval '1 second' AS stale FROM admin_sessions WHERE token_sha256 = $1 AND ${VALID('$2')}`,
      [tokenHash, this.credentials.adminPasswordSecret, TOUCH_SECONDS],
    );
    if (!row) return undefined;
    if (row.stale) await this.sql.query('UPDATE admin_sessions SET last_used_at = now(), last_address = $2 WHERE id = $1', [row.id, clientAddress(c)]);
    return { id: row.id, tokenHash };
  }

  /** Log out: the session's row goes, so a copy of its cookie opens nothing; the browser's cookie goes too. */
  async end(c: Context, session: Session | undefined): Promise<void> {
    if (session) await this.sql.query('DELETE FROM admin_sessions WHERE id = $1', [session.id]);
    deleteCookie(c, SESSION_COOKIE, this.#options(c));
  }

  /** The sessions that count, the most recently used first. */
  async list(): Promise<SessionRow[]> {
    const rows = await this.sql.query<{ id: string; created_at: Date; created_address: string; user_agent: string; last_used_at: Date; last_address: string; expires_at: Date }>(
      `SELECT id::text, created_at, created_address, user_agent, last_used_at, last_address, expires_at FROM admin_sessions WHERE ${VALID('$1')} ORDER BY last_used_at DESC, id DESC`,
      [this.credentials.adminPasswordSecret],
    );
    return rows.map((r) => ({
      id: r.id, createdAt: new Date(r.created_at), createdAddress: r.created_address, userAgent: r.user_agent,
      lastUsedAt: new Date(r.last_used_at), lastAddress: r.last_address, expiresAt: new Date(r.expires_at),
    }));
  }

  /** End another session (never `current`: that is a logout); whether there was one. */
  async endOther(current: Session, id: string): Promise<boolean> {
    if (!/^\d{1,18}$/.test(id)) return false;
    return (await this.sql.query('DELETE FROM admin_sessions WHERE id = $1 AND id <> $2 RETURNING id', [id, current.id])).length > 0;
  }

  /** End every session but `current`; how many. */
  async endOthers(current: Session): Promise<number> {
    return (await this.sql.query('DELETE FROM admin_sessions WHERE id <> $1 RETURNING id', [current.id])).length;
  }

  /** The token forms of this session carry. */
  csrfToken(session: Session): string {
    return this.#mac('csrf', session.tokenHash.toString('base64url'));
  }

  checkCsrf(session: Session, token: string | undefined): boolean {
    return token !== undefined && this.#equal(token, this.csrfToken(session));
  }

  /** The login form's token: bound to a nonce cookie set here, so a form posted from elsewhere has none. */
  loginToken(c: Context): string {
    let nonce = getCookie(c, LOGIN_COOKIE);
    if (!nonce || !/^[\w-]{16,64}$/.test(nonce)) {
      nonce = randomBytes(18).toString('base64url');
      setCookie(c, LOGIN_COOKIE, nonce, this.#options(c, 3600));
    }
    return this.#mac('login', nonce);
  }

  checkLoginToken(c: Context, token: string | undefined): boolean {
    const nonce = getCookie(c, LOGIN_COOKIE);
    return nonce !== undefined && token !== undefined && this.#equal(token, this.#mac('login', nonce));
  }
}

/** What came of a login attempt: checked (the check's value, or undefined for a wrong password), or refused unchecked. */
export type Attempt<T> = { outcome: 'checked'; value: T | undefined } | { outcome: 'limited' | 'busy'; retryAfter: number };

/**
 * Failed logins per client address, for every process of the deployment: an attempt is counted
 * in `admin_login_attempts` in one atomic statement before its password is hashed, so no number
 * of concurrent attempts gets more than `max` checked in `windowMs`; the rest are refused
 * unchecked until the window, which starts at its first attempt, has passed. A success clears
 * the address's count. Apart from that, this process hashes at most `hashesInFlight`
 * passwords at once and refuses the attempts beyond them at once (they are not counted): a
 * flood of logins from many addresses cannot take libuv's thread pool, nor the CPU the API
 * needs, for itself. One by default: a hash takes tens of milliseconds, an admin logs in
 * rarely, and with two a process on a small machine gave the hashes the cores but no more
 * logins a second (docs/design.md, "Admin sessions and the login limit").
 */
export class LoginLimiter {
  #inFlight = 0;
  #sweptAt = 0;

  constructor(
    private readonly sql: Sql,
    readonly max = 5,
    readonly windowMs = 15 * 60_000,
    readonly hashesInFlight = 1,
  ) {}

  async attempt<T>(address: string, check: () => Promise<T | undefined>): Promise<Attempt<T>> {
    if (this.#inFlight >= this.hashesInFlight) return { outcome: 'busy', retryAfter: 1 };
    const key = attemptKey(address);
    const [counted] = await this.sql.query<{ attempts: number; window_start: string; retry_after: number }>(
      `INSERT INTO admin_login_attempts AS a (address, window_start, attempts) VALUES ($1, now(), 1)
       ON CONFLICT (address) DO UPDATE SET
         window_start = CASE WHEN a.window_start <= now() - $2::int * interval '1 millisecond' THEN now() ELSE a.window_start END,
         attempts = CASE WHEN a.window_start <= now() - $2::int * interval '1 millisecond' THEN 1 ELSE least(a.attempts + 1, $3::int) END
       RETURNING attempts, window_start::text, ceil(extract(epoch FROM window_start + $2::int * interval '1 millisecond' - now()))::int AS retry_after`,
      [key, this.windowMs, this.max + 1],
    );
    if (counted!.attempts > this.max) return { outcome: 'limited', retryAfter: Math.max(1, counted!.retry_after) };
    if (this.#inFlight >= this.hashesInFlight) {
      // Taken while the count was written: this attempt is not checked, so it is not counted.
      await this.sql.query('UPDATE admin_login_attempts SET attempts = attempts - 1 WHERE address = $1 AND window_start = $2::timestamptz AND attempts > 0', [key, counted!.window_start]);
      return { outcome: 'busy', retryAfter: 1 };
    }
    this.#inFlight++;
    let value: T | undefined;
    try {
      value = await check();
    } finally {
      this.#inFlight--;
    }
    if (value !== undefined) await this.sql.query('DELETE FROM admin_login_attempts WHERE address = $1', [key]);
    await this.#sweep();
    return { outcome: 'checked', value };
  }

  /** Forget the windows that have passed, at most once a minute in a process. */
  async #sweep(): Promise<void> {
    if (Date.now() - this.#sweptAt < 60_000) return;
    this.#sweptAt = Date.now();
    await this.sql.query("DELETE FROM admin_login_attempts WHERE window_start <= now() - $1::int * interval '1 millisecond'", [this.windowMs]);
  }
}
