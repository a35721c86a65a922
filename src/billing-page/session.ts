/**
 * Who is looking at the billing page. A link (hono/routes/billing-sessions.ts) is opened once:
 * one UPDATE claims it, so two processes, or two clicks, cannot both open it. It becomes a
 * session named by a new random token in an HttpOnly cookie scoped to /billing, bound to the
 * link's one account, user and role; only the token's SHA-256 is stored. SameSite=Lax, not
 * Strict: the link arrives from the host app's site, and a Strict cookie would not come back
 * on the redirect that follows. Every POST carries the session's CSRF token instead.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Billing } from '../engine/billing.ts';
import type { Credentials } from '../hono/credentials.ts';
import { sha256, type BillingRole } from '../hono/routes/billing-sessions.ts';

const COOKIE = 'tollgate_billing';
/** A session lasts an hour; then the customer opens billing from the app again. */
export const SESSION_SECONDS = 3600;
const TOKEN = /^[\w-]{43}$/;

export interface BillingSession {
  id: string;
  accountId: string;
  userId: string | null;
  role: BillingRole;
  returnUrl: string;
  expiresAt: Date;
  tokenHash: Buffer;
}

/** Who may buy, change the plan and set auto-recharge: not a member. */
export const canAct = (session: BillingSession) => session.role !== 'member';

const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';

interface Row {
  id: string;
  account_id: string;
  user_id: string | null;
  role: BillingRole;
  return_url: string;
  expires_at: Date;
}
const COLUMNS = 'id::text, account_id, user_id, role, return_url, expires_at';

export class BillingSessions {
  constructor(
    private readonly billing: Billing,
    private readonly credentials: Pick<Credentials, 'sessionKey'>,
  ) {}

  /**
   * Open a link: claimed once and before it expires, it becomes this browser's session. When it
   * cannot be, a browser already holding the session this link opened (the back button) keeps it.
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
      const current = await this.read(c);
      const [same] = current ? await this.billing.sql.query('SELECT 1 FROM billing_sessions WHERE id = $1 AND link_sha256 = $2', [current.id, sha256(linkToken)]) : [];
      return same ? current : undefined;
    }
    setCookie(c, COOKIE, cookieToken, { path: '/billing', httpOnly: true, sameSite: 'Lax', secure: isHttps(c), maxAge: SESSION_SECONDS });
    return toSession(row, sha256(cookieToken));
  }

  /** The request's session, when its cookie names one that has not expired. */
  async read(c: Context): Promise<BillingSession | undefined> {
    const token = getCookie(c, COOKIE);
    if (!token || !TOKEN.test(token)) return undefined;
    const tokenHash = sha256(token);
    const [row] = await this.billing.sql.query<Row>(`SELECT ${COLUMNS} FROM billing_sessions WHERE cookie_sha256 = $1 AND expires_at > $2`, [tokenHash, this.billing.now()]);
    return row ? toSession(row, tokenHash) : undefined;
  }

  /** The token this session's forms carry. */
  csrfToken(session: BillingSession): string {
    return createHmac('sha256', this.credentials.sessionKey).update(`billing-csrf\u0000${session.tokenHash.toString('base64url')}`).digest('base64url');
  }

  checkCsrf(session: BillingSession, token: string | undefined): boolean {
    if (token === undefined) return false;
    const given = Buffer.from(token);
    const expected = Buffer.from(this.csrfToken(session));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

function toSession(row: Row, tokenHash: Buffer): BillingSession {
  return { id: row.id, accountId: row.account_id, userId: row.user_id, role: row.role, returnUrl: row.return_url, expiresAt: new Date(row.expires_at), tokenHash };
}
