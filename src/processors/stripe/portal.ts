/** Stripe's customer portal: a session for the account's customer, which sends them back to returnUrl. */
import type Stripe from 'stripe';

export async function portalSession(stripe: Stripe, request: { account: { id: string }; customerId?: string | undefined; returnUrl: string }): Promise<{ url: string }> {
  if (!request.customerId) throw new Error(`Stripe portal for account "${request.account.id}" has no customer: the engine makes one first (ensureCustomer)`);
  const session = await stripe.billingPortal.sessions.create({ customer: request.customerId, return_url: request.returnUrl });
  return { url: session.url };
}
