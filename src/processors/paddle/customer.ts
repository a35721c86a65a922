/**
 * The account's customer at Paddle, named after the account, its custom data naming its id.
 *
 * Paddle requires an email for a customer, and an account has none of its own. The processor's
 * customerEmail option gives one when the app knows it; otherwise the customer gets a placeholder
 * made from the account's id (placeholderEmail), which Paddle shows in its dashboard and prefills
 * at checkout, and which receives nothing. Paddle takes no idempotency key, but it keeps one
 * customer per email and refuses a second (409 customer_already_exists): a retry after a crash,
 * or a call made before, finds the customer already made for the same email, and uses it. So
 * two accounts given one known email (a person's own, and a team they pay for) share a Paddle
 * customer; each transaction still names its own account in its custom data.
 */
import { createHash } from 'node:crypto';
import { ApiError, type Paddle } from '@paddle/paddle-node-sdk';
import type { Account } from '../../engine/rows.ts';
import { ACCOUNT_KEY } from './custom-data.ts';

/** The app's own email for an account's customer, when it knows one. */
export type CustomerEmail = (account: Account) => string | undefined | Promise<string | undefined>;

/** Where placeholder emails live when the processor names no domain: reserved (RFC 2606), it receives no mail. */
export const PLACEHOLDER_EMAIL_DOMAIN = 'example.com';

/**
 * The email of an account whose own email is not known: the same for the same account each time
 * (so Paddle finds its customer again), and a valid address whatever the id holds (an id may be
 * 200 characters of anything; the part before @ takes 64 of a restricted set).
 */
export function placeholderEmail(accountId: string, domain = PLACEHOLDER_EMAIL_DOMAIN): string {
  return `account-${createHash('sha256').update(accountId, 'utf8').digest('hex').slice(0, 32)}@${domain}`;
}

export async function ensureCustomer(paddle: Paddle, account: Account, email: string): Promise<string> {
  try {
    const customer = await paddle.customers.create({ email, name: account.name, customData: { [ACCOUNT_KEY]: account.id } });
    return customer.id;
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'customer_already_exists')) throw error;
    const [existing] = await paddle.customers.list({ email: [email] }).next();
    if (!existing) throw error;
    return existing.id;
  }
}
