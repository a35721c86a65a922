/**
 * Paddle Billing behind the engine's Processor interface, through the official SDK
 * (@paddle/paddle-node-sdk, pinned to one version) for every call to Paddle. The same files as
 * Stripe's: the client and where it talks to (client.ts), the account's customer (customer.ts),
 * checkout for a plan or a pack (checkout.ts), a subscription's end (subscription.ts), its plan
 * change (plan-change.ts), the customer portal (portal.ts), the
 * products and prices plans and packs sell at (catalog.ts), an auto-recharge's one-time charge on
 * the subscription (recharge.ts), and the webhook, verified by our own
 * code, one file per event the engine acts on (webhooks/). Every object made at Paddle carries
 * the account's id, or the plan's or pack's slug, in its custom data (custom-data.ts).
 */
import type { Processor } from '../../engine/processor.ts';
import { syncCatalog } from './catalog.ts';
import { purchaseCheckout, subscribeCheckout } from './checkout.ts';
import { paddleClient, paddleOutage } from './client.ts';
import { reached } from '../outage.ts';
import { ensureCustomer, placeholderEmail, type CustomerEmail } from './customer.ts';
import { cancelSubscription } from './subscription.ts';
import { refundPayment } from './refund.ts';
import { changePlan } from './plan-change.ts';
import { portalSession } from './portal.ts';
import { parseWebhook } from './webhooks/index.ts';
import { chargeSaved, chargeStatus } from './recharge.ts';
import { DEFAULT_TOLERANCE_SECONDS } from './webhooks/signature.ts';

export interface PaddleProcessorOptions {
  /** PADDLE_API_KEY: an API key that may write customers, transactions, subscriptions, products and prices. */
  apiKey: string;
  /** PADDLE_WEBHOOK_SECRET: the notification destination's secret key, which signs its webhooks. */
  webhookSecret: string;
  /** PADDLE_API_BASE: a URL that stands in for Paddle's API (a local fake); it wins over environment. */
  apiBase?: string | undefined;
  /** PADDLE_ENVIRONMENT: Paddle's sandbox or production (the default). */
  environment?: string | undefined;
  /** How far from now a webhook's signature timestamp may be, in seconds (300 by default). */
  webhookToleranceSeconds?: number | undefined;
  /**
   * The page Paddle's checkout URL opens, with Paddle.js on it (a URL on a domain approved in
   * Paddle); without one, the default payment link set in Paddle's dashboard.
   */
  checkoutUrl?: string | undefined;
  /** The email of an account's customer, when the app knows it; else a placeholder (placeholderEmailDomain). */
  customerEmail?: CustomerEmail | undefined;
  /** The domain of placeholder emails (example.com by default): one of the app's own, if Paddle should show it. */
  placeholderEmailDomain?: string | undefined;
}

export function paddleProcessor(options: PaddleProcessorOptions): Processor {
  if (!options.apiKey?.trim()) throw new Error('The Paddle processor needs an API key (PADDLE_API_KEY)');
  if (!options.webhookSecret?.trim()) throw new Error("The Paddle processor needs its notification destination's secret key (PADDLE_WEBHOOK_SECRET)");
  const toleranceSeconds = options.webhookToleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) throw new Error(`The Paddle webhook tolerance must be a number of seconds, 0 or more, not ${toleranceSeconds}`);
  if (options.checkoutUrl !== undefined && !/^https?:\/\/\S+$/.test(options.checkoutUrl)) throw new Error(`The Paddle checkout URL must be an http or https URL, not "${options.checkoutUrl}"`);
  const paddle = paddleClient(options.apiKey, { apiBase: options.apiBase, environment: options.environment });
  const webhook = { secret: options.webhookSecret, toleranceSeconds };
  const ask = <T>(call: Promise<T>) => reached('Paddle', paddleOutage, call);
  return {
    name: 'paddle',
    mode: options.apiBase !== undefined ? `API at ${options.apiBase}` : options.environment === 'sandbox' ? 'sandbox' : 'production',
    ensureCustomer: async (account) => ask(ensureCustomer(paddle, account, (await options.customerEmail?.(account)) ?? placeholderEmail(account.id, options.placeholderEmailDomain))),
    subscribe: (request) => ask(subscribeCheckout(paddle, request, options.checkoutUrl)),
    purchase: (request) => ask(purchaseCheckout(paddle, request, options.checkoutUrl)),
    cancel: (request) => ask(cancelSubscription(paddle, request)),
    refund: (request) => ask(refundPayment(paddle, request)),
    changePlan: (request) => ask(changePlan(paddle, request)),
    portal: (request) => ask(portalSession(paddle, request)),
    chargeSaved: (request) => ask(chargeSaved(paddle, request)),
    chargeStatus: (paymentRef) => ask(chargeStatus(paddle, paymentRef)),
    parseWebhook: async (rawBody, headers) => parseWebhook(webhook, rawBody, headers),
    syncCatalog: (items) => syncCatalog(paddle, items),
  };
}
