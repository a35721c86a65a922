/**
 * Stripe behind the engine's Processor interface, through the official SDK only (pinned to one
 * version, which fixes the API version). One file per concern, as pay does: the client and where
 * it talks to (client.ts), the account's customer (customer.ts), checkout for a plan or a pack
 * (checkout.ts), a subscription's end (subscription.ts), its plan change (plan-change.ts), the customer portal (portal.ts), the products and prices plans and packs
 * sell at (catalog.ts), an auto-recharge's off-session charge (recharge.ts), and the webhook,
 * one file per event the engine acts on (webhooks/).
 * Every object made at Stripe carries the account's id, or the plan's or pack's slug, in its
 * metadata (metadata.ts), and every call that makes one passes the call's idempotency key.
 */
import type { Processor } from '../../engine/processor.ts';
import { syncCatalog } from './catalog.ts';
import { purchaseCheckout, subscribeCheckout } from './checkout.ts';
import { keyConflictSaid, stripeClient, stripeOutage } from './client.ts';
import { reached } from '../outage.ts';
import { createCustomer } from './customer.ts';
import { cancelSubscription } from './subscription.ts';
import { refundPayment } from './refund.ts';
import { changePlan } from './plan-change.ts';
import { portalSession } from './portal.ts';
import { parseWebhook } from './webhooks/index.ts';
import { chargeSaved, chargeStatus } from './recharge.ts';

export interface StripeProcessorOptions {
  /** The secret API key (sk_…), or a restricted key (rk_…) that may write customers, Checkout Sessions, subscriptions, products, prices, PaymentIntents, refunds and customer portal sessions and read invoices and payment methods. */
  secretKey: string;
  /** The webhook endpoint's signing secret (whsec_…). */
  webhookSecret: string;
  /** STRIPE_API_BASE: a URL whose protocol, host and port stand in for Stripe's (a local fake). */
  apiBase?: string | undefined;
  /**
   * Where Checkout sends the customer once paid, and when they leave without paying, for a checkout
   * that names no page of its own. Stripe needs the first: a checkout with neither is invalid_input.
   */
  successUrl?: string | undefined;
  cancelUrl?: string | undefined;
}

export function stripeProcessor(options: StripeProcessorOptions): Processor {
  if (!options.secretKey?.trim()) throw new Error('The Stripe processor needs a secret key (STRIPE_SECRET_KEY)');
  if (!options.webhookSecret?.trim()) throw new Error('The Stripe processor needs its webhook signing secret (STRIPE_WEBHOOK_SECRET)');
  const stripe = stripeClient(options.secretKey, options.apiBase);
  const pages = { successUrl: options.successUrl, cancelUrl: options.cancelUrl };
  const ask = <T>(call: Promise<T>) => reached('Stripe', stripeOutage, keyConflictSaid(call));
  return {
    name: 'stripe',
    mode: /^(sk|rk)_live_/.test(options.secretKey) ? 'live mode' : 'test mode',
    ensureCustomer: (account, idempotencyKey) => ask(createCustomer(stripe, account, idempotencyKey)),
    subscribe: (request) => ask(subscribeCheckout(stripe, request, pages)),
    purchase: (request) => ask(purchaseCheckout(stripe, request, pages)),
    cancel: (request) => ask(cancelSubscription(stripe, request)),
    refund: (request) => ask(refundPayment(stripe, request)),
    changePlan: (request) => ask(changePlan(stripe, request)),
    portal: (request) => ask(portalSession(stripe, request)),
    chargeSaved: (request) => ask(chargeSaved(stripe, request)),
    chargeStatus: (paymentRef) => ask(chargeStatus(stripe, paymentRef)),
    parseWebhook: async (rawBody, headers) => parseWebhook(stripe, options.webhookSecret, rawBody, headers),
    syncCatalog: (items) => syncCatalog(stripe, items),
  };
}
