/** The account's customer at Stripe: made once, under the key the engine gives, and named after the account. */
import type Stripe from 'stripe';
import type { Account } from '../../engine/rows.ts';
import { retriedAfresh } from './client.ts';
import { ACCOUNT_KEY } from './metadata.ts';

export async function createCustomer(stripe: Stripe, account: Account, idempotencyKey: string): Promise<string> {
  const customer = await retriedAfresh(idempotencyKey, (options) => stripe.customers.create({ name: account.name, metadata: { [ACCOUNT_KEY]: account.id } }, options));
  return customer.id;
}
