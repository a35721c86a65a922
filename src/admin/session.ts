/**
 * Who may use the panel: a session cookie signed with the server's session key (HttpOnly,
 * SameSite=Strict, scoped to /admin, Secure over HTTPS), a CSRF token per session that every
 * form and htmx request carries, a token for the login form itself (bound to a nonce cookie,
 * so no other site can log a browser in), and a limit on failed logins per client address.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, getSignedCookie, setCookie, setSignedCookie } from 'hono/cookie';
import type { CookieOptions } from 'hono/utils/cookie';

const SESSION_COOKIE = 'tollgate_admin';
const LOGIN_COOKIE = 'tollgate_login';
/** A session lasts a working day; then the admin logs in again. */
export const SESSION_SECONDS = 12 * 3600;

export interface Session {
  id: string;
  expiresAt: Date;
}

const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';

export class Sessions {
  readonly #cookieKey: Uint8Array<ArrayBuffer>;

  constructor(private readonly key: Buffer) {
    this.#cookieKey = new Uint8Array(key);
  }

  #mac(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\u0000${value}`).digest('base64url');
  }

  #equal(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }

  #options(c: Context, maxAge?: number): CookieOptions {
    return { path: '/admin', httpOnly: true, sameSite: 'Strict', secure: isHttps(c), ...(maxAge === undefined ? {} : { maxAge }) };
  }

  /** Start a session: the signed cookie names a random id and when it ends. */
  async start(c: Context): Promise<Session> {
    const session = { id: randomBytes(18).toString('base64url'), expiresAt: new Date(Date.now() + SESSION_SECONDS * 1000) };
    await setSignedCookie(c, SESSION_COOKIE, `${session.id}.${session.expiresAt.getTime()}`, this.#cookieKey, this.#options(c, SESSION_SECONDS));
    deleteCookie(c, LOGIN_COOKIE, this.#options(c));
    return session;
  }

  /** The request's session, when its cookie is signed with our key and has not run out. */
  async read(c: Context): Promise<Session | undefined> {
    const value = await getSignedCookie(c, this.#cookieKey, SESSION_COOKIE);
    if (!value) return undefined;
    const [id, expires] = value.split('.');
    const expiresAt = new Date(Number(expires));
    if (!id || Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now()) return undefined;
    return { id, expiresAt };
  }

  end(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, this.#options(c));
  }

  /** The token forms of this session carry. */
  csrfToken(session: Session): string {
    return this.#mac('csrf', session.id);
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

/**
 * Failed logins per client address: after `max` failures within `windowMs`, the address must
 * wait until the oldest of them leaves the window, whatever it sends. A success clears it.
 * Kept in this process's memory, so each server process counts its own.
 */
export class LoginLimiter {
  #failures = new Map<string, number[]>();

  constructor(
    readonly max = 5,
    readonly windowMs = 15 * 60_000,
  ) {}

  #recent(who: string, now: number): number[] {
    const recent = (this.#failures.get(who) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length) this.#failures.set(who, recent);
    else this.#failures.delete(who);
    return recent;
  }

  /** Seconds until `who` may try again; 0 when it may now. */
  retryAfter(who: string, now = Date.now()): number {
    const recent = this.#recent(who, now);
    return recent.length < this.max ? 0 : Math.ceil((recent[0]! + this.windowMs - now) / 1000);
  }

  fail(who: string, now = Date.now()): void {
    if (this.#failures.size >= 10_000 && !this.#failures.has(who)) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(who, [...this.#recent(who, now), now]);
  }

  succeed(who: string): void {
    this.#failures.delete(who);
  }
}

/** The address the request came from (the socket's: a forwarded header could be anyone's). */
export function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
