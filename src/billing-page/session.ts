/**
 * Who is looking at the billing page. A link (hono/routes/billing-sessions.ts) is opened once:
 * one UPDATE claims it, so two processes, or two clicks, cannot both open it. It becomes a
 * session named by a new random token in an HttpOnly cookie scoped to /billing, bound to the
 * link's one account, user and role; only the token's SHA-256 is stored. SameSite=Lax, not
 * Strict: the link arrives from the host app's site, and a Strict cookie would not come back
 * on the redirect that follows. Every POST carries the session's CSRF token instead.
 *
 * One browser may hold several sessions (billing for a person's own account in one tab, their
 * team's in another): each has a cookie of its own, named by the session's name (part of its
 * token's digest, which names it without opening it). A page's address carries that name
 * (`?s=`), and a form its CSRF token, so every tab stays on its own account whatever was opened
 * after it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Billing } from '../engine/billing.ts';
import type { Credentials } from '../hono/credentials.ts';
import { secureCookies } from '../hono/secure-cookies.ts';
import { sha256, type BillingRole } from '../hono/routes/billing-sessions.ts';

const COOKIE_PREFIX = 'tollgate_billing_';
/** A session's note for the next page it shows (layout.tsx flash). */
export const NOTE_PREFIX = 'tollgate_billing_note_';
const SESSION_COOKIE = /^tollgate_billing_([\w-]{16})$/;
/** A session lasts an hour; then the customer opens billing from the app again. */
export const SESSION_SECONDS = 3600;
const TOKEN = /^[\w-]{43}$/;
/** A browser keeps at most this many sessions (each lives an hour): opening one more forgets the oldest, so cookies never pile up past what a request header may carry. */
const MOST_SESSIONS = 20;

export interface BillingSession {
  id: string;
  /** What the page's addresses and its cookie call it; not a secret. */
  name: string;
  accountId: string;
  userId: string | null;
  role: BillingRole;
  returnUrl: string;
  expiresAt: Date;
  tokenHash: Buffer;
}

/** Who may buy, change the plan and set auto-recharge: not a member. */
export const canAct = (session: BillingSession) => session.role !== 'member';

/** A session's name: the first 96 bits of its token's digest. */
const nameOf = (tokenHash: Buffer) => tokenHash.toString('base64url').slice(0, 16);

/** The billing page's address `path` (after /billing) for this session, with `params`. */
export function pageUrl(session: Pick<BillingSession, 'name'>, path = '', params: Record<string, string> = {}): string {
  return `/billing${path}?${new URLSearchParams({ s: session.name, ...params }).toString()}`;
}

interface Row {
  id: string;
  account_id: string;
  user_id: string | null;
  role: BillingRole;
  return_url: string;
  expires_at: Date;
  cookie_sha256: Buffer;
}
const COLUMNS = 'id::text, account_id, user_id, role, return_url, expires_at, cookie_sha256';

/** Which of the browser's sessions a request is for: the one the page names, the one whose CSRF token a form carries, else the newest. */
export interface Which {
  name?: string;
  csrf?: string;
}

export class BillingSessions {
  constructor(
    private readonly billing: Billing,
    private readonly credentials: Pick<Credentials, 'sessionKey'>,
    /** The public address's scheme, when set: https makes the cookie Secure whatever the request says. */
    private readonly publicUrl?: string,
  ) {}

