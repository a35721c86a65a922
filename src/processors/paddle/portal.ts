/**
 * Paddle's customer portal: a session for the account's customer, opened on its overview (with
 * the subscription's own links, to pay what is due and change the payment method, when there is
 * one). Paddle's portal takes no page to return to: its own links lead back to the app's.
 */
import type { Paddle } from '@paddle/paddle-node-sdk';

export async function portalSession(paddle: Paddle, request: { account: { id: string }; customerId?: string | undefined; subscriptionRef?: string | undefined }): Promise<{ url: string }> {
  if (!request.customerId) throw new Error(`Paddle portal for account "${request.account.id}" has no customer: the engine makes one first (ensureCustomer)`);
  const session = await paddle.customerPortalSessions.create(request.customerId, request.subscriptionRef ? [request.subscriptionRef] : []);
  return { url: session.urls.general.overview };
}