  /**
   * Open a link: claimed once and before it expires, it becomes a session of this browser, beside
   * any it has. When it cannot be, a browser already holding the session this link opened (the
   * back button) keeps it.
   */
  async open(c: Context, linkToken: string): Promise<BillingSession | undefined> {
    if (!TOKEN.test(linkToken)) return undefined;
    const now = this.billing.now();
    const cookieToken = randomBytes(32).toString('base64url');
    await this.billing.sql.query('DELETE FROM billing_sessions WHERE expires_at <= $1', [now]);
    const [row] = await this.billing.sql.query<Row>(
      `UPDATE billing_sessions SET opened_at = $3, cookie_sha256 = $2, expires_at = $3::timestamptz + $4::int * interval '1 second'
       WHERE link_sha256 = $1 AND opened_at IS NULL AND expires_at > $3 RETURNING ${COLUMNS}`,
      [sha256(linkToken), sha256(cookieToken), now, SESSION_SECONDS],
    );
    if (!row) {
      const [opened] = await this.billing.sql.query<{ cookie_sha256: Buffer }>('SELECT cookie_sha256 FROM billing_sessions WHERE link_sha256 = $1 AND cookie_sha256 IS NOT NULL', [sha256(linkToken)]);
      if (!opened) return undefined;
      const current = await this.read(c, { name: nameOf(Buffer.from(opened.cookie_sha256)) });
      return current?.tokenHash.equals(Buffer.from(opened.cookie_sha256)) ? current : undefined;
    }
    const session = toSession(row);
    await this.#forgetOld(c);
    setCookie(c, COOKIE_PREFIX + session.name, cookieToken, { path: '/billing', httpOnly: true, sameSite: 'Lax', secure: secureCookies(c, this.publicUrl), maxAge: SESSION_SECONDS });
    return session;
  }

  /** The request's session (`which` of the browser's), when its cookie names one that has not expired. */
  async read(c: Context, which: Which = {}): Promise<BillingSession | undefined> {
    const held = this.#held(c).filter(({ name, hash }) => (which.name === undefined || name === which.name) && (which.csrf === undefined || this.#matches(hash, which.csrf)));
    const [row] = await this.#live(held.map((h) => h.hash), 1);
    return row ? toSession(row) : undefined;
  }

  /** The sessions this browser's cookies name: each cookie where its name says (a token's digest begins with its name). */
  #held(c: Context): { name: string; hash: Buffer }[] {
    const held = [];
    for (const [cookie, token] of Object.entries(getCookie(c))) {
      const name = SESSION_COOKIE.exec(cookie)?.[1];
      if (!name || !TOKEN.test(token)) continue;
      const hash = sha256(token);
      if (nameOf(hash) === name) held.push({ name, hash });
      if (held.length === MOST_SESSIONS) break;
    }
    return held;
  }

  /** Of these token digests, the sessions not expired, newest first. */
  async #live(hashes: Buffer[], limit: number): Promise<Row[]> {
    if (hashes.length === 0) return [];
    return this.billing.sql.query<Row>(
      `SELECT ${COLUMNS} FROM billing_sessions WHERE cookie_sha256 IN (${hashes.map((_, i) => `$${i + 3}`).join(', ')}) AND expires_at > $1
       ORDER BY opened_at DESC, billing_sessions.id DESC LIMIT $2`,
      [this.billing.now(), limit, ...hashes],
    );
  }

  /** Before a session is added: the browser forgets the cookies of its sessions that ended, and of its oldest past what it keeps. */
  async #forgetOld(c: Context): Promise<void> {
    const held = this.#held(c);
    const kept = new Set((await this.#live(held.map((h) => h.hash), MOST_SESSIONS - 1)).map((row) => nameOf(Buffer.from(row.cookie_sha256))));
    for (const { name } of held) {
      if (!kept.has(name)) {
        deleteCookie(c, COOKIE_PREFIX + name, { path: '/billing' });
        if (getCookie(c, NOTE_PREFIX + name) !== undefined) deleteCookie(c, NOTE_PREFIX + name, { path: '/billing' });
      }
    }
  }

  /** The token this session's forms carry. */
  csrfToken(session: Pick<BillingSession, 'tokenHash'>): string {
    return createHmac('sha256', this.credentials.sessionKey).update(`billing-csrf\u0000${session.tokenHash.toString('base64url')}`).digest('base64url');
  }

  #matches(tokenHash: Buffer, token: string): boolean {
    const given = Buffer.from(token);
    const expected = Buffer.from(this.csrfToken({ tokenHash }));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

function toSession(row: Row): BillingSession {
  const tokenHash = Buffer.from(row.cookie_sha256);
  return {
    id: row.id, name: nameOf(tokenHash), accountId: row.account_id, userId: row.user_id, role: row.role, returnUrl: row.return_url,
    expiresAt: new Date(row.expires_at), tokenHash,
  };
}
